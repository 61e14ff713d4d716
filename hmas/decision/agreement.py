"""How often the mother's voters agree: with each other, and with the proposal they judge.

Consensus is only a check if the voters carry different information. Two voters that agree on
almost every bar count one opinion twice; a voter that agrees with the others no more than
chance is either independent or noise. This module measures it on any decided history (the
mother's ``run_rules`` frame, e.g. ``compute_history(...).decided``), for the backtest, the
report and ``benchmarks/agreement.py`` (docs/agents.md, "Independent voters"):

- **pairs**: for each pair of voters, on the bars where both cast a directional vote (long or
  short), the share where they agree, the share chance alone would give (from each voter's own
  long/short mix on those bars) and Cohen's kappa, ``(agree - chance) / (1 - chance)``: 0 is
  no more agreement than chance, 1 is the same vote every time;
- **proposals**: for each voter, on the bars where the proposer (alpha) proposes a trade, how
  often it votes with the proposal among its directional votes (``agree``), and the share of
  all proposals it backs (``support``: what consensus sees); overall and per setup.

A vote is read from the decided columns ``vote_<name>`` (+1 long, -1 short, 0 neutral) and
whether it counted, ``voted_<name>`` (or, in frames decided before that column existed, not
``abstained_<name>``). Every rate is a float or ``None`` with the reason: never NaN.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt
    import pandas as pd

    from hmas.decision.history import History

    Bools = npt.NDArray[np.bool_]
    Floats = npt.NDArray[np.float64]

#: Rates are rounded to this many digits in the JSON form (counts are exact).
DIGITS = 6


@dataclass(frozen=True)
class VoterShare:
    """How one voter voted over the bars measured."""

    voter: str
    bars: int
    long: int
    short: int
    neutral: int
    #: Bars where its vote did not count (it abstained, or had nothing to vote on).
    silent: int

    def as_dict(self) -> dict[str, Any]:
        return {
            "voter": self.voter,
            "bars": self.bars,
            "long": self.long,
            "short": self.short,
            "neutral": self.neutral,
            "silent": self.silent,
        }


@dataclass(frozen=True)
class PairAgreement:
    """Two voters on the bars where both cast a directional vote."""

    first: str
    second: str
    both: int
    agree: int
    rate: float | None
    chance: float | None
    kappa: float | None
    reason: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "first": self.first,
            "second": self.second,
            "both": self.both,
            "agree": self.agree,
            "rate": _round(self.rate),
            "chance": _round(self.chance),
            "kappa": _round(self.kappa),
            "reason": self.reason,
        }


@dataclass(frozen=True)
class ProposalAgreement:
    """One voter against the proposals (all of them, or those of one setup)."""

    voter: str
    setup: str | None
    proposals: int
    #: Proposals on which the voter cast a directional vote.
    voted: int
    agree: int
    #: ``agree / voted``: how often its directional votes back the proposal.
    rate: float | None
    #: ``agree / proposals``: the share of all proposals it backs.
    support: float | None
    reason: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "voter": self.voter,
            "setup": self.setup,
            "proposals": self.proposals,
            "voted": self.voted,
            "agree": self.agree,
            "rate": _round(self.rate),
            "support": _round(self.support),
            "reason": self.reason,
        }


@dataclass(frozen=True)
class Agreement:
    """The voters' agreement over a decided history."""

    bars: int
    proposer: str
    voters: tuple[str, ...]
    shares: list[VoterShare] = field(default_factory=list)
    pairs: list[PairAgreement] = field(default_factory=list)
    proposals: list[ProposalAgreement] = field(default_factory=list)

    def pair(self, first: str, second: str) -> PairAgreement:
        """The agreement of two voters (in either order)."""
        for p in self.pairs:
            if {p.first, p.second} == {first, second}:
                return p
        raise KeyError(f"no pair {first}/{second}; voters: {', '.join(self.voters)}")

    def with_proposer(self, voter: str, setup: str | None = None) -> ProposalAgreement:
        """A voter's agreement with the proposals (of ``setup``, or all of them)."""
        for p in self.proposals:
            if p.voter == voter and p.setup == setup:
                return p
        raise KeyError(f"no proposal row for {voter} (setup {setup})")

    def as_dict(self) -> dict[str, Any]:
        return {
            "bars": self.bars,
            "proposer": self.proposer,
            "voters": list(self.voters),
            "shares": [s.as_dict() for s in self.shares],
            "pairs": [p.as_dict() for p in self.pairs],
            "proposals": [p.as_dict() for p in self.proposals],
        }


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, DIGITS)


def voters_of(decided: pd.DataFrame) -> tuple[str, ...]:
    """The voters a decided frame holds: its ``vote_<name>`` columns, in order."""
    return tuple(str(c)[len("vote_") :] for c in decided.columns if str(c).startswith("vote_"))


def votes(decided: pd.DataFrame, name: str) -> tuple[Floats, Bools]:
    """A voter's side per bar (+1, -1, 0) and whether its vote counted."""
    import numpy as np

    n = len(decided)
    side = np.sign(_floats(decided, f"vote_{name}"))
    if f"voted_{name}" in decided.columns:
        counted = _bools(decided, f"voted_{name}")
    elif f"abstained_{name}" in decided.columns:
        counted = ~_bools(decided, f"abstained_{name}")
    else:
        counted = np.ones(n, dtype=bool)
    counted = counted & np.isfinite(side)
    return np.where(counted, side, 0.0), counted


