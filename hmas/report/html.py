"""``hmas report --html FILE``: the report as one self-contained HTML page.

Tables and figures are inline: CSS in a ``<style>`` element, PNGs as ``data:image/png;base64``
URIs, no script, no font, no external reference of any kind, so the page opens from a file,
offline, or as a mail attachment. Every text from the store is escaped.
"""

from __future__ import annotations

import base64
from html import escape
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pathlib import Path

NONE = "—"

CSS = """
*{box-sizing:border-box}
body{font:14px/1.45 -apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif;
 margin:0;background:#f4f5f7;color:#1d2330}
header{background:#1d2330;color:#fff;padding:18px 28px}
header h1{margin:0 0 4px;font-size:22px}
header .meta{color:#b7c0d1;font-size:13px}
main{max-width:1240px;margin:0 auto;padding:18px 28px 40px}
.banner{background:#fff3cd;border:1px solid #e0c46c;color:#6b5200;padding:8px 12px;
 border-radius:6px;margin:12px 0;font-weight:600}
.cards{display:grid;grid-template-columns:repeat(auto-fill,minmax(190px,1fr));gap:10px;
 margin:14px 0}
.card{background:#fff;border-radius:8px;padding:10px 14px;box-shadow:0 1px 2px #0002}
.card .k{color:#667085;font-size:12px;text-transform:uppercase;letter-spacing:.04em}
.card .v{font-size:22px;font-weight:600;margin-top:2px}
.card .s{color:#667085;font-size:12px}
section{background:#fff;border-radius:8px;padding:14px 18px;margin:16px 0;
 box-shadow:0 1px 2px #0002}
h2{font-size:17px;margin:0 0 8px}
h3{font-size:14px;margin:14px 0 6px;color:#344054}
p.note{color:#667085;font-size:12.5px;margin:4px 0 8px}
table{border-collapse:collapse;width:100%;margin:6px 0 10px;font-size:13px}
th,td{padding:5px 8px;border-bottom:1px solid #e4e7ec;text-align:left;white-space:nowrap}
th{background:#f9fafb;color:#475467;font-weight:600}
td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}
tr:hover td{background:#f5f8ff}
.pos{color:#1a9850}.neg{color:#d73027}
img{max-width:100%;height:auto;display:block;margin:6px 0}
.grid2{display:grid;grid-template-columns:1fr 1fr;gap:16px}
@media(max-width:900px){.grid2{grid-template-columns:1fr}}
.unknown{color:#667085;font-size:12px}
"""


def _num(value: Any, fmt: str = "{:,.2f}") -> str:
    return NONE if value is None else fmt.format(value)


def _pct(value: Any, digits: int = 1) -> str:
    return NONE if value is None else f"{100 * value:.{digits}f}%"


def _signed(value: Any, fmt: str = "{:+.3f}") -> str:
    if value is None:
        return NONE
    cls = "pos" if value > 0 else "neg" if value < 0 else ""
    return f'<span class="{cls}">{escape(fmt.format(value))}</span>'


def _ci(ci: dict[str, Any], fmt: str = "{:+.3f}", pct: bool = False) -> str:
    if ci.get("ci_low") is None:
        return NONE
    if pct:
        return f"{_pct(ci['ci_low'])} to {_pct(ci['ci_high'])}"
    return f"{fmt.format(ci['ci_low'])} to {fmt.format(ci['ci_high'])}"


def _table(head: list[str], rows: list[list[str]], numeric: set[int], empty: str) -> str:
    if not rows:
        return f'<p class="note">{escape(empty)}</p>'
    ths = "".join(
        f'<th class="n">{escape(h)}</th>' if i in numeric else f"<th>{escape(h)}</th>"
        for i, h in enumerate(head)
    )
    body = "".join(
        "<tr>"
        + "".join(
            f'<td class="n">{c}</td>' if i in numeric else f"<td>{c}</td>" for i, c in enumerate(r)
        )
        + "</tr>"
        for r in rows
    )
    return f"<table><thead><tr>{ths}</tr></thead><tbody>{body}</tbody></table>"


