"""How ``hmas backtest`` prints a run, the stored runs and a lookahead check (through render)."""

from __future__ import annotations

from typing import Any

from hmas.cli.render import (
    NONE,
    SAMPLE_NOTE,
    Col,
    Item,
    fmt_num,
    iso,
    out,
    price_digits,
    print_section,
    print_table,
    text_line,
)

#: Trades listed under a run in the table view (all of them in --json, --export and show).
TRADES_SHOWN = 10


def _pct(value: Any, digits: int = 2) -> str:
    return NONE if value is None else f"{value * 100:.{digits}f}%"


def _money(value: Any) -> str:
    return NONE if value is None else f"{value:,.2f}"


def _r(value: Any) -> str:
    return NONE if value is None else f"{value:.2f}R"


def _ci(data: dict[str, Any], fmt: Any) -> str:
    if data.get("mean") is None:
        return NONE
    text = str(fmt(data["mean"]))
    if data.get("ci_low") is not None:
        text += f" (95% CI {fmt(data['ci_low'])} to {fmt(data['ci_high'])})"
    return text + f" over {data['count']} trades"


def _time(text: Any) -> str:
    return NONE if text is None else str(text)


def run(data: dict[str, Any]) -> None:
    """A run: the headline figures, per symbol, per month, calibration, the last trades."""
    console = out()
    m = data["metrics"]
    sample = bool(data.get("sample_data"))
    head = f"Backtest {data['id']}" if data.get("id") is not None else "Backtest (not stored)"
    title = (
        f"{head}: {data['strategy']} on {', '.join(data['symbols'])} {data['timeframe']}, "
        f"{data['start']} to {data['end']} ({data['bars']:,} bars)"
    )
    won = (
        f"{_count(m['wins'], 'win')}, {_count(m['losses'], 'loss', 'losses')}, "
        f"{m['expired']} expired"
    )
    dd_days = m.get("max_drawdown_duration_days")
    recovered = m.get("max_drawdown_recovered")
    drawdown = _pct(m.get("max_drawdown"))
    if m.get("max_drawdown_duration_bars"):
        drawdown += (
            f", {dd_days:g} days under water from {m.get('max_drawdown_from')}"
            f" ({'recovered ' + recovered if recovered else 'not recovered'})"
        )
    refusals = ", ".join(f"{k} {v}" for k, v in m.get("refusals", {}).items())
    items: list[Item] = [
        ("trades", f"{m['trades']} ({won}; {m['open_trades']} open)"),
        ("win rate", _pct(m.get("win_rate"), 1)),
        (
            "return",
            f"{_pct(m.get('total_return'))} total, {_pct(m.get('annualised_return'))} a year",
        ),
        ("equity", f"{_money(m.get('starting_equity'))} -> {_money(m.get('final_equity'))}"),
        ("max drawdown", drawdown),
        (
            "Sharpe/Sortino/Calmar",
            " / ".join(fmt_num(m.get(k)) for k in ("sharpe", "sortino", "calmar")),
        ),
        ("expectancy", _ci(m.get("expectancy_r") or {}, _r)),
        ("average P&L", _ci(m.get("average_pnl") or {}, _money)),
        ("profit factor", fmt_num(m.get("profit_factor"))),
        ("exposure", f"{_pct(m.get('exposure'), 1)} of bars"),
        ("fees, slippage", f"{_money(m.get('fees_paid'))}, {_money(m.get('slippage_paid'))}"),
        _refused(data["strategy"], m, refusals),
        ("config, data", f"{data['config_hash']}, {str(data['data_hash'])[:16]}"),
    ]
    llm = m.get("llm")
    if llm:
        spend = llm.get("spend_usd")
        answers = ", ".join(f"{k} {v}" for k, v in (llm.get("answers") or {}).items())
        items.append(
            (
                "LLM",
                f"{'unknown' if spend is None else f'${spend:.4f}'} spent, {llm['calls']} calls "
                f"made, {llm['cached']} answered from the call log; answers: {answers or 'none'}"
                f" ({llm.get('abstentions', 0)} abstentions, counted as on the live path)",
            )
        )
    if sample:
        items.append(("data", SAMPLE_NOTE))
    _line(title)
    print_section("summary", items, console=console)
    _per_symbol(m.get("per_symbol") or [])
    if m["trades"]:
        _monthly(m.get("monthly_returns") or [])
    else:
        _line("Monthly returns: none (no trade, the equity never moved)")
    if data["strategy"] == "rules":
        for name, table in (m.get("calibration") or {}).items():
            _calibration(name, table)
        if m.get("agreement"):
            _agreement(m["agreement"])
    else:
        _line("Calibration: none (the reference strategy states no win probability)")
    _trades(data.get("trades") or [])
    unknown = m.get("unknown") or {}
    if unknown:
        print_table(
            "Not measured",
            [Col("figure"), Col("why", text=True)],
            [[k, v] for k, v in unknown.items()],
        )


