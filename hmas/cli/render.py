"""All terminal output: Rich tables and progress on a terminal, plain text or JSON otherwise.

The only module of hmas that imports Rich (enforced by ruff's banned-api rule).
"""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

if TYPE_CHECKING:
    import pandas as pd

    from hmas.data.fetch import FetchResult
    from hmas.data.gaps import Gap
    from hmas.store.candles import SeriesInfo

SAMPLE_NOTE = "SAMPLE DATA: synthetic offline market, not real prices"


def out() -> Console:
    """Console on stdout."""
    return Console(soft_wrap=True, highlight=False)


def err() -> Console:
    """Console on stderr, for progress, notes and logs."""
    return Console(stderr=True, highlight=False)


def print_json(data: Any) -> None:
    """Print ``data`` as JSON on stdout and nothing else."""
    sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")
    sys.stdout.flush()


def note(message: str) -> None:
    """A one-line note on stderr."""
    err().print(message, markup=False)


def _fmt_price(value: float) -> str:
    if math.isnan(value):
        return "nan"
    if abs(value) >= 100:
        return f"{value:,.2f}"
    if abs(value) >= 1:
        return f"{value:,.4f}"
    return f"{value:.8f}"


def _short(ms: int | None) -> str | None:
    from hmas.data.market import ms_to_datetime

    return None if ms is None else ms_to_datetime(ms).strftime("%Y-%m-%d %H:%M")


# --- fetch -------------------------------------------------------------------------------


@contextmanager
def fetch_progress(enabled: bool) -> Iterator[Any]:
    """A Rich progress bar per symbol on a terminal (stderr); a no-op callback otherwise."""
    console = err()
    if not enabled or not console.is_terminal:
        yield None
        return
    tasks: dict[str, TaskID] = {}
    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    ) as progress:

        def update(symbol: str, done: int, total: int | None) -> None:
            if symbol not in tasks:
                tasks[symbol] = progress.add_task(symbol, total=total)
            progress.update(tasks[symbol], completed=done, total=max(total or 0, done))

        yield update


def fetch_summary(results: list[FetchResult]) -> None:
    """The end-of-fetch table: candles added, first/last timestamp, gaps found."""
    table = Table(title="Fetched candles")
    for col in ("symbol", "exchange", "tf", "source", "received", "added", "first", "last", "gaps"):
        table.add_column(col, justify="right" if col in ("received", "added", "gaps") else "left")
    for r in results:
        d = r.as_dict()
        gaps = f"{d['gaps']} ({d['missing_candles']} missing)" if d["gaps"] else "0"
        table.add_row(
            r.symbol,
            r.exchange,
            r.timeframe,
            "SAMPLE" if r.sample else r.source,
            str(r.received),
            str(r.added),
            _short(r.first_ts) or "-",
            _short(r.last_ts) or ("up to date" if r.up_to_date else "-"),
            gaps,
        )
    console = out()
    console.print(table)
    if any(r.sample for r in results):
        console.print(f"[yellow]{SAMPLE_NOTE}[/yellow]")


# --- candles -----------------------------------------------------------------------------


def candles_table(frame: pd.DataFrame, info: SeriesInfo) -> None:
    """The stored candles of one series."""
    import pandas as pd

    sample = info.source == "sample"
    title = f"{info.symbol} {info.timeframe} on {info.exchange}: {info.count} stored"
    table = Table(title=title + (" (SAMPLE DATA)" if sample else ""))
    for col in ("ts (UTC)", "open", "high", "low", "close", "volume"):
        table.add_column(col, justify="left" if col.startswith("ts") else "right")
    stamps = pd.DatetimeIndex(frame.index).strftime("%Y-%m-%d %H:%M")
    for ts, (o, h, low, c, v) in zip(stamps, frame.to_numpy().tolist(), strict=True):
        table.add_row(ts, *(_fmt_price(float(x)) for x in (o, h, low, c)), f"{float(v):,.4f}")
    console = out()
    console.print(table)
    if sample:
        console.print(f"[yellow]{SAMPLE_NOTE}[/yellow]")


