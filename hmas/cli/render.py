"""All terminal output: tables and panels on a terminal, plain stable text or JSON otherwise.

The only module of hmas that imports Rich (enforced by ruff's banned-api rule). Tables go
through one text writer (:func:`table_lines`): on a terminal it fits the console width (free
text wraps in its column or moves to a line under its row, numbers are never folded); in a pipe
every column keeps its full width and free text is never cut.
"""

from __future__ import annotations

import json
import math
import re
import sys
import textwrap
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from rich.cells import cell_len
from rich.console import Console, Group, RenderableType
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
from rich.text import Text

if TYPE_CHECKING:
    import pandas as pd

    from hmas.data.fetch import FetchResult
    from hmas.data.gaps import Gap
    from hmas.store.candles import SeriesInfo

SAMPLE_NOTE = "SAMPLE DATA: synthetic offline market, not real prices"
SAMPLE_TAG = "SAMPLE DATA"
NONE = "—"
#: Narrowest a wrapping text column may get before it moves under its row.
MIN_TEXT_WIDTH = 24
SEP = "  "


def out() -> Console:
    """Console on stdout."""
    return Console(highlight=False)


def err() -> Console:
    """Console on stderr, for progress, notes and logs."""
    return Console(stderr=True, highlight=False)


def print_json(data: Any) -> None:
    """Print ``data`` as JSON on stdout and nothing else."""
    sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")
    sys.stdout.flush()


def print_text(text: str) -> None:
    """Print ``text`` (already formatted, e.g. a JSON document) on stdout as it is."""
    sys.stdout.write(text)
    sys.stdout.flush()


def print_json_line(data: dict[str, Any]) -> None:
    """One compact JSON object on one line of stdout, flushed (NDJSON for ``tail -f | jq``)."""
    sys.stdout.write(json.dumps(data, separators=(",", ":"), default=str) + "\n")
    sys.stdout.flush()


def text_line(text: str) -> None:
    """A line of text on stdout, wrapped to a terminal's width (whole in a pipe)."""
    _text(out(), text)


def note(message: str) -> None:
    """A one-line note on stderr."""
    err().print(message, markup=False)


# --- formatting ------------------------------------------------------------------------------


def iso(value: int | datetime | str | None) -> str:
    """A time in ISO 8601 UTC, to the minute when that is exact: ``2024-02-04T13:00Z``."""
    if value is None:
        return NONE
    if isinstance(value, int):
        when = datetime.fromtimestamp(value / 1000, tz=UTC)
    elif isinstance(value, str):
        try:
            when = datetime.fromisoformat(value)
        except ValueError:
            return value
    else:
        when = value
    when = when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)
    if when.second or when.microsecond:
        return when.strftime("%Y-%m-%dT%H:%M:%SZ")
    return when.strftime("%Y-%m-%dT%H:%MZ")


def price_digits(reference: float | None) -> int:
    """Decimals for prices of this magnitude: five significant digits, at least two."""
    if reference is None or not math.isfinite(reference) or reference == 0:
        return 2
    return max(2, min(10, 4 - math.floor(math.log10(abs(reference)))))


def fmt_price(value: float | None, digits: int) -> str:
    """A price to ``digits`` decimals; ``—`` for none."""
    if value is None:
        return NONE
    if math.isnan(value):
        return "nan"
    return f"{value:.{digits}f}"


def fmt_num(value: Any, digits: int = 2) -> str:
    """A number to ``digits`` decimals; ``—`` for none; other values as text."""
    if value is None:
        return NONE
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return "nan" if math.isnan(value) else f"{value:.{digits}f}"
    return str(value)


def fmt_auto(value: Any) -> str:
    """Any value for people: floats to a sensible number of digits, ``—`` for none."""
    if value is None:
        return NONE
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        if not math.isfinite(value):
            return str(value)
        if value == 0:
            return "0"
        if abs(value) >= 100:
            return f"{value:.2f}"
        if abs(value) >= 0.001:
            return f"{value:.4g}"
        return f"{value:.3e}"
    if isinstance(value, list):
        return "; ".join(fmt_auto(v) for v in value) or NONE
    if isinstance(value, dict):
        return ", ".join(f"{k}={fmt_auto(v)}" for k, v in value.items()) or NONE
    return tidy(str(value))


_LONG_FLOAT = re.compile(r"(?<![\w.])-?\d+\.\d{6,}(?![\w.])")


def tidy(text: str) -> str:
    """Free text with over-long floats (``92.63888888888889``) cut to sensible digits."""
    return _LONG_FLOAT.sub(lambda m: fmt_auto(float(m.group())), text)


def _r(value: Any) -> str:
    """An R multiple: ``1.25R``, or ``—``."""
    return NONE if value is None else f"{fmt_num(value)}R"


# --- the table writer -------------------------------------------------------------------------


@dataclass(frozen=True)
class Col:
    """A table column.

    ``text``: free text (reasons, values); on a terminal it wraps in its column when it is the
    last one and wide enough, else it moves to a line under its row; in a pipe it is kept whole.
    ``detail``: may move to the line under its row when the terminal is too narrow.
    """

    header: str
    right: bool = False
    text: bool = False
    detail: bool = False