def _count(n: int, one: str, many: str | None = None) -> str:
    return f"{n} {one if n == 1 else (many or one + 's')}"


def _refused(strategy: str, m: dict[str, Any], refusals: str) -> Item:
    """The guardian's refusals of the mother's approvals (the reference has no guardian)."""
    if strategy != "rules":
        return ("signals", f"{m.get('candidates', 0)} entry signals (no mother, no guardian)")
    text = f"{m.get('refused', 0)} of the mother's {m.get('candidates', 0)} approvals"
    return ("guardian refused", text + (f": {refusals}" if refusals else ""))


def _per_symbol(rows: list[dict[str, Any]]) -> None:
    cols = [
        Col("symbol"),
        Col("bars", right=True),
        Col("trades", right=True),
        Col("win", right=True),
        Col("avg R", right=True),
        Col("P&L", right=True),
        Col("return", right=True),
        Col("refused", right=True, detail=True),
    ]
    table = [
        [
            r["symbol"],
            f"{r['bars']:,}",
            str(r["trades"]),
            _pct(r.get("win_rate"), 1),
            fmt_num(r.get("average_r")),
            _money(r.get("pnl")),
            _pct(r.get("return_contribution")),
            str(r.get("refused", 0)),
        ]
        for r in rows
    ]
    print_table("Per symbol", cols, table)


def _monthly(rows: list[dict[str, Any]]) -> None:
    cols = [Col("month"), Col("return", right=True), Col("equity", right=True)]
    table = [[r["month"], _pct(r.get("return")), _money(r.get("equity"))] for r in rows]
    print_table("Monthly returns", cols, table)


def _calibration(name: str, table: dict[str, Any]) -> None:
    """The reliability table: stated win probability against the realised target-first rate."""
    what = {"trades": "closed trades", "proposals": "every proposal, approved or not"}
    cols = [
        Col("stated p(win)"),
        Col("count", right=True),
        Col("stated", right=True),
        Col("realised", right=True),
    ]
    rows = [
        [
            f"{b['low']:.1f}-{b['high']:.1f}",
            str(b["count"]),
            fmt_num(b.get("stated_mean")),
            fmt_num(b.get("realised_rate")),
        ]
        for b in table.get("buckets", [])
        if b["count"]
    ]
    title = f"Calibration of p(win), {what.get(name, name)}"
    if not table.get("count"):
        _line(f"{title}: none (no outcome to compare with)")
        return
    print_table(title, cols, rows)
    brier, constant = table.get("brier"), table.get("brier_constant")
    line = (
        f"  Brier {fmt_num(brier, 4)} against {fmt_num(constant, 4)} for always stating the "
        f"realised rate {fmt_num(table.get('base_rate'), 4)} (skill {fmt_num(table.get('skill'))})"
    )
    if name == "proposals":
        line += f"; {table.get('proposals')} proposals, {table.get('approved_by_mother')} approved"
    _line(line)