def gaps_table(gaps: list[Gap], info: SeriesInfo) -> None:
    """The gaps of one series."""
    console = out()
    if not gaps:
        console.print(f"No gaps in {info.symbol} {info.timeframe} on {info.exchange}.")
        return
    table = Table(title=f"Gaps in {info.symbol} {info.timeframe} on {info.exchange}")
    table.add_column("first missing (UTC)")
    table.add_column("last missing (UTC)")
    table.add_column("missing", justify="right")
    for g in gaps:
        d = g.as_dict()
        table.add_row(str(d["first_missing"]), str(d["last_missing"]), str(d["missing"]))
    console.print(table)
    console.print(f"{len(gaps)} gap(s), {sum(g.missing for g in gaps)} missing candle(s).")


def series_table(series: list[SeriesInfo]) -> None:
    """Every stored series."""
    from hmas.data.market import ms_to_datetime

    table = Table(title="Stored series")
    for col in ("symbol", "exchange", "tf", "source", "candles", "first", "last"):
        table.add_column(col, justify="right" if col == "candles" else "left")
    for s in series:
        table.add_row(
            s.symbol,
            s.exchange,
            s.timeframe,
            "SAMPLE" if s.source == "sample" else s.source,
            str(s.count),
            ms_to_datetime(s.first_ts).strftime("%Y-%m-%d %H:%M"),
            ms_to_datetime(s.last_ts).strftime("%Y-%m-%d %H:%M"),
        )
    out().print(table)


# --- config and db -----------------------------------------------------------------------


def config_table(data: dict[str, Any], source: str | None) -> None:
    """Settings as a two-column table (secrets already masked)."""
    table = Table(title="hmas configuration" + (f" (file: {source})" if source else ""))
    table.add_column("setting")
    table.add_column("value")

    def walk(prefix: str, value: Any) -> None:
        if isinstance(value, dict):
            for k, v in value.items():
                walk(f"{prefix}.{k}" if prefix else k, v)
        else:
            table.add_row(prefix, "" if value is None else str(value))

    walk("", data)
    out().print(table)


def key_values(title: str, data: dict[str, Any]) -> None:
    """A small key/value table."""
    table = Table(title=title, show_header=False)
    table.add_column("key", style="bold")
    table.add_column("value")
    for k, v in data.items():
        table.add_row(k, "" if v is None else str(v))
    out().print(table)


# --- analyses and signals ------------------------------------------------------------------


def _when(ms: int | None) -> str:
    from hmas.data.market import ms_to_datetime

    return "-" if ms is None else ms_to_datetime(ms).strftime("%Y-%m-%d %H:%M")


def _num(value: Any, digits: int = 2) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return _fmt_price(value) if digits == -1 else f"{value:.{digits}f}"
    return str(value)


def analysis_json(analysis: Any, created: bool) -> dict[str, Any]:
    """An analysis as JSON."""
    from hmas.data.market import ms_to_datetime

    return {
        "id": analysis.id,
        "created": created,
        "symbol": analysis.symbol,
        "exchange": analysis.exchange,
        "timeframe": analysis.timeframe,
        "bar_ts": ms_to_datetime(analysis.bar_ts).isoformat(),
        "engine": analysis.engine,
        "config_hash": analysis.config_hash,
        "sample_data": analysis.source == "sample",
        "snapshot_hash": analysis.snapshot_hash,
        "window": {
            "first": ms_to_datetime(analysis.window_first_ts).isoformat(),
            "last": ms_to_datetime(analysis.window_last_ts).isoformat(),
            "candles": analysis.window_len,
        },
        "features": analysis.features,
        "views": analysis.views,
    }