def _cut(cell: str, width: int) -> str:
    if cell_len(cell) <= width:
        return cell
    return cell[: max(width - 1, 0)] + "…"


def _pad(cell: str, width: int, right: bool) -> str:
    gap = " " * max(width - cell_len(cell), 0)
    return gap + cell if right else cell + gap


def table_lines(
    cols: Sequence[Col], rows: Sequence[Sequence[str]], width: int | None
) -> list[tuple[str, str]]:
    """Header and rows as ``(line, style)``; ``width=None`` (a pipe) keeps every cell whole."""
    n = len(cols)
    body = [[(c if c != "" else NONE) for c in r] for r in rows]
    w = [max([cell_len(cols[i].header)] + [cell_len(r[i]) for r in body]) for i in range(n)]

    def used(ix: list[int]) -> int:
        return sum(w[i] for i in ix) + len(SEP) * max(len(ix) - 1, 0)

    shown = list(range(n))
    below: list[int] = []
    wrap: int | None = None
    if width is not None:
        texts = [i for i in range(n) if cols[i].text]
        shown = [i for i in range(n) if not cols[i].text]
        if used(shown) > width:  # detail columns move together, so the row stays whole
            below = [i for i in shown if cols[i].detail]
            shown = [i for i in shown if not cols[i].detail]
        if texts and used(shown + texts) <= width:
            shown += texts
        elif len(texts) == 1 and texts[0] == n - 1 and width - used(shown) - 2 >= MIN_TEXT_WIDTH:
            wrap = texts[0]
            w[wrap] = width - used(shown) - len(SEP)
            shown.append(wrap)
        else:
            below += texts
        while used(shown) > width:  # last resort: cut the widest cells, marked with …
            widest = max((i for i in shown if i != wrap), key=lambda i: w[i])
            if w[widest] <= 4:
                break
            w[widest] -= 1
    lines: list[tuple[str, str]] = []
    head = SEP.join(_pad(_cut(cols[i].header, w[i]), w[i], cols[i].right) for i in shown)
    lines.append((head.rstrip(), "bold"))
    if width is not None:
        lines.append((SEP.join("─" * w[i] for i in shown), "dim"))
    for row in body:
        if wrap is not None:
            offset = used(shown[:-1]) + len(SEP)
            parts = textwrap.wrap(row[wrap], w[wrap], break_on_hyphens=False) or [NONE]
        cells = [
            _pad(_cut(row[i], w[i]) if i != wrap else parts[0], w[i], cols[i].right) for i in shown
        ]
        lines.append((SEP.join(cells).rstrip(), ""))
        if wrap is not None:
            lines += [(" " * offset + p, "") for p in parts[1:]]
        assert width is not None or not below
        details = [f"{cols[i].header} {row[i]}" for i in below if not cols[i].text]
        if details and any(row[i] != NONE for i in below if not cols[i].text):
            lines += [(line, "") for line in _wrapped(SEP.join(details), width)]
        for i in below:
            if cols[i].text and row[i] != NONE:
                lines += [(line, "") for line in _wrapped(f"{cols[i].header}: {row[i]}", width)]
    return lines


def _wrapped(text: str, width: int | None, indent: str = "    ") -> list[str]:
    if width is None:
        return [indent + text]
    return textwrap.wrap(
        text,
        max(width, len(indent) + 10),
        initial_indent=indent,
        subsequent_indent=indent,
        break_on_hyphens=False,
    )


def _width(console: Console) -> int | None:
    return console.width if console.is_terminal else None


def _print_lines(console: Console, lines: Sequence[tuple[str, str]]) -> None:
    if console.is_terminal:
        for line, style in lines:
            console.print(Text(line, style=style), soft_wrap=True)
    else:
        console.file.write("".join(line + "\n" for line, _ in lines))
        console.file.flush()


def _title(console: Console, title: str, sample: bool = False) -> None:
    text = title + (f"  [{SAMPLE_TAG}]" if sample else "")
    _print_lines(console, [(line, "bold") for line in _wrapped(text, _width(console), "")])


def _sample_note(console: Console) -> None:
    _print_lines(console, [(SAMPLE_NOTE, "bold yellow")])


def _text(console: Console, text: str, style: str = "") -> None:
    _print_lines(console, [(line, style) for line in _wrapped(text, _width(console), "")])


def print_table(
    title: str,
    cols: Sequence[Col],
    rows: Sequence[Sequence[str]],
    *,
    sample: bool = False,
    console: Console | None = None,
) -> None:
    """A titled table: fitted to a terminal, or plain full-width columns in a pipe."""
    console = console or out()
    _title(console, title, sample)
    if rows:
        _print_lines(console, table_lines(cols, rows, _width(console)))
    else:
        _print_lines(console, [("(none)", "")])
    if sample:
        _sample_note(console)


#: A section item: a (key, value) pair, or a whole line.
Item = tuple[str, str] | str