def _agreement(data: dict[str, Any]) -> None:
    """The voters' agreement: pairs (with chance and kappa), then with alpha's proposals."""
    pairs = [
        [
            f"{p['first']}/{p['second']}",
            str(p["both"]),
            fmt_num(p.get("rate")),
            fmt_num(p.get("chance")),
            fmt_num(p.get("kappa")),
        ]
        for p in data.get("pairs", [])
    ]
    cols = [
        Col("voters"),
        Col("both voted", right=True),
        Col("agree", right=True),
        Col("chance", right=True),
        Col("kappa", right=True),
    ]
    print_table("Voter agreement (bars where both voted long or short)", cols, pairs)
    rows = [
        [q["voter"], str(q["proposals"]), fmt_num(q.get("rate")), fmt_num(q.get("support"))]
        for q in data.get("proposals", [])
        if q.get("setup") is None
    ]
    cols = [
        Col("voter"),
        Col("proposals", right=True),
        Col("agree", right=True),
        Col("support", right=True),
    ]
    print_table(f"Voters on {data.get('proposer', 'alpha')}'s proposals", cols, rows)


def _line(text: str) -> None:
    text_line(text)


def _trades(trades: list[dict[str, Any]]) -> None:
    shown = trades[-TRADES_SHOWN:]
    digits = price_digits(next((t["entry"] for t in shown if t.get("entry")), None))
    cols = [
        Col("id", right=True),
        Col("symbol"),
        Col("side"),
        Col("fill (UTC)"),
        Col("exit (UTC)", detail=True),
        Col("fill", right=True, detail=True),
        Col("exit", right=True, detail=True),
        Col("status"),
        Col("R", right=True),
        Col("P&L", right=True),
    ]
    rows = [
        [
            str(t["id"]),
            t["symbol"],
            t["side"],
            _time(t.get("fill_time")),
            _time(t.get("exit_time")),
            NONE if t.get("fill_price") is None else f"{t['fill_price']:.{digits}f}",
            NONE if t.get("exit_price") is None else f"{t['exit_price']:.{digits}f}",
            t["exit_reason"] if t["status"] != "open" else "open",
            fmt_num(t.get("r_multiple")),
            _money(t.get("pnl_money")),
        ]
        for t in shown
    ]
    title = f"Trades (the last {len(shown)} of {len(trades)}; all with --json or --export)"
    if len(shown) == len(trades):
        title = f"Trades ({len(trades)})"
    print_table(title, cols, rows)


def runs(rows: list[dict[str, Any]]) -> None:
    """The stored runs, newest first."""
    cols = [
        Col("id", right=True),
        Col("created (UTC)", detail=True),
        Col("strategy"),
        Col("symbols"),
        Col("tf"),
        Col("from (UTC)", detail=True),
        Col("to (UTC)", detail=True),
        Col("trades", right=True),
        Col("return", right=True),
        Col("max DD", right=True),
        Col("Sharpe", right=True),
    ]
    table = [
        [
            str(r["id"]),
            iso(r["created_at"]),
            r["strategy"],
            ",".join(r["symbols"]) + ("*" if r.get("sample_data") else ""),
            r["timeframe"],
            r["start"],
            r["end"],
            str(r.get("trades")),
            _pct(r.get("total_return")),
            _pct(r.get("max_drawdown")),
            fmt_num(r.get("sharpe")),
        ]
        for r in rows
    ]
    print_table(f"Backtests ({len(rows)})", cols, table)
    if any(r.get("sample_data") for r in rows):
        _line(f"* on {SAMPLE_NOTE}")


def lookahead(report: dict[str, Any]) -> None:
    """The lookahead check: what was re-decided and every bar that changed."""
    checked = report["checked"]
    head = (
        f"{checked['total']} bars re-decided on history cut at each ({checked['entries']} "
        f"entry bars, {checked['exits']} exit bars, {checked['sampled']} other bars)"
    )
    changes = report["changes"]
    if not changes:
        _line(f"No lookahead: {head}; every feature and decision equals the backtest's.")
        return
    cols = [
        Col("symbol"),
        Col("bar (UTC)"),
        Col("why"),
        Col("column"),
        Col("history", right=True),
        Col("cut", right=True),
    ]
    rows = [
        [c["symbol"], c["bar"], c["why"], c["column"], str(c["history"]), str(c["cut"])]
        for c in changes
    ]
    print_table(f"LOOKAHEAD: {len(changes)} change(s); {head}", cols, rows)