def _view_lines(view: dict[str, Any]) -> str:
    skip = {"agent", "journal"}
    lines = []
    for key, raw in view.items():
        if key in skip or raw in (None, [], {}):
            continue
        value: Any = raw
        if isinstance(raw, float):
            value = round(raw, 4)
        elif isinstance(raw, list):
            value = "; ".join(str(v) for v in raw)
        elif isinstance(raw, dict):
            value = ", ".join(
                f"{k}={round(v, 4) if isinstance(v, float) else v}" for k, v in raw.items()
            )
        lines.append(f"[bold]{key}[/bold]: {escape(str(value))}")
    return "\n".join(lines) or "(no fields)"


def analysis_panels(analysis: Any, created: bool) -> None:
    """A panel per agent."""
    from rich.markdown import Markdown
    from rich.panel import Panel

    console = out()
    state = "stored" if created else "already stored"
    console.print(
        f"[bold]Analysis {analysis.id}[/bold] ({state}): {analysis.symbol} {analysis.timeframe} "
        f"on {analysis.exchange}, bar {_when(analysis.bar_ts)} UTC, {analysis.window_len} candles"
    )
    if analysis.source == "sample":
        console.print(f"[yellow]{SAMPLE_NOTE}[/yellow]")
    for name, view in analysis.views.items():
        style = "red" if view.get("abstained") else "cyan"
        body = _view_lines(view)
        console.print(Panel(body, title=name, border_style=style, expand=True))
        if name == "rationale" and view.get("journal"):
            console.print(Panel(Markdown(view["journal"]), title="trade journal"))


def signal_panel(signal: Any, created: bool) -> None:
    """The decision and why."""
    from rich.panel import Panel

    approved = signal.decision == "APPROVED"
    lines = [
        f"[bold]{signal.decision}[/bold] {signal.action} {signal.symbol} {signal.timeframe} "
        f"@ bar {_when(signal.bar_ts)} UTC "
        f"({'new' if created else 'already stored'}, id {signal.id})",
    ]
    if approved:
        lines.append(
            f"entry {_num(signal.entry, -1)}  stop {_num(signal.stop_loss, -1)}  "
            f"target {_num(signal.take_profit, -1)}  size {_num(signal.size, 6)}"
        )
    lines.append(
        f"R:R {_num(signal.reward_risk)}  EV {_num(signal.expected_value_r)}R  "
        f"risk-adj EV {_num(signal.risk_adjusted_ev_r)}R  consensus {_num(signal.consensus)}  "
        f"confidence {_num(signal.confidence)}  quality {_num(signal.quality, 1)}/10"
    )
    if signal.rejection_reason:
        lines.append(f"[red]why rejected:[/red] {signal.rejection_reason}")
    console = out()
    console.print(Panel("\n".join(lines), border_style="green" if approved else "red"))
    if signal.source == "sample":
        console.print(f"[yellow]{SAMPLE_NOTE}[/yellow]")


def signals_table(rows: list[Any]) -> None:
    """Stored signals."""
    table = Table(title=f"Signals ({len(rows)})")
    for col in (
        "id",
        "bar (UTC)",
        "symbol",
        "tf",
        "decision",
        "action",
        "entry",
        "stop",
        "target",
        "EV R",
        "cons.",
        "reason",
    ):
        table.add_column(col)
    for s in rows:
        table.add_row(
            str(s.id),
            _when(s.bar_ts),
            s.symbol + (" (sample)" if s.source == "sample" else ""),
            s.timeframe,
            s.decision,
            s.action,
            _num(s.entry, -1),
            _num(s.stop_loss, -1),
            _num(s.take_profit, -1),
            _num(s.risk_adjusted_ev_r),
            _num(s.consensus),
            (s.rejection_reason or "")[:60],
        )
    out().print(table)