def print_section(title: str, items: Sequence[Item], style: str = "", console: Any = None) -> None:
    """A titled block of key/value lines: a Rich panel on a terminal, indented text otherwise."""
    from rich.panel import Panel

    console = console or out()
    if not console.is_terminal:
        keys = [cell_len(i[0]) for i in items if isinstance(i, tuple)]
        kw = max(keys, default=0)
        lines = [(title, "")]
        for item in items:
            if isinstance(item, tuple):
                lines.append((f"  {_pad(item[0], kw, False)}  {item[1]}".rstrip(), ""))
            else:
                lines.append((f"  {item}".rstrip(), ""))
        _print_lines(console, lines)
        return
    parts: list[RenderableType] = []
    grid: Table | None = None
    for item in items:
        if isinstance(item, tuple):
            if grid is None:
                grid = Table.grid(padding=(0, 2))
                grid.add_column(style="bold", no_wrap=True)
                grid.add_column(overflow="fold")
                parts.append(grid)
            grid.add_row(Text(item[0]), Text(item[1]))
        else:
            grid = None
            parts.append(Text(item, overflow="fold"))
    console.print(Panel(Group(*parts), title=escape(title), border_style=style or "none"))


# --- fetch -------------------------------------------------------------------------------


@contextmanager
def _keyed_progress(enabled: bool, *, transient: bool) -> Iterator[Any]:
    """One Rich progress bar per key on a terminal (stderr); ``None`` otherwise (pipes, --json).

    Yields ``update(key, done, total)``: a new key adds a bar; an unknown total grows with done.
    """
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
        transient=transient,
    ) as progress:

        def update(key: str, done: int, total: int | None) -> None:
            if key not in tasks:
                tasks[key] = progress.add_task(escape(key), total=total)
            progress.update(tasks[key], completed=done, total=max(total or 0, done))

        yield update


@contextmanager
def fetch_progress(enabled: bool) -> Iterator[Any]:
    """A progress bar per symbol on a terminal, kept when the fetch ends; ``None`` otherwise."""
    with _keyed_progress(enabled, transient=False) as update:
        yield update


def fetch_summary(results: list[FetchResult]) -> None:
    """The end-of-fetch table: candles added, first/last timestamp, gaps found."""
    cols = [
        Col("symbol"),
        Col("exchange"),
        Col("tf"),
        Col("source"),
        Col("received", right=True),
        Col("added", right=True),
        Col("first (UTC)", detail=True),
        Col("last (UTC)", detail=True),
        Col("gaps", text=True),
    ]
    rows = []
    for r in results:
        d = r.as_dict()
        rows.append(
            [
                r.symbol,
                r.exchange,
                r.timeframe,
                "SAMPLE" if r.sample else r.source,
                str(r.received),
                str(r.added),
                iso(r.first_ts),
                "up to date" if r.last_ts is None and r.up_to_date else iso(r.last_ts),
                f"{d['gaps']} ({d['missing_candles']} missing)" if d["gaps"] else "0",
            ]
        )
    print_table("Fetched candles", cols, rows, sample=any(r.sample for r in results))


@contextmanager
def stage_progress(enabled: bool) -> Iterator[Any]:
    """A progress bar per stage on a terminal, cleared when done; ``None`` otherwise.

    Yields ``progress(stage, done, total)`` or ``None``.
    """
    with _keyed_progress(enabled, transient=True) as update:
        yield update


# --- candles -----------------------------------------------------------------------------


def candles_table(frame: pd.DataFrame, info: SeriesInfo) -> None:
    """The stored candles of one series."""
    from hmas.market import index_to_ms

    values = frame.to_numpy().tolist()
    closes = [float(v[3]) for v in values if not math.isnan(float(v[3]))]
    digits = price_digits(max(closes, default=None, key=abs))
    cols = [Col("time (UTC)")] + [
        Col(c, right=True) for c in ("open", "high", "low", "close", "volume")
    ]
    rows = [
        [iso(ms), *(fmt_price(float(x), digits) for x in (o, h, low, c)), f"{float(v):.4f}"]
        for ms, (o, h, low, c, v) in zip(index_to_ms(frame.index), values, strict=True)
    ]
    title = f"{info.symbol} {info.timeframe} on {info.exchange}: {info.count} stored"
    print_table(title, cols, rows, sample=info.source == "sample")


def gaps_table(gaps: list[Gap], info: SeriesInfo) -> None:
    """The gaps of one series."""
    console = out()
    sample = info.source == "sample"
    where = f"{info.symbol} {info.timeframe} on {info.exchange}"
    if not gaps:
        _text(console, f"No gaps in {where}." + (f" [{SAMPLE_TAG}]" if sample else ""))
        return
    cols = [Col("first missing (UTC)"), Col("last missing (UTC)"), Col("missing", right=True)]
    rows = [[iso(g.first_missing_ts), iso(g.last_missing_ts), str(g.missing)] for g in gaps]
    print_table(f"Gaps in {where}", cols, rows, sample=sample, console=console)
    _text(console, f"{len(gaps)} gap(s), {sum(g.missing for g in gaps)} missing candle(s).")


def series_table(series: list[SeriesInfo]) -> None:
    """Every stored series."""
    cols = [
        Col("symbol"),
        Col("exchange"),
        Col("tf"),
        Col("source"),
        Col("candles", right=True),
        Col("first (UTC)", detail=True),
        Col("last (UTC)", detail=True),
    ]
    rows = [
        [
            s.symbol,
            s.exchange,
            s.timeframe,
            "SAMPLE" if s.source == "sample" else s.source,
            str(s.count),
            iso(s.first_ts),
            iso(s.last_ts),
        ]
        for s in series
    ]
    print_table("Stored series", cols, rows, sample=any(s.source == "sample" for s in series))


