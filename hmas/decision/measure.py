"""What the numbers a signal states were worth: every proposal of a history pass, followed.

``follow_proposals`` takes a history pass (``hmas.decision.history.compute_history``) and
follows every bar where alpha proposed a trade with the one simulator
(``hmas.risk.positions.simulate``: filled at the next bar's open, stop, target or expiry after
``risk.expiry``), whether or not the mother approved it. Its realised
payoff is in R of the planned risk ``|entry − stop|``, net of the round-trip cost the
execution auditor stated on that bar (fees, spread, slippage; unknown when it stated none).

``measure`` then reports, for one series: proposals, approvals, the expectancy in R with a
95% bootstrap interval (``hmas.stats.mean_ci``) of every proposal and of the approved ones,
and the calibration of the stated win probability (``p_win``) against target-first outcomes
(``hmas.stats.calibration``: a reliability table and the Brier score against a constant).

``adjustment_tests`` checks whether a shift of the probability (by the votes, the macro
regime, the conviction) earns its place: the shift's coefficient is fitted on the earlier
half of the resolved proposals (chronologically) and scored on the later half, against the
unshifted probability. The base rate behind the probability is causal (it counts setups
resolved strictly before the bar), so scoring it on every resolved proposal is out of sample;
a fitted shift is not, hence the split.

``benchmarks/calibration.py`` runs all of this over every file in ``../shared/data/ohlcv``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from hmas.stats import Calibration, MeanCI, brier, calibration, mean_ci

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    from hmas.decision.history import History
    from hmas.settings import Settings

    Floats = npt.NDArray[np.float64]


@dataclass(frozen=True)
class Followed:
    """Every proposal of a pass, in bar order, and what its paper position did.

    ``status`` uses ``simulate``'s codes (win, loss, expired, open, unfilled); ``gross_r`` is
    the price move from the fill to the exit in R of the planned risk, ``net_r`` that minus
    ``cost_r`` (NaN where the position has not closed or the auditor stated no cost).
    ``columns`` holds the decided row's numbers at each proposal (``p_win``, ``consensus``…).
    """

    bar: npt.NDArray[np.int64]
    time_ms: npt.NDArray[np.int64]
    direction: Floats
    status: npt.NDArray[np.int8]
    gross_r: Floats
    cost_r: Floats
    net_r: Floats
    approved: npt.NDArray[np.bool_]
    columns: dict[str, npt.NDArray[Any]] = field(default_factory=dict)

    @property
    def closed(self) -> npt.NDArray[np.bool_]:
        from hmas.risk.positions import OPEN

        result: npt.NDArray[np.bool_] = self.status < OPEN
        return result

    @property
    def won(self) -> Floats:
        """1.0 where the target was hit first, 0.0 otherwise (closed positions only matter)."""
        import numpy as np

        from hmas.risk.positions import WIN

        won: Floats = (self.status == WIN).astype(np.float64)
        return won


#: Columns of the decided rows kept for every proposal (those a pass has).
KEPT = (
    "p_win",
    "p_base",
    "p_raw",
    "consensus",
    "confidence",
    "conviction",
    "vote_macro",
    "reward_risk",
    "ev_r",
    "risk_adjusted_ev_r",
    "base_rate_trades",
    "base_rate_wins",
    "p_prior",
    "history_weight",
)


def follow_proposals(history: History, settings: Settings) -> Followed:
    """Every bar of ``history`` where a trade was proposed, followed to its outcome."""
    import numpy as np

    from hmas.risk.positions import simulate

    decided = history.decided
    if decided is None:
        raise ValueError("the history pass was computed without deciding (decide=False)")
    ohlc = history.features[["open", "high", "low", "close"]].to_numpy(
        dtype=np.float64, na_value=np.nan
    )
    direction = decided["direction"].to_numpy(dtype=np.float64)
    bars = np.flatnonzero(direction != 0)
    entry, stop, target = (
        decided[c].to_numpy(dtype=np.float64)[bars] for c in ("entry", "stop", "target")
    )
    sim = simulate(
        ohlc,
        bars,
        direction[bars] > 0,
        stop,
        target,
        expiry_bars=settings.risk.expiry_bars(history.parts[0].output.context.timeframe),
    )
    sign = direction[bars]
    with np.errstate(divide="ignore", invalid="ignore"):
        gross = sign * (sim.exit_price - sim.fill_price) / np.abs(entry - stop)
    closed = sim.status < 2  # WIN, LOSS, EXPIRED
    gross = np.where(closed & np.isfinite(gross), gross, np.nan)
    cost = decided["cost_r"].to_numpy(dtype=np.float64)[bars]
    net = gross - cost  # NaN where either is unknown
    approved = decided["approved"].to_numpy(dtype=bool)[bars]
    if "data_ok" in decided.columns:
        approved &= decided["data_ok"].to_numpy(dtype=bool)[bars]
    columns = {name: decided[name].to_numpy()[bars] for name in KEPT if name in decided.columns}
    return Followed(
        bar=bars.astype(np.int64),
        time_ms=history.index.as_unit("ms").asi8[bars].astype(np.int64),
        direction=sign,
        status=sim.status,
        gross_r=gross,
        cost_r=cost,
        net_r=net,
        approved=approved,
        columns=columns,
    )


@dataclass(frozen=True)
class Measurement:
    """The measured numbers of one series (see the module docstring)."""

    series: str
    bars: int
    proposals: int
    resolved: int
    wins: int
    losses: int
    expired: int
    approvals: int
    expectancy: MeanCI
    expectancy_gross: MeanCI
    expectancy_approved: MeanCI
    calibration: Calibration
    calibration_base: Calibration | None
    #: Comparable setups behind each proposal's numbers: the median count, and how many
    #: proposals had none (None when the pass has no such column).
    history_median: float | None = None
    no_history: int | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "series": self.series,
            "bars": self.bars,
            "proposals": self.proposals,
            "resolved": self.resolved,
            "wins": self.wins,
            "losses": self.losses,
            "expired": self.expired,
            "approvals": self.approvals,
            "expectancy_r": self.expectancy.as_dict(),
            "expectancy_gross_r": self.expectancy_gross.as_dict(),
            "expectancy_approved_r": self.expectancy_approved.as_dict(),
            "calibration": self.calibration.as_dict(),
            "calibration_base": None
            if self.calibration_base is None
            else self.calibration_base.as_dict(),
            "history_median": self.history_median,
            "no_history": self.no_history,
        }


def measure(series: str, bars: int, followed: Followed) -> Measurement:
    """The proposals' counts, expectancy and calibration (resolved proposals only)."""
    import numpy as np

    from hmas.risk.positions import EXPIRED, LOSS, WIN

    closed = followed.closed
    stated = followed.columns.get("p_win")
    base = followed.columns.get("p_base")
    y = followed.won[closed]
    trades = followed.columns.get("base_rate_trades")
    history_median = no_history = None
    if trades is not None and len(trades):
        counts = _floats(trades)
        history_median = float(np.median(counts))
        no_history = int((counts == 0).sum())
    return Measurement(
        series=series,
        bars=bars,
        proposals=len(followed.bar),
        resolved=int(closed.sum()),
        wins=int((followed.status == WIN).sum()),
        losses=int((followed.status == LOSS).sum()),
        expired=int((followed.status == EXPIRED).sum()),
        approvals=int(followed.approved.sum()),
        expectancy=mean_ci(followed.net_r[closed]),
        expectancy_gross=mean_ci(followed.gross_r[closed]),
        expectancy_approved=mean_ci(followed.net_r[closed & followed.approved]),
        calibration=calibration(
            np.full(int(closed.sum()), np.nan) if stated is None else _floats(stated)[closed], y
        ),
        calibration_base=None if base is None else calibration(_floats(base)[closed], y),
        history_median=history_median,
        no_history=no_history,
    )