def signal_detail(detail: dict[str, Any]) -> None:
    """Everything about one signal, laid out so an analyst sees why."""
    from rich.markdown import Markdown
    from rich.panel import Panel

    console = out()
    sig = detail["signal"]
    console.print(
        Panel(
            "\n".join(f"[bold]{k}[/bold]: {v}" for k, v in sig.items() if v is not None),
            title=f"signal {sig['id']}",
            border_style="green" if sig["decision"] == "APPROVED" else "red",
        )
    )
    rounds = detail["rounds"]
    gather = rounds.get("gather", {})
    votes = "\n".join(f"  {v['agent']}: {v['view']}" for v in gather.get("votes", []))
    flags = (
        "\n".join(
            f"  [{f['severity']}] {f['flag']}: {f['detail']}" for f in gather.get("risk_flags", [])
        )
        or "  none"
    )
    console.print(
        Panel(
            f"votes:\n{votes}\nconsensus: {gather.get('consensus')}\n"
            f"conflicts: {', '.join(gather.get('conflicts', [])) or 'none'}\nrisk flags:\n{flags}",
            title="round 1: gather",
        )
    )
    resolve = rounds.get("resolve", {})
    scen = resolve.get("scenarios", {})
    console.print(
        Panel(
            f"base rate {resolve.get('base_rate')} over {resolve.get('base_rate_trades')} trades; "
            f"p(win) {resolve.get('p_win')} (prior {resolve.get('prior_win_rate')})\n"
            + "\n".join(
                f"  {k}: p={v.get('probability')} payoff={v.get('payoff_r')}R"
                for k, v in scen.items()
            )
            + f"\nEV {resolve.get('expected_value_r')}R, cost {resolve.get('cost_r')}R, "
            f"risk-adjusted EV {resolve.get('risk_adjusted_ev_r')}R",
            title="round 2: resolve",
        )
    )
    decide = rounds.get("decide", {})
    checks = "\n".join(
        f"  {'pass' if c['passed'] else 'FAIL'}  {c['rule']}"
        + (f": {c.get('value')}" if "value" in c else "")
        + (f" (threshold {c['threshold']})" if "threshold" in c else "")
        for c in decide.get("checks", [])
    )
    console.print(Panel(f"{checks}\ndecision: {decide.get('decision')}", title="round 3: decide"))
    guardian = detail["guardian"]
    if guardian.get("checked"):
        verdict = guardian.get("verdict", {})
        lines = [f"allowed: {verdict.get('allowed')}"] + [
            f"  {v['limit']}: {v['detail']}" for v in verdict.get("violations", [])
        ]
    else:
        lines = ["not consulted (the mother rejected the trade)"]
    console.print(Panel("\n".join(lines), title="guardian"))
    for name, view in detail["views"].items():
        console.print(
            Panel(
                _view_lines(view),
                title=f"agent: {name}",
                border_style="red" if view.get("abstained") else "cyan",
            )
        )
        if name == "rationale" and view.get("journal"):
            console.print(Panel(Markdown(view["journal"]), title="trade journal"))
    result = detail.get("result")
    console.print(
        Panel(
            "no position (not approved)"
            if result is None
            else "\n".join(f"{k}: {v}" for k, v in result.items() if k != "signal_id"),
            title="outcome",
        )
    )


def replay_result(result: Any) -> None:
    """Identical, or every difference."""
    console = out()
    if result.identical:
        note_cfg = " under the given config" if result.config_changed else ""
        console.print(f"Signal {result.signal_id} replays identically{note_cfg}.")
        return
    head = (
        "would change under the given config"
        if result.config_changed
        else "does NOT replay identically"
    )
    table = Table(title=f"Signal {result.signal_id} {head}")
    table.add_column("field")
    table.add_column("stored")
    table.add_column("replayed")
    for d in result.differences:
        table.add_row(d["field"], str(d["stored"]), str(d["replayed"]))
    console.print(table)