# --- config and db -----------------------------------------------------------------------


def config_table(data: dict[str, Any], source: str | None) -> None:
    """Settings as a two-column table (secrets already masked)."""
    rows: list[list[str]] = []

    def walk(prefix: str, value: Any) -> None:
        if isinstance(value, dict) and value:
            for k, v in value.items():
                walk(f"{prefix}.{k}" if prefix else k, v)
        else:
            rows.append([prefix, _plain_value(value)])

    walk("", data)
    title = "hmas configuration" + (f" (file: {source})" if source else "")
    print_table(title, [Col("setting"), Col("value", text=True)], rows)


def _plain_value(value: Any) -> str:
    if value is None:
        return NONE
    if isinstance(value, (list, dict)):
        return json.dumps(value, default=str)
    return str(value)


def key_values(title: str, data: dict[str, Any]) -> None:
    """A small key/value table."""
    print_table(
        title, [Col("key"), Col("value", text=True)], [[k, fmt_auto(v)] for k, v in data.items()]
    )


# --- analyses and signals ------------------------------------------------------------------


def analysis_json(analysis: Any, created: bool) -> dict[str, Any]:
    """An analysis as JSON."""
    from hmas.agents.registry import shown
    from hmas.market import ms_to_datetime

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
        "views": shown(analysis.views),
    }


def _view_items(view: dict[str, Any], digits: int) -> list[Item]:
    """An agent's view as key/value items; prices (``*_ts`` times, levels) formatted."""
    items: list[Item] = []
    for key, raw in view.items():
        if key in ("agent", "journal") or raw in (None, [], {}):
            continue
        if key.endswith("_ts") and isinstance(raw, int):
            value = iso(raw)
        elif key in _PRICE_KEYS and isinstance(raw, (int, float)):
            value = fmt_price(float(raw), digits)
        elif key in _PRICE_KEYS and isinstance(raw, dict):
            value = ", ".join(f"{k}={fmt_price(float(v), digits)}" for k, v in raw.items())
        else:
            value = fmt_auto(raw)
        items.append((key, value))
    return items or ["(no fields)"]


_PRICE_KEYS = frozenset(
    {"entry", "stop", "target", "support", "resistance", "fib_levels", "swing_high", "swing_low"}
)


def _digits_of(features: dict[str, Any] | None, *prices: Any) -> int:
    ref = (features or {}).get("close")
    if not isinstance(ref, (int, float)):
        ref = next((p for p in prices if isinstance(p, (int, float))), None)
    return price_digits(None if ref is None else float(ref))


def _journal(console: Console, text: str) -> None:
    from rich.markdown import Markdown
    from rich.panel import Panel

    if console.is_terminal:
        console.print(Panel(Markdown(text), title="trade journal"))
    else:
        _print_lines(
            console,
            [("trade journal", "")] + [(f"  {ln}".rstrip(), "") for ln in text.splitlines()],
        )


def analysis_panels(analysis: Any, created: bool) -> None:
    """A panel per agent."""
    console = out()
    sample = analysis.source == "sample"
    state = "stored" if created else "already stored"
    _title(
        console,
        f"Analysis {analysis.id} ({state}): {analysis.symbol} {analysis.timeframe} on "
        f"{analysis.exchange}, bar {iso(analysis.bar_ts)}, {analysis.window_len} candles",
        sample,
    )
    if sample:
        _sample_note(console)
    digits = _digits_of(analysis.features)
    for name, view in analysis.views.items():
        style = "red" if view.get("abstained") else "cyan"
        print_section(name, _view_items(view, digits), style, console)
        if name == "rationale" and view.get("journal"):
            _journal(console, view["journal"])


def _decision_text(decision: str | None, action: str | None) -> str:
    if decision == "APPROVED":
        return f"APPROVED {action or ''}".strip()
    return decision or NONE


def signal_panel(signal: Any, created: bool) -> None:
    """The decision and why."""
    console = out()
    sample = signal.source == "sample"
    approved = signal.decision == "APPROVED"
    digits = _digits_of(None, signal.entry, signal.stop_loss)
    items: list[Item] = [
        ("decision", f"{signal.decision} {signal.action}"),
        ("symbol", f"{signal.symbol} {signal.timeframe} on {signal.exchange}"),
        ("bar", iso(signal.bar_ts)),
        ("signal", f"id {signal.id} ({'new' if created else 'already stored'})"),
    ]
    if approved:
        items += [
            ("entry", fmt_price(signal.entry, digits)),
            ("stop", fmt_price(signal.stop_loss, digits)),
            ("target", fmt_price(signal.take_profit, digits)),
            ("size", fmt_auto(signal.size)),
        ]
    items += [
        ("R:R", fmt_num(signal.reward_risk)),
        ("EV", _r(signal.expected_value_r)),
        ("risk-adj. EV", _r(signal.risk_adjusted_ev_r)),
        ("consensus", fmt_num(signal.consensus)),
        ("confidence", fmt_num(signal.confidence)),
        ("quality", f"{fmt_num(signal.quality, 1)}/10"),
    ]
    if signal.rejection_reason:
        items.append(("why rejected", tidy(signal.rejection_reason)))
    if sample:
        items.append(("data", SAMPLE_NOTE))
    title = f"signal {signal.id}" + (f" [{SAMPLE_TAG}]" if sample else "")
    print_section(title, items, "green" if approved else "red", console)