def _floats(values: npt.ArrayLike) -> Floats:
    import numpy as np

    out: Floats = np.asarray(values, dtype=np.float64)
    return out


# --- does a shift of the probability earn its place? ------------------------------------


def shifts(followed: Followed) -> dict[str, Floats]:
    """Candidate shifts of the probability, one value per proposal (0: no information).

    ``votes``: 2·consensus − 1 (the shift today's mother applies, scaled by
    ``vote_adjustment``); ``regime``: +1 when the macro tailwind is the trade's side, −1
    against, 0 none; ``conviction``: consensus × confidence.
    """
    import numpy as np

    out: dict[str, Floats] = {}
    cols = followed.columns
    if "consensus" in cols:
        out["votes"] = 2 * _floats(cols["consensus"]) - 1
    if "vote_macro" in cols:
        out["regime"] = _floats(cols["vote_macro"]) * followed.direction
    if "conviction" in cols:
        out["conviction"] = _floats(cols["conviction"])
    return {k: np.where(np.isfinite(v), v, 0.0) for k, v in out.items()}


@dataclass(frozen=True)
class ShiftTest:
    """A shift ``p + a·(x − mean x)`` fitted on earlier proposals, scored on later ones."""

    name: str
    train: int
    test: int
    coefficient: float | None
    brier_without: float | None
    brier_with: float | None
    #: The mean per-proposal reduction of the squared error, with its 95% interval.
    gain: MeanCI | None = None

    @property
    def improves(self) -> bool | None:
        """True only when the whole interval of the gain is above zero."""
        if self.gain is None or self.gain.low is None:
            return None
        return self.gain.low > 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "shift": self.name,
            "train": self.train,
            "test": self.test,
            "coefficient": self.coefficient,
            "brier_without": self.brier_without,
            "brier_with": self.brier_with,
            "gain": None if self.gain is None else self.gain.as_dict(),
            "improves": self.improves,
        }