def report(data: dict[str, Any]) -> None:
    """The first report: signals, outcomes, account, open positions."""
    console = out()
    table = Table(title="Signals per symbol")
    for col in ("symbol", "approved", "rejected"):
        table.add_column(col)
    for sym, counts in data["signals"].items():
        table.add_row(sym, str(counts.get("APPROVED", 0)), str(counts.get("REJECTED", 0)))
    console.print(table)
    outcomes = Table(title="Outcomes of approved signals")
    for col in ("status", "count", "avg R", "P&L"):
        outcomes.add_column(col)
    for status, row in data["outcomes"].items():
        outcomes.add_row(status, str(row["count"]), _num(row["avg_r"]), _num(row["pnl"]))
    console.print(outcomes)
    wr = data["win_rate"]
    console.print(
        f"closed trades: {data['closed_trades']}, win rate: "
        f"{'-' if wr is None else f'{wr:.1%}'}, average R: {_num(data['average_r'])}"
    )
    acct = data["account"]
    if acct:
        console.print(
            f"paper equity: {acct['equity']:,.2f} (start {acct['starting_equity']:,.2f}, peak "
            f"{acct['peak_equity']:,.2f}, day start {acct['day_start_equity']:,.2f})"
            + ("  KILL SWITCH ON" if acct["kill_switch"] else "")
        )
    positions = Table(title=f"Open positions ({len(data['open_positions'])})")
    for col in ("signal", "symbol", "side", "entry", "stop", "target", "size", "opened"):
        positions.add_column(col)
    for p in data["open_positions"]:
        positions.add_row(
            str(p["signal_id"]),
            p["symbol"],
            p["side"],
            _num(p["entry"], -1),
            _num(p["stop_loss"], -1),
            _num(p["take_profit"], -1),
            _num(p["size"], 6),
            _when(p["opened_bar_ts"]),
        )
    console.print(positions)
    if data["sample_data_signals"]:
        console.print(f"[yellow]{data['sample_data_signals']} signal(s) on SAMPLE DATA[/yellow]")


# --- run -----------------------------------------------------------------------------------


@contextmanager
def run_view(symbols: list[str], *, live: bool) -> Iterator[Any]:
    """A live Rich table per symbol on a terminal; plain log lines on stderr otherwise."""
    from datetime import UTC, datetime

    console = err()
    state: dict[str, dict[str, Any]] = {s: {"stage": "waiting"} for s in symbols}

    def table() -> Table:
        t = Table(title="hmas run")
        for col in ("symbol", "stage", "agents", "decision", "signal", "open pos.", "note"):
            t.add_column(col)
        for sym, st in state.items():
            t.add_row(
                sym,
                st.get("stage", ""),
                st.get("agents", ""),
                f"{st.get('decision') or ''} {st.get('action') or ''}",
                str(st.get("signal_id") or ""),
                str(st.get("positions", "")),
                (st.get("reason") or st.get("error") or "")[:60],
            )
        return t

    if live and console.is_terminal:
        from rich.live import Live

        with Live(table(), console=console, refresh_per_second=8) as view:

            def update(symbol: str, stage: str, detail: dict[str, Any]) -> None:
                state.setdefault(symbol, {}).update(stage=stage, **detail)
                view.update(table())

            yield update
        return

    def log(symbol: str, stage: str, detail: dict[str, Any]) -> None:
        stamp = datetime.now(tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        extra = " ".join(f"{k}={v}" for k, v in detail.items() if v is not None)
        sys.stderr.write(f"{stamp} {symbol} {stage} {extra}".rstrip() + "\n")

    yield log


def run_summary(results: list[Any]) -> None:
    """One line per symbol of the last iteration."""
    console = out()
    for res in results[-1:]:
        table = Table(title=f"run {res.run_id}, iteration {res.iteration}: {res.status}")
        for col in ("symbol", "status", "decision", "signal", "new", "closed", "detail"):
            table.add_column(col)
        for s in res.symbols:
            table.add_row(
                s.symbol,
                s.status,
                f"{s.decision or ''} {s.action or ''}".strip(),
                str(s.signal_id or ""),
                "yes" if s.created else "no",
                str(s.closed_positions),
                (s.error or s.rejection_reason or "")[:80],
            )
        console.print(table)
