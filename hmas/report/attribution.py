"""Per-agent attribution: did each voter's vote agree with what happened, and what the
guardian and the mother's checks refused.

A closed trade's outcome points one way: a trade that made money (R > 0) proves its side
right, one that lost (R <= 0) proves the other side right. A voter *agreed* with the outcome
when its directional vote (long or short) pointed that way; neutral votes and silences are
counted apart and never agree or disagree. A voter *opposed* a signal when it voted against the
proposal's side: the outcomes of those trades (count, win rate, mean R) say whether its dissent
was worth hearing. Only approved signals have outcomes (a refused trade was never simulated).
"""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from hmas.report.period import Row


def _outcomes(trades: list[Row]) -> dict[str, Any]:
    r_values = [t.r_multiple for t in trades if t.r_multiple is not None]
    return {
        "count": len(trades),
        "wins": sum(t.status == "win" for t in trades),
        "win_rate": round(sum(t.status == "win" for t in trades) / len(trades), 6)
        if trades
        else None,
        "mean_r": round(sum(r_values) / len(r_values), 6) if r_values else None,
    }


def agents(signals: list[Row]) -> list[dict[str, Any]]:
    """Each voter: its votes, agreement with realised outcomes, outcomes it opposed/backed."""
    names = sorted({name for r in signals for name in r.votes})
    closed = [r for r in signals if r.closed and r.r_multiple is not None]
    out = []
    for name in names:
        cast = [r.votes.get(name) for r in signals]
        directional = [
            r
            for r in closed
            if r.votes.get(name) in ("long", "short") and r.side in ("long", "short")
        ]
        agreed = 0
        for r in directional:
            assert r.r_multiple is not None
            right = r.side if r.r_multiple > 0 else ("short" if r.side == "long" else "long")
            agreed += r.votes.get(name) == right
        opposed = [
            r for r in closed if r.side in ("long", "short") and r.votes.get(name) in _other(r.side)
        ]
        backed = [r for r in closed if r.side in ("long", "short") and r.votes.get(name) == r.side]
        unknown: dict[str, str] = {}
        if not directional:
            unknown["agreement_rate"] = (
                "no closed trade in the period"
                if not closed
                else f"{name} cast no directional vote on a closed trade"
            )
        if not opposed:
            unknown["opposed"] = f"{name} opposed no closed trade in the period"
        out.append(
            {
                "agent": name,
                "votes": {
                    "long": cast.count("long"),
                    "short": cast.count("short"),
                    "neutral": cast.count("neutral"),
                    "silent": cast.count(None),
                },
                "judged": len(directional),
                "agreed": agreed,
                "agreement_rate": round(agreed / len(directional), 6) if directional else None,
                "opposed": _outcomes(opposed),
                "backed": _outcomes(backed),
                "unknown": unknown,
            }
        )
    return out


def _other(side: str) -> tuple[str, ...]:
    return ("short",) if side == "long" else ("long",)


def refusals(signals: list[Row]) -> dict[str, Any]:
    """Which guards refused how many signals, and which of the mother's checks failed.

    ``guardian``: signals the mother approved and a guard refused (a signal refused by two
    guards counts for each); ``mother``: the checks failed by REJECTED signals; each with its
    share of the period's rejected signals.
    """
    rejected = [r for r in signals if r.decision == "REJECTED"]
    guards = Counter(g for r in rejected for g in r.refused_by)
    checks = Counter(c for r in rejected for c in r.failed_checks)
    total = len(rejected)

    def table(counter: Counter[str], key: str) -> list[dict[str, Any]]:
        return [
            {key: name, "count": n, "share_of_rejected": round(n / total, 6)}
            for name, n in sorted(counter.items(), key=lambda kv: (-kv[1], kv[0]))
        ]

    return {
        "rejected": total,
        "refused_by_guardian": sum(bool(r.refused_by) for r in rejected),
        "guardian": table(guards, "rule"),
        "mother": table(checks, "check"),
    }
