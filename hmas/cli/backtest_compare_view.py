"""How ``hmas backtest --compare / --ablate / --walk-forward`` print (through render)."""

from __future__ import annotations

from typing import Any

from hmas.cli.render import NONE, Col, print_table, text_line


def _pct(value: Any) -> str:
    return NONE if value is None else f"{value * 100:.2f}%"


def _num(value: Any, digits: int = 3) -> str:
    return NONE if value is None else f"{value:.{digits}f}"


def _signed(value: Any, digits: int = 3) -> str:
    return NONE if value is None else f"{value:+.{digits}f}"


def _ci(data: dict[str, Any] | None, signed: bool = False) -> str:
    """A mean in R with its 95% interval: ``-0.12R [-0.40, 0.15] n=31``."""
    if not data or data.get("mean") is None:
        return NONE
    fmt = _signed if signed else _num
    text = f"{fmt(data['mean'], 2)}R"
    if data.get("ci_low") is not None:
        text += f" [{fmt(data['ci_low'], 2)}, {fmt(data['ci_high'], 2)}]"
    return text + f" n={data['count']}"


def _sample(data: dict[str, Any]) -> bool:
    return any(s.get("source") == "sample" for s in data.get("series") or [])


def _span(data: dict[str, Any]) -> str:
    parts = [f"{s['symbol']} {s['first']} to {s['last']}" for s in data.get("series") or []]
    return "; ".join(parts)


def comparison(data: dict[str, Any]) -> None:
    """The ranked runs and the paired test of the top two."""
    cols = [
        Col("#", right=True),
        Col("config"),
        Col("hash"),
        Col("trades", right=True),
        Col("approvals", right=True),
        Col("return", right=True),
        Col("max DD", right=True),
        Col("expectancy (95% CI)", text=True),
    ]
    rows = []
    for run in data["runs"]:
        s = run["summary"]
        rows.append(
            [
                str(run["rank"]),
                run["label"],
                run["config_hash"][:8],
                str(s["trades"]),
                str(s["approvals"]),
                _pct(s["total_return"]),
                _pct(s["max_drawdown"]),
                _ci(s["expectancy_r"]),
            ]
        )
    print_table(f"Comparison on the same candles: {_span(data)}", cols, rows, sample=_sample(data))
    test = data["paired_test"]
    if test.get("mean") is None:
        text_line(f"Paired test: none ({test.get('reason')}).")
        return
    text_line(
        f"{test['first']} vs {test['second']}: mean daily return difference "
        f"{test['mean'] * 100:+.4f}% (95% CI {test['ci_low'] * 100:+.4f}% to "
        f"{test['ci_high'] * 100:+.4f}%, p={test['p_value']:.4f}, {test['count']} days, "
        f"blocks of {test['block']}): {test['verdict']}."
    )
    text_line(f"Test: {test['method']}.")


def ablation(data: dict[str, Any]) -> None:
    """Agent, Δ expectancy, Δ approvals, Δ Brier, with the baseline first."""
    cols = [
        Col("agent removed"),
        Col("approvals", right=True),
        Col("Δ approvals", right=True),
        Col("Brier", right=True),
        Col("Δ Brier", right=True),
        Col("Δ expectancy (95% CI)", text=True),
    ]
    b = data["baseline"]
    rows = [
        [
            "none (baseline)",
            str(b["approvals"]),
            "",
            _num(b["brier"], 4),
            "",
            f"expectancy {_ci(b['expectancy_r'])}",
        ]
    ]
    for row in data["rows"]:
        if not row["removed"]:
            rows.append([row["agent"], NONE, NONE, NONE, NONE, row["reason"]])
            continue
        delta = _ci(row["delta_expectancy_r"], signed=True)
        if delta == NONE:
            delta = f"{NONE} ({row['delta_expectancy_reason']})"
        rows.append(
            [
                row["agent"],
                str(row["approvals"]),
                f"{row['delta_approvals']:+d}",
                _num(row["brier"], 4),
                _signed(row["delta_brier"], 4),
                delta,
            ]
        )
    print_table(f"Ablation: {_span(data)}", cols, rows, sample=_sample(data))
    text_line(
        "Removed: the agent abstains on every bar (decision.ablate). Brier: the mother's "
        "p(win) of every proposal against its paper outcome. Δ: ablated minus baseline."
    )


def walk_forward(data: dict[str, Any]) -> None:
    """Per window and pooled: the out-of-sample figures."""
    cols = [
        Col("window"),
        Col("trades", right=True),
        Col("approv.", right=True),
        Col("win rate", right=True),
        Col("Brier/const", right=True),
        Col("return", right=True),
        Col("max DD", right=True),
        Col("expectancy (95% CI)", text=True),
    ]

    def line(name: str, f: dict[str, Any]) -> list[str]:
        brier = NONE if f["brier"] is None else f"{f['brier']:.3f}/{_num(f['brier_constant'], 3)}"
        return [
            name,
            str(f["trades"]),
            str(f["approvals"]),
            _pct(f["win_rate"]),
            brier,
            _pct(f["total_return"]),
            _pct(f["max_drawdown"]),
            _ci(f["expectancy_r"]),
        ]

    rows = [line(f"{w['window']}: {w['start'][:10]}", w) for w in data["windows"]]
    rows.append(line("pooled", data["pooled"]))
    print_table(f"Walk-forward: {_span(data)}", cols, rows, sample=_sample(data))
    text_line(
        "Each window starts a fresh paper account; its base rates are frozen at its start "
        "(setups resolved before it). Pooled return: the windows chained."
    )