def _img(pngs: dict[str, bytes], name: str, alt: str, skipped: dict[str, str]) -> str:
    if name not in pngs:
        return (
            f'<p class="note">No {escape(name)} figure: {escape(skipped.get(name, "no data"))}.</p>'
        )
    data = base64.b64encode(pngs[name]).decode("ascii")
    return f'<img id="fig-{name}" alt="{escape(alt)}" src="data:image/png;base64,{data}">'


def _unknown(*sources: dict[str, Any]) -> str:
    notes = {k: v for s in sources for k, v in (s.get("unknown") or {}).items()}
    if not notes:
        return ""
    items = "; ".join(f"{escape(k)}: {escape(str(v))}" for k, v in notes.items())
    return f'<p class="unknown">Unknown: {items}</p>'


def _card(key: str, value: str, sub: str = "") -> str:
    return (
        f'<div class="card"><div class="k">{escape(key)}</div><div class="v">{value}</div>'
        f'<div class="s">{sub}</div></div>'
    )


def render(report: dict[str, Any], pngs: dict[str, bytes], skipped: dict[str, str]) -> str:
    """The page, as text."""
    p = report["period"]
    perf = report["performance"]
    eq = report["equity"]
    span = f"{escape(p['since'] or 'first signal')} to {escape(p['until'] or 'now')}"
    symbol = escape(p["symbol"] or "all symbols")
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>hmas report: {symbol}, {span}</title>",
        f"<style>{CSS}</style></head><body>",
        "<header><h1>hmas report</h1>",
        f'<div class="meta">{symbol} · {span} · paper account: {escape(p["engine"])} · '
        f"generated {escape(report.get('generated_at') or '')} · paper trading only</div>",
        "</header><main>",
    ]
    if perf["sample_data_signals"]:
        parts.append(
            f'<div class="banner">SAMPLE DATA: {perf["sample_data_signals"]} of these signals '
            "are on the synthetic sample market, not a real one.</div>"
        )
    wr, ex = perf["win_rate"], perf["expectancy_r"]
    parts.append('<div class="cards">')
    parts += [
        _card(
            "signals",
            f"{perf['signals']:,}",
            f"{perf['approved']} approved · {perf['rejected']} rejected",
        ),
        _card(
            "closed trades",
            f"{perf['closed_trades']:,}",
            f"{perf['wins']} wins · "
            f"{perf['losses']} losses · {perf['expired']} expired · {perf['pending']} pending",
        ),
        _card("win rate", _pct(wr["mean"]), f"95% CI {_ci(wr, pct=True)}"),
        _card("expectancy", _signed(ex["mean"], "{:+.3f} R"), f"95% CI {_ci(ex)}"),
        _card(
            "realised P&L",
            _signed(perf["pnl"], "{:+,.2f}"),
            f"equity {_num(eq.get('period_start_equity'))} → {_num(eq.get('period_end_equity'))}",
        ),
        _card("max drawdown", _pct(eq["max_drawdown"], 2), "realised, from the running peak"),
    ]
    parts.append("</div>")
    parts.append(_performance(report, pngs, skipped))
    parts.append(_attribution(report))
    parts.append(_calibration(report, pngs, skipped))
    parts.append(_costs(report, pngs, skipped))
    parts.append(_backtests(report))
    parts.append("</main></body></html>\n")
    return "\n".join(parts)


def _performance(report: dict[str, Any], pngs: dict[str, bytes], skipped: dict[str, str]) -> str:
    perf = report["performance"]
    rows = [
        [
            escape(s["symbol"]),
            str(s["signals"]),
            str(s["approved"]),
            str(s["closed_trades"]),
            _pct(s["win_rate"]),
            _signed(s["expectancy_r"]),
            _signed(s["pnl"], "{:+,.2f}"),
        ]
        for s in perf["by_symbol"]
    ]
    table = _table(
        ["symbol", "signals", "approved", "closed", "win rate", "mean R", "P&L"],
        rows,
        {1, 2, 3, 4, 5, 6},
        "No signal in the period.",
    )
    return (
        '<section id="performance"><h2>Signals, outcomes and the paper account</h2>'
        '<p class="note">Win rate: the target hit first. Intervals (95%): Wilson for the win '
        "rate, percentile bootstrap for the expectancy. "
        "Equity: the paper account's realised P&amp;L, added as each position closed.</p>"
        f"{table}{_img(pngs, 'equity', 'paper equity curve', skipped)}"
        f"{_img(pngs, 'drawdown', 'drawdown curve', skipped)}{_unknown(perf, report['equity'])}"
        "</section>"
    )