def measure_agreement(
    decided: pd.DataFrame,
    *,
    setups: Sequence[Any] | npt.ArrayLike | None = None,
    proposer: str = "alpha",
    voters: Sequence[str] | None = None,
) -> Agreement:
    """Pairwise agreement of the voters and their agreement with the proposals.

    ``decided``: the mother's decided rows (columns ``vote_*``, ``voted_*`` or ``abstained_*``,
    and ``direction``, the side of the proposal, 0 without one). ``setups``: the proposer's
    setup per row (alpha's ``setup`` column), for a row per setup besides the overall one.
    """
    import numpy as np

    names = tuple(voters) if voters is not None else voters_of(decided)
    n = len(decided)
    sides = {name: votes(decided, name) for name in names}
    shares = [
        VoterShare(
            name,
            n,
            int((side > 0).sum()),
            int((side < 0).sum()),
            int((counted & (side == 0)).sum()),
            int((~counted).sum()),
        )
        for name, (side, counted) in sides.items()
    ]
    pairs = [
        _pair(a, b, sides[a][0], sides[b][0]) for k, a in enumerate(names) for b in names[k + 1 :]
    ]
    direction = np.sign(_floats(decided, "direction"))
    proposed = np.isfinite(direction) & (direction != 0)
    groups: list[tuple[str | None, Bools]] = [(None, proposed)]
    if setups is not None:
        labels = np.asarray(setups, dtype=object)
        if len(labels) != n:
            raise ValueError(f"{len(labels)} setups for {n} decided rows")
        for label in sorted({s for s in labels[proposed] if isinstance(s, str)}):
            groups.append((label, proposed & (labels == label)))
    proposals = [
        _with_proposal(name, label, mask, direction, sides[name][0])
        for label, mask in groups
        for name in names
    ]
    return Agreement(n, proposer, names, shares, pairs, proposals)


def _pair(first: str, second: str, a: Floats, b: Floats) -> PairAgreement:
    both = (a != 0) & (b != 0)
    count = int(both.sum())
    if count == 0:
        return PairAgreement(
            first, second, 0, 0, None, None, None, "no bar where both cast a directional vote"
        )
    agree = int((a[both] == b[both]).sum())
    rate = agree / count
    long_a, long_b = float((a[both] > 0).mean()), float((b[both] > 0).mean())
    chance = long_a * long_b + (1 - long_a) * (1 - long_b)
    if chance >= 1.0:
        return PairAgreement(
            first,
            second,
            count,
            agree,
            rate,
            chance,
            None,
            "kappa undefined: both voted one side only on these bars",
        )
    return PairAgreement(first, second, count, agree, rate, chance, (rate - chance) / (1 - chance))


def _with_proposal(
    voter: str, setup: str | None, mask: Bools, direction: Floats, side: Floats
) -> ProposalAgreement:
    proposals = int(mask.sum())
    if proposals == 0:
        return ProposalAgreement(voter, setup, 0, 0, 0, None, None, "no proposal")
    voted = mask & (side != 0)
    agree = int((voted & (side == direction)).sum())
    count = int(voted.sum())
    rate = agree / count if count else None
    reason = None if count else "no directional vote on a proposal"
    return ProposalAgreement(voter, setup, proposals, count, agree, rate, agree / proposals, reason)


def _floats(decided: pd.DataFrame, name: str) -> Floats:
    import numpy as np
    import pandas as pd

    if name not in decided.columns:
        return np.zeros(len(decided))
    values: Floats = pd.to_numeric(decided[name], errors="coerce").to_numpy(
        dtype=np.float64, na_value=np.nan
    )
    return values


def _bools(decided: pd.DataFrame, name: str) -> Bools:
    import numpy as np

    flags: Bools = decided[name].eq(True).to_numpy(dtype=bool, na_value=False)
    return np.asarray(flags, dtype=bool)


def markdown(agreement: Agreement, title: str | None = None) -> str:
    """The agreement as markdown tables (pairs, then agreement with the proposals)."""
    lines = [f"#### {title}", ""] if title else []
    lines += [
        f"{agreement.bars} bars. Pairs, on bars where both cast a directional vote:",
        "",
        "| pair | both vote | agree | chance | kappa |",
        "|---|---:|---:|---:|---:|",
    ]
    for p in agreement.pairs:
        lines.append(
            f"| {p.first} / {p.second} | {p.both} | {_pct(p.rate)} | {_pct(p.chance)} | "
            f"{_num(p.kappa)} |"
        )
    lines += [
        "",
        f"With {agreement.proposer}'s proposals (agree: of the voter's directional votes on "
        "them; support: of all proposals):",
        "",
        "| voter | setup | proposals | voted | agree | support |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for q in agreement.proposals:
        lines.append(
            f"| {q.voter} | {q.setup or 'all'} | {q.proposals} | {q.voted} | {_pct(q.rate)} | "
            f"{_pct(q.support)} |"
        )
    return "\n".join(lines)


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.1f}%"


def _num(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}"


def history_agreement(history: History) -> Agreement:
    """``measure_agreement`` of a history pass, per setup of alpha's proposals too."""
    import pandas as pd

    decided = history.decided
    if decided is None:
        raise ValueError("the history was computed without deciding (decide=False)")
    alpha = history.frames.get("alpha")
    setups = None
    if alpha is not None and "setup" in alpha.columns:
        setups = alpha["setup"].to_numpy(dtype=object)
    return measure_agreement(pd.DataFrame(decided), setups=setups)