def signals_table(rows: list[Any]) -> None:
    """Stored signals."""
    cols = [
        Col("id", right=True),
        Col("bar (UTC)"),
        Col("symbol"),
        Col("tf"),
        Col("decision"),
        Col("entry", right=True, detail=True),
        Col("stop", right=True, detail=True),
        Col("target", right=True, detail=True),
        Col("EV R", right=True),
        Col("cons.", right=True),
        Col("reason", text=True),
    ]
    table = []
    for s in rows:
        digits = _digits_of(None, s.entry, s.stop_loss)
        table.append(
            [
                str(s.id),
                iso(s.bar_ts),
                s.symbol + ("*" if s.source == "sample" else ""),
                s.timeframe,
                _decision_text(s.decision, s.action),
                fmt_price(s.entry, digits),
                fmt_price(s.stop_loss, digits),
                fmt_price(s.take_profit, digits),
                fmt_num(s.risk_adjusted_ev_r),
                fmt_num(s.consensus),
                tidy(s.rejection_reason or NONE),
            ]
        )
    console = out()
    print_table(f"Signals ({len(rows)})", cols, table, console=console)
    sample = sum(1 for s in rows if s.source == "sample")
    if sample:
        _text(console, f"* {sample} signal(s) on {SAMPLE_NOTE}", "bold yellow")


def signal_detail(detail: dict[str, Any]) -> None:
    """Everything about one signal, laid out so an analyst sees why."""
    console = out()
    sig = detail["signal"]
    sample = bool(sig.get("sample_data"))
    digits = _digits_of(detail.get("features"), sig.get("entry"), sig.get("stop_loss"))
    price_keys = {"entry", "stop_loss", "take_profit", "fill_price", "exit_price"}
    time_keys = {"bar_ts", "created_at", "updated_at", "fill_ts", "exit_ts", "closed_ts"}

    def show(key: str, value: Any) -> str:
        if key in time_keys:
            return iso(value)
        if key in price_keys and isinstance(value, (int, float)):
            return fmt_price(float(value), digits)
        if key == "pnl_money" and isinstance(value, (int, float)):
            return _money(float(value))
        if (key.endswith("_r") or key == "r_multiple") and isinstance(value, (int, float)):
            return _r(value)
        if key in ("confidence", "consensus", "conviction", "reward_risk") and value is not None:
            return fmt_num(value)
        if key == "quality" and value is not None:
            return f"{fmt_num(value, 1)}/10"
        if key == "sample_data":
            return SAMPLE_NOTE if value else "no (real market data)"
        return fmt_auto(value)

    title = f"signal {sig['id']}" + (f" [{SAMPLE_TAG}]" if sample else "")
    print_section(
        title,
        [(k, show(k, v)) for k, v in sig.items() if v is not None],
        "green" if sig["decision"] == "APPROVED" else "red",
        console,
    )
    rounds = detail["rounds"]
    gather = rounds.get("gather", {})
    items: list[Item] = [(f"vote {v['agent']}", str(v["view"])) for v in gather.get("votes", [])]
    items += [
        ("consensus", fmt_num(gather.get("consensus"))),
        ("conflicts", ", ".join(gather.get("conflicts", [])) or "none"),
    ]
    flags = gather.get("risk_flags", [])
    items += [
        (f"flag {f['flag']}", f"[{f['severity']}] {tidy(str(f['detail']))}") for f in flags
    ] or [("risk flags", "none")]
    print_section("round 1: gather", items, console=console)
    resolve = rounds.get("resolve", {})
    history = resolve.get("history")
    if history is not None:
        prior = resolve.get("prior") or {}
        items = [
            ("comparable setups", str(history.get("group") or NONE)),
            (
                "history",
                f"{history.get('trades', 0)} resolved in {history.get('lookback')} "
                f"({history.get('wins', 0)} won, {history.get('losses', 0)} lost, "
                f"{history.get('expired', 0)} expired); raw win rate "
                f"{fmt_num(history.get('raw_win_rate'))}, mean payoff "
                f"{_r(history.get('raw_payoff_r'))} before costs",
            ),
            (
                "p(win)",
                f"{fmt_num(resolve.get('p_win'))} (no-edge prior "
                f"{fmt_num(prior.get('win_rate'))} worth {fmt_auto(prior.get('strength'))} "
                f"trades; history weight {fmt_num(resolve.get('history_weight'))})",
            ),
        ]
    else:  # rounds stored before the measured history
        items = [
            (
                "base rate",
                f"{fmt_num(resolve.get('base_rate'))} over "
                f"{resolve.get('base_rate_trades', 0)} trades",
            ),
            (
                "p(win)",
                f"{fmt_num(resolve.get('p_win'))} (prior {fmt_num(resolve.get('prior_win_rate'))})",
            ),
        ]
    items += [
        (f"scenario {k}", f"p={fmt_num(v.get('probability'))}  payoff {_r(v.get('payoff_r'))}")
        for k, v in resolve.get("scenarios", {}).items()
    ]
    items += [
        ("EV", _r(resolve.get("expected_value_r"))),
        ("cost", _r(resolve.get("cost_r"))),
        ("risk-adj. EV", _r(resolve.get("risk_adjusted_ev_r"))),
    ]
    print_section("round 2: resolve", items, console=console)
    decide = rounds.get("decide", {})
    items = []
    for c in decide.get("checks", []):
        value = ""
        if "value" in c:
            value = fmt_auto(c.get("value"))
        if "threshold" in c:
            value += f" (threshold {fmt_auto(c['threshold'])})"
        items.append(("pass" if c["passed"] else "FAIL", f"{c['rule']}: {value}".rstrip(": ")))
    items.append(("decision", str(decide.get("decision") or NONE)))
    print_section("round 3: decide", items, console=console)
    guardian = detail["guardian"]
    if guardian.get("checked"):
        verdict = guardian.get("verdict", {})
        items = [("allowed", fmt_auto(verdict.get("allowed")))]
        items += [(str(v["limit"]), tidy(str(v["detail"]))) for v in verdict.get("violations", [])]
    else:
        items = ["not consulted (the mother rejected the trade)"]
    print_section("guardian", items, console=console)
    for name, view in detail["views"].items():
        style = "red" if view.get("abstained") else "cyan"
        print_section(f"agent: {name}", _view_items(view, digits), style, console)
        if name == "rationale" and view.get("journal"):
            _journal(console, view["journal"])
    result = detail.get("result")
    if result is None:
        items = ["no position (not approved)"]
    else:
        order = [
            "status", "fill_ts", "fill_price", "exit_ts", "exit_price", "bars_held",
            "r_multiple", "pnl_money", "pnl_pct", "mae_r", "mfe_r", "updated_at",
        ]  # fmt: skip
        keys = [k for k in order if k in result] + [k for k in result if k not in order]
        items = [
            (k, show(k, result[k])) for k in keys if k != "signal_id" and not k.endswith("_iso")
        ]
    print_section("outcome", items, console=console)
    if sample:
        _sample_note(console)