def _attribution(report: dict[str, Any]) -> str:
    agents = report["attribution"]["agents"]
    rows = []
    for a in agents:
        v, o, b = a["votes"], a["opposed"], a["backed"]
        rows.append(
            [
                escape(a["agent"]),
                f"{v['long']}/{v['short']}/{v['neutral']}/{v['silent']}",
                str(a["judged"]),
                _pct(a["agreement_rate"]),
                str(b["count"]),
                _pct(b["win_rate"]),
                _signed(b["mean_r"]),
                str(o["count"]),
                _pct(o["win_rate"]),
                _signed(o["mean_r"]),
            ]
        )
    table = _table(
        [
            "agent",
            "votes L/S/N/silent",
            "judged",
            "agreed with outcome",
            "backed",
            "win rate",
            "mean R",
            "opposed",
            "win rate",
            "mean R",
        ],
        rows,
        set(range(1, 10)),
        "No vote stored in the period.",
    )
    ref = report["attribution"]["refusals"]
    guards = _table(
        ["guardian rule", "signals refused", "share of rejected"],
        [
            [escape(g["rule"]), str(g["count"]), _pct(g["share_of_rejected"])]
            for g in ref["guardian"]
        ],
        {1, 2},
        "The guardian refused no signal in the period.",
    )
    checks = _table(
        ["mother's check", "signals failing it", "share of rejected"],
        [
            [escape(c["check"]), str(c["count"]), _pct(c["share_of_rejected"])]
            for c in ref["mother"]
        ],
        {1, 2},
        "No check of the mother failed in the period.",
    )
    return (
        '<section id="attribution"><h2>Per-agent attribution</h2>'
        '<p class="note">Judged: closed trades on which the agent voted long or short. It agreed '
        "with the outcome when its vote pointed the way the trade proved right (R &gt; 0: the "
        "trade's side; otherwise the other side). Backed/opposed: closed trades it voted "
        "with/against.</p>"
        f"{table}<h3>Refusals ({ref['rejected']} rejected signals, "
        f"{ref['refused_by_guardian']} by the guardian)</h3>"
        f'<div class="grid2"><div>{guards}</div><div>{checks}</div></div></section>'
    )


def _calibration(report: dict[str, Any], pngs: dict[str, bytes], skipped: dict[str, str]) -> str:
    tables = []
    for measure, t in report["calibration"].items():
        rows = [
            [
                f"{b['low']:.1f}–{b['high']:.1f}",
                str(b["count"]),
                _num(b["stated_mean"], "{:.3f}"),
                _num(b["realised_rate"], "{:.3f}"),
            ]
            for b in t["buckets"]
        ]
        brier = (
            f"Brier {_num(t.get('brier'), '{:.4f}')} against "
            f"{_num(t.get('brier_constant'), '{:.4f}')} "
            f"for always stating the base rate {_num(t.get('base_rate'), '{:.3f}')} "
            f"(skill {_num(t.get('skill'), '{:+.3f}')}); {t['count']} trades"
            if t["count"]
            else ""
        )
        tables.append(
            f"<div><h3>{escape(measure)}</h3>"
            + _table(
                ["stated", "count", "stated mean", "realised"],
                rows,
                {1, 2, 3},
                f"No table: {t['unknown'].get(measure, 'no data')}.",
            )
            + f'<p class="note">{brier}</p></div>'
        )
    return (
        '<section id="calibration"><h2>Calibration</h2>'
        '<p class="note">Stated number by bucket against the realised rate of closed trades '
        "hitting their target first.</p>"
        f'<div class="grid2"><div>{"".join(tables)}</div><div>'
        f"{_img(pngs, 'reliability', 'reliability plot', skipped)}</div></div></section>"
    )