def adjustment_tests(parts: Sequence[Followed], probability: str = "p_base") -> list[ShiftTest]:
    """Each candidate shift of ``probability``, fitted on the earlier half of each part's
    resolved proposals (pooled), scored on the later halves (pooled).

    The coefficient minimises the squared error of ``p + a·(x − x̄)`` on the training half
    (least squares; x̄ its mean there); the shifted probability is clipped to [0.01, 0.99].
    A shift improves the probability only when the 95% interval of its mean gain in squared
    error on the test half lies above zero (a smaller Brier score by chance is not a gain).
    """
    import numpy as np

    names = sorted(set.intersection(*(set(shifts(f)) for f in parts))) if parts else []
    results = []
    for name in names:
        train_p, train_x, train_y, test_p, test_x, test_y = ([] for _ in range(6))
        for f in parts:
            if probability not in f.columns:
                continue
            closed = np.flatnonzero(f.closed)
            p = _floats(f.columns[probability])
            x = shifts(f)[name]
            half = len(closed) // 2
            early, late = closed[:half], closed[half:]
            train_p.append(p[early])
            train_x.append(x[early])
            train_y.append(f.won[early])
            test_p.append(p[late])
            test_x.append(x[late])
            test_y.append(f.won[late])
        if not train_p:
            continue
        tp, tx, ty = (np.concatenate(v) for v in (train_p, train_x, train_y))
        sp, sx, sy = (np.concatenate(v) for v in (test_p, test_x, test_y))
        keep_t, keep_s = np.isfinite(tp), np.isfinite(sp)
        tp, tx, ty, sp, sx, sy = (
            tp[keep_t],
            tx[keep_t],
            ty[keep_t],
            sp[keep_s],
            sx[keep_s],
            sy[keep_s],
        )
        coefficient = with_shift = gain = None
        if len(tx) and len(sx):
            centre = float(tx.mean())
            dx = tx - centre
            denom = float((dx**2).sum())
            if denom > 0:
                coefficient = float((dx * (ty - tp)).sum() / denom)
                shifted = np.clip(sp + coefficient * (sx - centre), 0.01, 0.99)
                with_shift = brier(shifted, sy)
                gain = mean_ci((sp - sy) ** 2 - (shifted - sy) ** 2)
        results.append(
            ShiftTest(
                name=name,
                train=len(tx),
                test=len(sx),
                coefficient=coefficient,
                brier_without=brier(sp, sy),
                brier_with=with_shift,
                gain=gain,
            )
        )
    return results


def fixed_shift_test(
    parts: Sequence[Followed], name: str, coefficient: float, probability: str = "p_base"
) -> ShiftTest:
    """The shift ``p + coefficient·x`` with a coefficient chosen beforehand (nothing fitted on
    these outcomes, so every resolved proposal is out of sample), clipped to [0.01, 0.99]:
    e.g. the vote shift of 0.2·(2·consensus − 1) the mother applied before."""
    import numpy as np

    p_all, x_all, y_all = [], [], []
    for f in parts:
        if probability not in f.columns or name not in shifts(f):
            continue
        closed = f.closed
        p_all.append(_floats(f.columns[probability])[closed])
        x_all.append(shifts(f)[name][closed])
        y_all.append(f.won[closed])
    if not p_all:
        return ShiftTest(name, 0, 0, coefficient, None, None)
    p, x, y = (np.concatenate(v) for v in (p_all, x_all, y_all))
    keep = np.isfinite(p)
    p, x, y = p[keep], x[keep], y[keep]
    shifted = np.clip(p + coefficient * x, 0.01, 0.99)
    return ShiftTest(
        name=f"{name} (fixed)",
        train=0,
        test=len(p),
        coefficient=coefficient,
        brier_without=brier(p, y),
        brier_with=brier(shifted, y),
        gain=mean_ci((p - y) ** 2 - (shifted - y) ** 2),
    )