def replay_result(result: Any) -> None:
    """Identical, or every difference."""
    console = out()
    if result.model_changed:
        _text(
            console,
            f"Signal {result.signal_id} was decided by decision model {result.stored_model}; "
            f"this hmas decides with model {result.model}.",
        )
    if result.identical:
        note_cfg = " under the given config" if result.config_changed else ""
        _text(console, f"Signal {result.signal_id} replays identically{note_cfg}.")
        return
    if result.config_changed:
        head = "would change under the given config"
    elif result.model_changed:
        head = f"is decided differently by model {result.model}"
    else:
        head = "does NOT replay identically"
    cols = [Col("field"), Col("stored", text=True), Col("replayed", text=True)]
    rows = [
        [d["field"], fmt_auto(d["stored"]), fmt_auto(d["replayed"])] for d in result.differences
    ]
    print_table(f"Signal {result.signal_id} {head}", cols, rows, console=console)


def report(data: dict[str, Any]) -> None:
    """The first report: signals, outcomes, account, open positions."""
    console = out()
    sample = int(data.get("sample_data_signals") or 0)
    rows = [
        [sym, str(c.get("APPROVED", 0)), str(c.get("REJECTED", 0))]
        for sym, c in data["signals"].items()
    ]
    cols = [Col("symbol"), Col("approved", right=True), Col("rejected", right=True)]
    print_table("Signals per symbol", cols, rows, console=console)
    rows = [
        [status, str(row["count"]), fmt_num(row["avg_r"]), _money(row["pnl"])]
        for status, row in data["outcomes"].items()
    ]
    cols = [
        Col("status"),
        Col("count", right=True),
        Col("avg R", right=True),
        Col("P&L", right=True),
    ]
    print_table("Outcomes of approved signals", cols, rows, console=console)
    wr = data["win_rate"]
    _text(
        console,
        f"closed trades: {data['closed_trades']}, win rate: "
        f"{NONE if wr is None else f'{wr:.1%}'}, average R: {fmt_num(data['average_r'])}",
    )
    acct = data["account"]
    if acct:
        _text(
            console,
            f"paper equity: {_money(acct['equity'])} (start {_money(acct['starting_equity'])}, "
            f"peak {_money(acct['peak_equity'])}, day start {_money(acct['day_start_equity'])})"
            + ("  KILL SWITCH ON" if acct["kill_switch"] else ""),
        )
    cols = [
        Col("signal", right=True),
        Col("symbol"),
        Col("side"),
        Col("entry", right=True),
        Col("stop", right=True),
        Col("target", right=True),
        Col("size", right=True),
        Col("opened (UTC)", detail=True),
    ]
    rows = []
    for p in data["open_positions"]:
        digits = price_digits(p["entry"])
        rows.append(
            [
                str(p["signal_id"]),
                p["symbol"],
                p["side"],
                fmt_price(p["entry"], digits),
                fmt_price(p["stop_loss"], digits),
                fmt_price(p["take_profit"], digits),
                fmt_auto(p["size"]),
                iso(p["opened_bar_ts"]),
            ]
        )
    print_table(f"Open positions ({len(rows)})", cols, rows, console=console)
    if sample:
        _text(console, f"{sample} signal(s) on {SAMPLE_NOTE}", "bold yellow")


