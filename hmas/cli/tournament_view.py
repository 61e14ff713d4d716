"""How a tournament prints: the backtest's comparison and the live standings (through render)."""

from __future__ import annotations

from typing import Any

from hmas.cli.render import NONE, SAMPLE_NOTE, Col, Item, fmt_num, print_section, print_table

#: Re-ranks listed in the table view (all of them in --json).
RERANKS_SHOWN = 8


def _pct(value: Any) -> str:
    return NONE if value is None else f"{value * 100:.2f}%"


def _money(value: Any) -> str:
    return NONE if value is None else f"{value:,.2f}"


def _weight(value: Any) -> str:
    return NONE if value is None else f"{value * 100:.1f}%"


def _rules(t: dict[str, Any]) -> str:
    weights = "/".join(f"{w * 100:g}" for w in t["weights"])
    return (
        f"ranked by realised P&L over {t['window']}, re-ranked every {t['rerank']} "
        f"(epoch-aligned, UTC); weights by rank {weights} % ({t['weights_rule']})"
    )


def backtest(data: dict[str, Any]) -> None:
    """``hmas backtest --tournament``: the entrants, the blend against its comparisons, re-ranks."""
    items: list[Item] = [
        ("rules", _rules(data["tournament"])),
        ("bars", f"{data['bars']:,} from {data['start']} to {data['end']}"),
        ("starting equity", _money(data.get("starting_equity"))),
    ]
    if data.get("sample_data"):
        items.append(("data", SAMPLE_NOTE))
    print_section(
        f"Tournament: {len(data['members'])} configurations on {', '.join(data['symbols'])} "
        f"{data['timeframe']}",
        items,
    )
    cols = [
        Col("configuration"),
        Col("run", right=True),
        Col("trades", right=True),
        Col("realised P&L", right=True),
        Col("return", right=True),
        Col("max DD", right=True),
        Col("Sharpe", right=True),
    ]
    rows = [
        [
            m["name"],
            NONE if m.get("backtest_id") is None else str(m["backtest_id"]),
            str(m.get("trades", NONE)),
            _money(m.get("realised_pnl")),
            _pct(m.get("total_return")),
            _pct(m.get("max_drawdown")),
            fmt_num(m.get("sharpe")),
        ]
        for m in data["members"]
    ]
    print_table("Configurations (each a stored backtest: hmas backtest show RUN)", cols, rows)
    best = data["best_single"]
    compared = [
        ("blended by rank", data["blended"]),
        ("equal weight", data["equal_weight"]),
        (f"best single: {best['name']} (in hindsight)", best),
    ]
    print_table(
        "Blend compared",
        [
            Col("curve"),
            Col("return", right=True),
            Col("max DD", right=True),
            Col("Sharpe", right=True),
            Col("final equity", right=True),
        ],
        [
            [
                name,
                _pct(f.get("total_return")),
                _pct(f.get("max_drawdown")),
                fmt_num(f.get("sharpe")),
                _money(f.get("final_equity")),
            ]
            for name, f in compared
        ],
    )
    _reranks(data["reranks"])


def _reranks(reranks: list[dict[str, Any]]) -> None:
    shown = reranks[-RERANKS_SHOWN:]
    names = [m["name"] for m in reranks[0]["members"]] if reranks else []
    cols = [Col("re-rank"), *(Col(n, right=True) for n in names)]
    rows = []
    for r in shown:
        cells = [r["at"] + ("" if r["full_window"] else " (equal)")]
        for m in r["members"]:
            rank = "" if m["rank"] is None else f"#{m['rank']} "
            cells.append(f"{rank}{_weight(m['weight'])}")
        rows.append(cells)
    title = f"Weights by re-rank (last {len(shown)} of {len(reranks)}; --json lists all)"
    print_table(title, cols, rows)


def standings(data: dict[str, Any]) -> None:
    """The live standings of ``hmas run --tournament``: each book's P&L, rank and weight."""
    current = data.get("current")
    items: list[Item] = [("rules", _rules(data["tournament"]))]
    if current is None:
        items.append(("weights", "equal: no re-rank time has passed since the books started"))
    else:
        window = "" if current["full_window"] else " (before the first full window: equal)"
        items.append(("last re-rank", f"{current['at']}{window}"))
    print_section("Tournament standings", items)
    by_name = {m["name"]: m for m in (current or {}).get("members", [])}
    cols = [
        Col("configuration"),
        Col("book"),
        Col("realised P&L", right=True),
        Col("window P&L", right=True),
        Col("rank", right=True),
        Col("weight", right=True),
        Col("open", right=True),
    ]
    rows = []
    for m in data["members"]:
        ranked = by_name.get(m["name"], {})
        rows.append(
            [
                m["name"],
                m["book"],
                _money(m.get("realised_pnl")),
                _money(ranked.get("window_pnl")),
                NONE if ranked.get("rank") is None else str(ranked["rank"]),
                _weight(m.get("weight")),
                str(m.get("open_positions", 0)),
            ]
        )
    print_table("Books", cols, rows)
