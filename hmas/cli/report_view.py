"""How ``hmas report`` prints the period's analysis under the first report (through render)."""

from __future__ import annotations

from typing import Any

from hmas.cli.render import NONE, Col, Item, fmt_num, print_section, print_table, text_line


def _pct(value: Any, digits: int = 1) -> str:
    return NONE if value is None else f"{value * 100:.{digits}f}%"


def _r(value: Any) -> str:
    return NONE if value is None else f"{value:+.3f}R"


def _ci(data: dict[str, Any], pct: bool = False) -> str:
    if data.get("mean") is None:
        return NONE
    main = _pct(data["mean"]) if pct else _r(data["mean"])
    if data.get("ci_low") is None:
        return f"{main} (no interval: {data['count']} trade)"
    low, high = (
        (_pct(data["ci_low"]), _pct(data["ci_high"]))
        if pct
        else (_r(data["ci_low"]), _r(data["ci_high"]))
    )
    return f"{main} (95% CI {low} to {high}, {data['count']} trades)"


def analysis(data: dict[str, Any]) -> None:
    """The period, performance with intervals, equity, attribution, calibration, costs, runs."""
    p, perf, eq = data["period"], data["performance"], data["equity"]
    items: list[Item] = [
        ("period", f"{p['since'] or 'first signal'} to {p['until'] or 'now'}"),
        ("symbol", p["symbol"] or "all"),
        (
            "signals",
            f"{perf['signals']} ({perf['approved']} approved, {perf['rejected']} rejected)",
        ),
        (
            "closed trades",
            f"{perf['closed_trades']} ({perf['wins']} wins, {perf['losses']} losses, "
            f"{perf['expired']} expired; {perf['pending']} pending)",
        ),
        ("win rate", _ci(perf["win_rate"], pct=True)),
        ("expectancy", _ci(perf["expectancy_r"])),
        ("realised P&L", fmt_num(perf["pnl"])),
        (
            f"equity ({eq['engine']})",
            f"{fmt_num(eq.get('period_start_equity'))} -> {fmt_num(eq.get('period_end_equity'))}, "
            f"max drawdown {_pct(eq['max_drawdown'], 2)}",
        ),
    ]
    print_section("Period", items)
    cols = [
        Col("agent"),
        Col("judged", right=True),
        Col("agreed", right=True),
        Col("backed", right=True),
        Col("win", right=True),
        Col("R", right=True),
        Col("opposed", right=True),
        Col("win", right=True),
        Col("R", right=True),
        # Under its row on a narrow terminal.
        Col("votes L/S/N/silent", right=True, detail=True),
    ]
    rows = []
    for a in data["attribution"]["agents"]:
        v, b, o = a["votes"], a["backed"], a["opposed"]
        rows.append(
            [
                a["agent"],
                str(a["judged"]),
                _pct(a["agreement_rate"]),
                str(b["count"]),
                _pct(b["win_rate"]),
                _r(b["mean_r"]),
                str(o["count"]),
                _pct(o["win_rate"]),
                _r(o["mean_r"]),
                f"{v['long']}/{v['short']}/{v['neutral']}/{v['silent']}",
            ]
        )
    print_table("Per-agent attribution (closed trades)", cols, rows)
    ref = data["attribution"]["refusals"]
    rows = [[g["rule"], str(g["count"]), _pct(g["share_of_rejected"])] for g in ref["guardian"]]
    rows += [
        [f"mother: {c['check']}", str(c["count"]), _pct(c["share_of_rejected"])]
        for c in ref["mother"]
    ]
    print_table(
        f"Refusals of {ref['rejected']} rejected signals",
        [Col("rule", text=False), Col("signals", right=True), Col("share", right=True)],
        rows,
    )
    for measure, t in data["calibration"].items():
        if not t["count"]:
            text_line(f"Calibration of {measure}: none ({t['unknown'].get(measure)})")
            continue
        rows = [
            [
                f"{b['low']:.1f}-{b['high']:.1f}",
                str(b["count"]),
                fmt_num(b["stated_mean"], 3),
                fmt_num(b["realised_rate"], 3),
            ]
            for b in t["buckets"]
        ]
        print_table(
            f"Calibration of {measure} (Brier {fmt_num(t['brier'], 4)} vs "
            f"{fmt_num(t['brier_constant'], 4)} constant)",
            [
                Col("stated"),
                Col("count", right=True),
                Col("stated", right=True),
                Col("realised", right=True),
            ],
            rows,
        )
    c = data["costs"]
    per = c["cost_per_approved_signal_usd"]
    text_line(
        f"LLM costs: ${c['total_usd']:.4f} in {c['calls']} calls; per approved signal "
        f"{NONE if per is None else f'${per:.4f}'} (hmas report --costs for the breakdown)"
    )
    runs = data["backtests"]["runs"]
    rows = [
        [
            str(r["id"]),
            r["strategy"],
            ",".join(r["symbols"]) + (" (sample)" if r["sample_data"] else ""),
            f"{r['start'][:10]}..{r['end'][:10]}",
            fmt_num(r["trades"]),
            _r(r["expectancy_r"]),
            _pct(r["total_return"], 2),
            _pct(r["max_drawdown"], 2),
            fmt_num(r["brier"], 4),
        ]
        for r in runs
    ]
    print_table(
        f"Backtest runs ({len(runs)} of {data['backtests']['count']})",
        [
            Col("id", right=True),
            Col("strategy"),
            Col("symbols"),
            Col("range", detail=True),
            Col("trades", right=True),
            Col("exp. R", right=True),
            Col("return", right=True),
            Col("max DD", right=True),
            Col("Brier", right=True),
        ],
        rows,
    )
    for name, path in (data.get("png") or {}).get("written", {}).items():
        text_line(f"wrote {name}: {path}")
    for name, why in (data.get("png") or {}).get("skipped", {}).items():
        text_line(f"no {name}.png: {why}")
    if data.get("html"):
        text_line(f"wrote {data['html']}")