def _money(value: float | None) -> str:
    return NONE if value is None else f"{value:,.2f}"


# --- run -----------------------------------------------------------------------------------

_RUN_COLS = [
    Col("symbol"),
    Col("stage"),
    Col("agents", detail=True),
    Col("decision"),
    Col("signal", right=True),
    Col("open pos.", right=True),
    Col("note", text=True),
]


@contextmanager
def run_view(symbols: list[str], *, live: bool, sample: bool = False) -> Iterator[Any]:
    """A live table per symbol on a terminal; plain log lines on stderr otherwise."""
    console = err()
    state: dict[str, dict[str, Any]] = {s: {"stage": "waiting"} for s in symbols}
    title = "hmas run" + (f"  [{SAMPLE_TAG}]" if sample else "")

    def table() -> Text:
        rows = [
            [
                sym,
                st.get("stage", ""),
                st.get("agents", ""),
                _decision_text(st.get("decision"), st.get("action")),
                str(st.get("signal_id") or NONE),
                str(st.get("positions", NONE)),
                st.get("reason") or st.get("error") or NONE,
            ]
            for sym, st in state.items()
        ]
        lines = [(title, "bold"), *table_lines(_RUN_COLS, rows, console.width)]
        if sample:
            lines.append((SAMPLE_NOTE, "bold yellow"))
        text = Text(no_wrap=True, overflow="ignore")
        for i, (line, style) in enumerate(lines):
            text.append(("\n" if i else "") + line, style=style)
        return text

    if live and console.is_terminal:
        from rich.live import Live

        with Live(table(), console=console, refresh_per_second=8) as view:

            def update(symbol: str, stage: str, detail: dict[str, Any]) -> None:
                state.setdefault(symbol, {}).update(stage=stage, **detail)
                view.update(table())

            yield update
        return

    tag = f" [{SAMPLE_TAG}]" if sample else ""

    def log(symbol: str, stage: str, detail: dict[str, Any]) -> None:
        stamp = datetime.now(tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        extra = " ".join(f"{k}={v}" for k, v in detail.items() if v is not None)
        sys.stderr.write(f"{stamp} {symbol} {stage} {extra}".rstrip() + tag + "\n")
        sys.stderr.flush()

    yield log


def run_summary(results: list[Any]) -> None:
    """One line per symbol of the last iteration."""
    console = out()
    cols = [
        Col("symbol"),
        Col("status"),
        Col("decision"),
        Col("signal", right=True),
        Col("new"),
        Col("closed", right=True),
        Col("detail", text=True),
    ]
    for res in results[-1:]:
        rows = [
            [
                s.symbol + (f" {s.book}" if getattr(s, "book", None) else ""),
                s.status,
                _decision_text(s.decision, s.action),
                str(s.signal_id or NONE),
                "yes" if s.created else "no",
                str(s.closed_positions),
                tidy(s.error or s.rejection_reason or NONE),
            ]
            for s in res.symbols
        ]
        sample = any(getattr(s, "sample", False) for s in res.symbols)
        title = f"run {res.run_id}, iteration {res.iteration}: {res.status}"
        print_table(title, cols, rows, sample=sample, console=console)


def cost_report(data: dict[str, Any]) -> None:
    """``hmas report --costs``: LLM spend by day, agent, vendor and model."""
    console = out()
    if not data["calls"]:
        _text(console, "No LLM calls logged.")
        return
    cols = [
        Col("USD", right=True),
        Col("calls", right=True),
        Col("cached", right=True),
        Col("in tokens", right=True),
        Col("out tokens", right=True),
        Col("unpriced", right=True),
    ]

    def cells(row: dict[str, Any]) -> list[str]:
        return [
            f"{row['cost_usd']:.4f}",
            str(row["calls"]),
            str(row["cached"]),
            str(row["input_tokens"]),
            str(row["output_tokens"]),
            str(row["unpriced_calls"]),
        ]

    for title, keys in (
        ("LLM spend by day (UTC)", ("day",)),
        ("by agent", ("agent",)),
        ("by vendor", ("vendor",)),
        ("by model", ("vendor", "model")),
    ):
        group = "by_" + ("model" if len(keys) == 2 else keys[0])
        rows = [[" / ".join(str(r[k]) for k in keys), *cells(r)] for r in data[group]]
        print_table(title, [Col(" / ".join(keys)), *cols], rows, console=console)
    _text(
        console,
        f"total: ${data['total_usd']:.4f} in {data['calls']} calls; daily budget "
        f"${data['daily_budget_usd']:.2f}",
    )


def llm_spend(spent: float, budget: float) -> None:
    """The LLM spend so far today, on stderr (so it never mixes with --json)."""
    err().print(
        f"LLM spend today (UTC): ${spent:.4f} of the ${budget:.2f} daily budget "
        "(hmas report --costs)",
        highlight=False,
    )


def run_line(res: Any, outcome: Any) -> dict[str, Any]:
    """One NDJSON record: a symbol's outcome in one iteration."""
    return {
        "run_id": res.run_id,
        "iteration": res.iteration,
        "ts": datetime.now(tz=UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
        **outcome.as_dict(),
    }


# --- llm ---------------------------------------------------------------------------------------


def _per_million(value: float) -> str:
    return f"{value:.4f}".rstrip("0").rstrip(".") if value else "0"


def llm_route_json(row: Any) -> dict[str, Any]:
    """One agent's route as JSON: key presence and where it was found, never the key."""
    prices = row.prices
    return {
        "agent": row.agent,
        "vendor": row.vendor,
        "model": row.model,
        "wire": row.wire,
        "base_url": row.base_url,
        "key_variable": row.key.variable,
        "key_present": row.key.present,
        "key_source": row.key.found_in,
        "structured": row.structured,
        "usd_per_million": None
        if prices is None
        else {"input": prices.input, "output": prices.output, "cached_input": prices.cached_input},
    }


def llm_routes_table(rows: Sequence[Any]) -> None:
    """Agents, their vendor/model, key presence, structured mode and prices."""
    cols = [
        Col("agent"),
        Col("vendor/model"),
        Col("key"),
        Col("mode"),
        Col("$/M in/out/cached", detail=True),
    ]
    body = []
    for r in rows:
        if not r.key.needed:
            key = "none needed"
        elif r.key.present:
            where = {"environment": "env", "config file": "config"}.get(str(r.key.found_in))
            key = f"{r.key.variable} ({where or r.key.found_in})"
        else:
            key = f"{r.key.variable} MISSING"
        prices = r.prices
        shown = (
            "unknown"
            if prices is None
            else "/".join(
                _per_million(v) for v in (prices.input, prices.output, prices.cached_input)
            )
        )
        body.append([r.agent, f"{r.vendor}/{r.model}", key, r.structured, shown])
    print_table("LLM routing", cols, body)


def llm_ping_json(result: Any) -> dict[str, Any]:
    """One ping as JSON."""
    return {
        "vendor": result.vendor,
        "model": result.model,
        "agents": list(result.agents),
        "ok": result.ok,
        "latency_s": None if result.latency_s is None else round(result.latency_s, 3),
        "input_tokens": result.usage.input_tokens,
        "output_tokens": result.usage.output_tokens,
        "cached_input_tokens": result.usage.cached_input_tokens,
        "cost_usd": result.cost_usd,
        "answer": result.answer,
        "error": result.error,
    }


def llm_ping_table(results: Sequence[Any]) -> None:
    """Each ping: latency, tokens and cost, or its error."""
    cols = [
        Col("vendor/model"),
        Col("result"),
        Col("latency", right=True),
        Col("tokens in/out", right=True),
        Col("cost $", right=True),
        Col("error", text=True),
    ]
    body = [
        [
            f"{p.vendor}/{p.model}",
            "ok" if p.ok else "FAILED",
            NONE if p.latency_s is None else f"{p.latency_s:.2f}s",
            f"{p.usage.input_tokens}/{p.usage.output_tokens}" if p.ok else NONE,
            NONE if p.cost_usd is None else f"{p.cost_usd:.6f}",
            p.error or "",
        ]
        for p in results
    ]
    print_table("LLM ping", cols, body)


# --- operations ------------------------------------------------------------------------------

#: Health tables fit this width wherever they go (a terminal narrower than it narrows them).
HEALTH_WIDTH = 80
_HEALTH_COLS = [Col("check"), Col("status"), Col("value"), Col("detail", text=True)]


def health_table(report: Any) -> None:
    """``hmas health``: a check per row, the detail wrapped so the table fits 80 columns."""
    console = out()
    width = min(console.width, HEALTH_WIDTH) if console.is_terminal else HEALTH_WIDTH
    status = report.status.upper()
    title = f"hmas health: {status} (exit {report.exit_code})"
    rows = [
        [c.name, c.status if c.status == "ok" else c.status.upper(), c.shown or NONE, c.detail]
        for c in report.checks
    ]
    lines = [(title, "bold"), *table_lines(_HEALTH_COLS, rows, width)]
    if not console.is_terminal:
        # In a pipe (cron mail, a log) the rule under the header is plain text like the rest.
        lines = [(line.replace("─", "-"), style) for line, style in lines]
    _print_lines(console, lines)


def integrity_report(
    where: str, check: str, problems: list[str], seconds: float, shown: int
) -> None:
    """``hmas db check``: intact, or the first lines of the damage found."""
    console = out()
    if not problems:
        _text(console, f"The store {where} is intact ({check}: ok, {seconds:.2f} s).")
        return
    _text(console, f"Damage found in the store {where} ({check}):", "bold red")
    for line in problems[:shown]:
        _print_lines(console, [(item, "") for item in _wrapped(line, _width(console))])
    if len(problems) > shown:
        _text(console, f"... and {len(problems) - shown} more lines (hmas db check --json)")
    _text(console, "Restore the store from a backup, or point HMAS_DB_URL elsewhere.")