def _costs(report: dict[str, Any], pngs: dict[str, bytes], skipped: dict[str, str]) -> str:
    c = report["costs"]

    def rows(items: list[dict[str, Any]], keys: list[str]) -> list[list[str]]:
        return [
            [escape(str(i[k])) for k in keys]
            + [
                f"{i['cost_usd']:.4f}",
                str(i["calls"]),
                str(i["cached"]),
                f"{i['input_tokens']:,}",
                f"{i['output_tokens']:,}",
            ]
            for i in items
        ]

    tail = ["USD", "calls", "cached", "input tokens", "output tokens"]
    num = {1, 2, 3, 4, 5}
    blocks = [
        _table(["day", *tail], rows(c["by_day"], ["day"]), num, "No LLM call in the period."),
        _table(["agent", *tail], rows(c["by_agent"], ["agent"]), num, ""),
        _table(["vendor", *tail], rows(c["by_vendor"], ["vendor"]), num, ""),
        _table(
            ["vendor", "model", *tail],
            rows(c["by_model"], ["vendor", "model"]),
            {2, 3, 4, 5, 6},
            "",
        ),
    ]
    per = c["cost_per_approved_signal_usd"]
    if not c["calls"]:
        blocks = []
    return (
        '<section id="costs"><h2>LLM costs</h2>'
        f'<p class="note">Total ${c["total_usd"]:.4f} over {c["calls"]} calls; cost per approved '
        f"signal: {NONE if per is None else f'${per:.4f}'} ({c['approved_signals']} approved)."
        f"</p>{_img(pngs, 'costs', 'LLM spend per day', skipped)}{''.join(blocks)}"
        f"{_unknown(c)}</section>"
    )


def _backtests(report: dict[str, Any]) -> str:
    b = report["backtests"]
    rows = [
        [
            str(r["id"]),
            escape(r["strategy"]),
            escape(r["engine"]),
            escape(", ".join(r["symbols"])) + (" (sample)" if r["sample_data"] else ""),
            escape(r["timeframe"]),
            f"{escape(r['start'][:10])} → {escape(r['end'][:10])}",
            _num(r["trades"], "{:,}"),
            _signed(r["expectancy_r"]),
            _ci(
                {"ci_low": r["expectancy_r_ci_low"], "ci_high": r["expectancy_r_ci_high"]},
                "{:+.2f}",
            ),
            _pct(r["total_return"], 2),
            _pct(r["max_drawdown"], 2),
            _num(r["brier"], "{:.4f}"),
        ]
        for r in b["runs"]
    ]
    table = _table(
        [
            "id",
            "strategy",
            "engine",
            "symbols",
            "tf",
            "range",
            "trades",
            "expectancy R",
            "95% CI",
            "return",
            "max DD",
            "Brier",
        ],
        rows,
        {0, 6, 7, 8, 9, 10, 11},
        "No backtest stored (hmas backtest stores each run).",
    )
    return (
        f'<section id="backtests"><h2>Backtest runs ({b["shown"]} of {b["count"]})</h2>{table}'
        "</section>"
    )


def check_file(path: Path) -> Path:
    """``--html FILE``: not a directory, its directory existing; else ``UsageError``."""
    from hmas.errors import UsageError

    if path.is_dir():
        raise UsageError(f"--html {path} is a directory; give a file name, e.g. report.html")
    if not path.parent.is_dir():
        raise UsageError(
            f"--html {path}: the directory {path.parent} does not exist; create it or give another"
        )
    return path


def write(path: Path, page: str) -> None:
    """Write the page atomically (a reader never sees half of it)."""
    from hmas.errors import UsageError
    from hmas.files import write_atomic

    try:
        write_atomic(path, page.encode("utf-8"))
    except OSError as exc:
        raise UsageError(
            f"--html {path}: cannot write it ({exc.strerror or exc}); give a writable path"
        ) from None
