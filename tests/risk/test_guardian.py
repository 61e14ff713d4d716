"""The guardian: each limit refuses a proposal breaking it, presets, hostile numbers, replay."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hmas.risk.guardian import (
    LIMIT_IDS,
    TOLERANCE,
    AccountState,
    GuardianVerdict,
    Proposal,
    check,
    max_size,
)
from hmas.settings import RiskParams

H = 3_600_000
T = 1_709_251_200_000  # 2024-03-01T00:00Z
NAN, INF = math.nan, math.inf


def state(**kw: Any) -> AccountState:
    base: dict[str, Any] = {
        "equity": 100_000.0,
        "day_start_equity": 100_000.0,
        "peak_equity": 100_000.0,
    }
    return AccountState(**(base | kw))


def proposal(**kw: Any) -> Proposal:
    # Risks 100 units x 5 = 500 at the stop, 550 with the default 10 % gap allowance: about
    # half of the default 1 % of 100,000. No costs unless a test gives them.
    base: dict[str, Any] = {
        "symbol": "BTC-USD",
        "side": "BUY",
        "entry": 100.0,
        "stop": 95.0,
        "size": 100.0,
        "bar_ts": T,
        "bar_ms": H,
    }
    return Proposal(**(base | kw))


def refused(verdict: GuardianVerdict) -> list[str]:
    return [v.limit for v in verdict.violations]


def detail(verdict: GuardianVerdict, limit: str) -> str:
    return next(v.detail for v in verdict.violations if v.limit == limit)


def test_all_clear_is_allowed() -> None:
    verdict = check(proposal(), state(), RiskParams())
    assert verdict.allowed
    assert verdict.violations == []
    assert verdict.reason is None
    assert verdict.limits["daily_loss_limit"] == 0.05
    assert verdict.limits["max_drawdown"] == 0.10
    assert verdict.limits["cooldown_ms"] == 6 * H
    assert verdict.measures["risk_money"] == pytest.approx(550.0)
    assert verdict.measures["notional"] == 10_000.0
    assert verdict.limits["gap_allowance"] == 0.1 and verdict.limits["max_leverage"] == 1.0


@pytest.mark.parametrize(("in_state", "argument"), [(True, False), (False, True), (True, True)])
def test_kill_switch(in_state: bool, argument: bool) -> None:
    verdict = check(proposal(), state(kill_switch=in_state), RiskParams(), kill_switch=argument)
    assert refused(verdict) == ["kill_switch"]
    assert verdict.limits["kill_switch"] is True
    assert "kill switch is on" in detail(verdict, "kill_switch")


def test_paused_until_a_later_bar() -> None:
    verdict = check(proposal(), state(paused_until_ts=T + H), RiskParams())
    assert refused(verdict) == ["paused"]
    assert "2024-03-01T01:00Z" in detail(verdict, "paused")
    assert check(proposal(), state(paused_until_ts=T), RiskParams()).allowed


@pytest.mark.parametrize(("equity", "text"), [(94_000.0, "6.00%"), (95_000.0, "5.00%")])
def test_daily_loss_at_or_beyond_the_limit(equity: float, text: str) -> None:
    verdict = check(proposal(), state(equity=equity), RiskParams())
    assert refused(verdict) == ["daily_loss"]
    assert text in detail(verdict, "daily_loss")
    assert "5.00% daily loss limit" in detail(verdict, "daily_loss")


def test_daily_loss_worst_case_of_the_trade_and_open_risk() -> None:
    # 4 % lost, 500 open, 750 x 1.1 = 825 more at risk: 5.33 % of 100,000 if every stop is hit.
    s = state(equity=96_000.0, open_risk=500.0)
    verdict = check(proposal(size=150.0), s, RiskParams())
    assert refused(verdict) == ["daily_loss"]
    assert "5.33%" in detail(verdict, "daily_loss")
    assert check(proposal(size=150.0), state(equity=96_000.0), RiskParams()).allowed


def test_max_drawdown_from_the_peak() -> None:
    s = state(equity=107_000.0, day_start_equity=107_000.0, peak_equity=120_000.0)
    verdict = check(proposal(), s, RiskParams())
    assert refused(verdict) == ["max_drawdown"]
    assert "10.83%" in detail(verdict, "max_drawdown")
    assert "120,000.00" in detail(verdict, "max_drawdown")


def test_max_drawdown_worst_case() -> None:
    # 10,000 below a 110,000 peak (9.09 %) plus 700 open and 550 at risk: 10.23 %.
    s = state(peak_equity=110_000.0, open_risk=700.0)
    verdict = check(proposal(), s, RiskParams())
    assert refused(verdict) == ["max_drawdown"]
    assert "10.23%" in detail(verdict, "max_drawdown")


def test_presets_set_the_daily_and_drawdown_limits() -> None:
    small = proposal(size=10.0)  # 50 at risk: the worst case stays near the current loss
    s = state(equity=95_400.0)  # 4.6 % down today
    assert check(small, s, RiskParams()).allowed
    strict = check(small, s, RiskParams(preset="strict"))
    assert refused(strict) == ["daily_loss"]
    assert "4.50% daily loss limit" in detail(strict, "daily_loss")
    assert strict.limits["daily_loss_limit"] == 0.045
    # An explicit limit wins over the preset (the preset fills only the limits not given).
    tight = RiskParams(preset="ftmo", daily_loss_limit=0.01, max_drawdown=0.02)
    assert refused(check(small, state(equity=98_000.0), tight)) == ["daily_loss", "max_drawdown"]
    custom = RiskParams(daily_loss_limit=0.01, max_drawdown=0.02)
    assert refused(check(small, state(equity=98_000.0), custom)) == [
        "daily_loss",
        "max_drawdown",
    ]
    dd = state(equity=90_500.0, day_start_equity=90_500.0)  # 9.5 % below the peak
    assert check(small, dd, RiskParams(preset="ftmo")).allowed
    assert refused(check(small, dd, RiskParams(preset="strict"))) == ["max_drawdown"]


def test_max_open_positions() -> None:
    verdict = check(proposal(), state(open_positions=3), RiskParams())
    assert refused(verdict) == ["max_open_positions"]
    assert "3 positions are open and at most 3" in detail(verdict, "max_open_positions")
    # The larger of the count and the listed symbols counts.
    listed = state(open_symbols=("ETH-USD", "SOL-USD", "ADA-USD"))
    assert refused(check(proposal(), listed, RiskParams())) == ["max_open_positions"]
    assert check(proposal(), state(open_positions=2), RiskParams()).allowed


def test_symbol_already_has_a_position() -> None:
    s = state(open_positions=1, open_symbols=("BTC-USD",))
    verdict = check(proposal(), s, RiskParams())
    assert refused(verdict) == ["symbol_has_position"]
    assert "BTC-USD" in detail(verdict, "symbol_has_position")
    assert check(proposal(symbol="ETH-USD"), s, RiskParams()).allowed


def test_cooldown() -> None:
    recent = state(last_signal_ts={"BTC-USD": T - 5 * H})
    verdict = check(proposal(), recent, RiskParams())
    assert refused(verdict) == ["cooldown"]
    assert "5 bars before" in detail(verdict, "cooldown")
    assert "the cooldown is 6 bars" in detail(verdict, "cooldown")
    assert check(proposal(), state(last_signal_ts={"BTC-USD": T - 6 * H}), RiskParams()).allowed
    assert check(proposal(symbol="ETH-USD"), recent, RiskParams()).allowed
    same_bar = state(last_signal_ts={"BTC-USD": T})
    assert check(proposal(), same_bar, RiskParams(cooldown_bars=0)).allowed
    # A signal stamped after the bar (a clock mix-up) fails closed.
    later = state(last_signal_ts={"BTC-USD": T + H})
    assert refused(check(proposal(), later, RiskParams())) == ["cooldown"]


def test_risk_per_trade_is_refused_not_resized() -> None:
    verdict = check(proposal(size=201.0), state(), RiskParams(gap_allowance=0.0))
    assert refused(verdict) == ["risk_per_trade"]
    text = detail(verdict, "risk_per_trade")
    assert "1,005.00" in text and "1.00%" in text and "1,000.00" in text
    assert verdict.measures["max_size"] == pytest.approx(200.0)


def test_risk_per_trade_counts_the_costs_and_the_gap_allowance() -> None:
    # 60 bps fee, 8 bps spread, 3 bps slippage a side: the stop-out from 100 to 95 - 0.5 costs
    # 100.07 x 1.006 - 94.5 x 0.9993 x 0.994 = 6.8040... per unit.
    costs = {"fee_bps": 60.0, "spread_bps": 8.0, "slippage_bps": 3.0}
    unit = 100.07 * 1.006 - 94.5 * 0.9993 * 0.994
    fits = proposal(size=1_000.0 / unit, **costs)
    assert check(fits, state(), RiskParams()).allowed
    assert check(fits, state(), RiskParams()).measures["max_size"] == pytest.approx(1_000 / unit)
    over = check(proposal(size=1.01 * 1_000 / unit, **costs), state(), RiskParams())
    assert refused(over) == ["risk_per_trade"]
    assert f"x {unit:g} lost at the stop after costs and a 10% gap allowance" in detail(
        over, "risk_per_trade"
    )
    # Gross, the same size would have fit: 1,000 / 6.80 x 5.5 < 1,000.
    assert check(proposal(size=1_000.0 / unit), state(), RiskParams()).allowed


def test_a_quote_in_another_currency_is_checked_in_the_account_currency() -> None:
    # ETH/BTC at 0.05 BTC, stop 0.049, BTC at 20,000 USD: 45 ETH risk 45 x 0.0011 x 20,000.
    eth = proposal(symbol="ETH-BTC", entry=0.05, stop=0.049, size=45.0, quote_rate=20_000.0)
    verdict = check(eth, state(), RiskParams())
    assert verdict.allowed
    assert verdict.measures["risk_money"] == pytest.approx(990.0)
    assert verdict.measures["notional"] == pytest.approx(45_000.0)
    assert verdict.measures["max_size"] == pytest.approx(1_000 / 22)
    assert refused(check(eth.model_copy(update={"size": 46.0}), state(), RiskParams())) == [
        "risk_per_trade"
    ]


def test_max_notional_counts_the_open_positions() -> None:
    # A 60,000 trade fits 1x equity alone, not beside 50,000 already open.
    big = proposal(entry=100.0, stop=99.9, size=600.0)
    assert check(big, state(), RiskParams()).allowed
    verdict = check(big, state(open_notional=50_000.0), RiskParams())
    assert refused(verdict) == ["max_notional"]
    assert detail(verdict, "max_notional") == (
        "The notional would be the open 50,000.00 plus this trade's 60,000.00 (600 units x 100), "
        "more than 1x equity 100,000.00 = 100,000.00."
    )
    assert check(big, state(open_notional=50_000.0), RiskParams(max_leverage=2.0)).allowed
    alone = check(proposal(entry=100.0, stop=99.9, size=1_001.0), state(), RiskParams())
    assert refused(alone) == ["max_notional"]
    assert detail(alone, "max_notional").startswith("The notional would be this trade's 100,100")
    unmeasurable = check(proposal(), state(open_notional=NAN), RiskParams())
    assert refused(unmeasurable) == ["max_notional"]
    assert "cannot be measured" in detail(unmeasurable, "max_notional")


def test_size_from_max_size_passes() -> None:
    params = RiskParams(risk_per_trade=0.013)
    for entry, stop, equity in [(100.0, 95.0, 100_000.0), (0.1, 0.07, 12_345.67), (3.3, 3.4, 0.3)]:
        size = max_size(entry, stop, equity, params)
        side = "BUY" if stop < entry else "SELL"
        p = proposal(entry=entry, stop=stop, size=size, side=side)
        s = state(equity=equity, day_start_equity=equity, peak_equity=equity)
        assert check(p, s, params).allowed, (entry, stop, equity)


def test_max_size() -> None:
    gross = RiskParams(gap_allowance=0.0)
    assert max_size(100.0, 95.0, 100_000.0, gross) == pytest.approx(200.0)
    assert max_size(100.0, 95.0, 100_000.0, RiskParams()) == pytest.approx(1_000 / 5.5)
    more = RiskParams(risk_per_trade=0.02, gap_allowance=0.0)
    assert max_size(95.0, 100.0, 100_000.0, more) == pytest.approx(400)
    # A tight stop is capped by the notional: 1x equity / entry.
    assert max_size(100.0, 99.99, 100_000.0, gross) == pytest.approx(1_000.0)
    for args in [(100.0, 100.0, 1e5), (NAN, 95.0, 1e5), (100.0, 95.0, -1.0), (100.0, 0.0, 1e5)]:
        assert max_size(*args, RiskParams()) == 0.0
    assert max_size(100.0, 95.0, 1e5, RiskParams(), quote_rate=NAN) == 0.0


@pytest.mark.parametrize("limit_hours", [(10, 50), (0, 50)])
def test_signals_per_hour(limit_hours: tuple[int, int]) -> None:
    per_hour, per_day = limit_hours
    params = RiskParams(max_signals_per_hour=per_hour, max_signals_per_day=per_day)
    verdict = check(proposal(), state(signals_last_hour=per_hour), params)
    assert refused(verdict) == ["signals_per_hour"]
    assert f"{per_hour} signals in the last hour" in detail(verdict, "signals_per_hour")
    if per_hour > 0:
        assert check(proposal(), state(signals_last_hour=per_hour - 1), params).allowed


def test_signals_per_day() -> None:
    verdict = check(proposal(), state(signals_today=50), RiskParams())
    assert refused(verdict) == ["signals_per_day"]
    assert "50 signals today" in detail(verdict, "signals_per_day")
    assert check(proposal(), state(signals_today=49), RiskParams()).allowed
    # A limit of 0 is literal: no signal at all.
    assert not check(proposal(), state(), RiskParams(max_signals_per_day=0)).allowed


@pytest.mark.parametrize(
    ("changes", "text"),
    [
        ({"entry": NAN}, "entry nan"),
        ({"entry": 0.0}, "entry 0.0"),
        ({"stop": -1.0}, "stop -1.0"),
        ({"stop": INF}, "stop inf"),
        ({"size": 0.0}, "size 0.0"),
        ({"size": -3.0}, "size -3.0"),
        ({"size": NAN}, "size nan"),
        ({"stop": 105.0}, "BUY stop 105 must be below the entry 100"),
        ({"side": "SELL"}, "SELL stop 95 must be above the entry 100"),
        ({"stop": 100.0}, "BUY stop 100 must be below"),
        ({"bar_ms": 0}, "bar length 0 ms"),
        ({"symbol": " "}, "symbol is empty"),
        ({"quote_rate": 0.0}, "quote rate 0.0 (account currency per unit of quote) is not a"),
        ({"quote_rate": NAN}, "quote rate nan"),
        ({"fee_bps": NAN}, "the costs (fee nan, spread 0.0, slippage 0.0 bps) are not all"),
    ],
)
def test_invalid_proposal(changes: dict[str, Any], text: str) -> None:
    verdict = check(proposal(**changes), state(), RiskParams())
    assert refused(verdict) == ["invalid_proposal"]
    assert text in detail(verdict, "invalid_proposal")


def test_every_violation_is_reported_in_the_fixed_order() -> None:
    s = state(
        equity=80_000.0,
        kill_switch=True,
        paused_until_ts=T + H,
        open_positions=3,
        open_symbols=("BTC-USD",),
        last_signal_ts={"BTC-USD": T - H},
        signals_last_hour=10,
        signals_today=50,
    )
    verdict = check(proposal(size=NAN), s, RiskParams())
    assert refused(verdict) == [x for x in LIMIT_IDS if x not in ("risk_per_trade", "max_notional")]
    verdict = check(proposal(size=10_000.0), s, RiskParams())
    assert refused(verdict) == [x for x in LIMIT_IDS if x != "invalid_proposal"]
    assert verdict.reason is not None and verdict.reason.startswith("kill_switch: ")


@pytest.mark.parametrize(
    "bad",
    [
        {"equity": NAN},
        {"equity": INF},
        {"day_start_equity": 0.0, "peak_equity": 0.0, "equity": 0.0},
        {"open_risk": NAN},
        {"open_risk": -1.0},
    ],
)
def test_unmeasurable_account_fails_closed(bad: dict[str, Any]) -> None:
    verdict = check(proposal(), state(**bad), RiskParams())
    assert {"daily_loss", "max_drawdown"} <= set(refused(verdict))
    assert "cannot be measured" in detail(verdict, "daily_loss")


def test_inputs_and_verdict_round_trip_through_strict_json() -> None:
    s = state(equity=INF, last_signal_ts={"BTC-USD": T - 9 * H}, open_symbols=("ETH-USD",))
    p = proposal(entry=NAN, stop=-INF)
    verdict = check(p, s, RiskParams(preset="strict"), kill_switch=True)
    blobs = [json.dumps(m.model_dump(mode="json"), allow_nan=False) for m in (p, s, verdict)]
    p2 = Proposal.model_validate(json.loads(blobs[0]))
    s2 = AccountState.model_validate_json(blobs[1])
    assert GuardianVerdict.model_validate_json(blobs[2]) == verdict
    assert check(p2, s2, RiskParams(preset="strict"), kill_switch=True) == verdict
    assert s2.open_symbols == ("ETH-USD",)


# --- property: allowed iff no rule is broken, recomputed here from the documented rules -----


def over(base: float, equity: float, open_risk: float, risk: float | None, limit: float) -> bool:
    """A loss limit measured against ``base`` (day start or peak): unmeasurable counts as broken."""
    fin = math.isfinite
    if not (fin(base) and fin(equity) and base > 0 and fin(open_risk) and open_risk >= 0):
        return True
    if (base - equity) / base >= limit:
        return True
    return risk is not None and (base - equity + open_risk + risk) / base > limit + TOLERANCE


def expected_violations(p: Proposal, s: AccountState, params: RiskParams, kill: bool) -> set[str]:
    fin = math.isfinite
    # The scenarios give both limits explicitly, and an explicit limit wins over the preset.
    daily, dd = params.daily_loss_limit, params.max_drawdown
    right_side = p.stop < p.entry if p.side == "BUY" else p.stop > p.entry
    valid = (
        bool(p.symbol.strip())
        and fin(p.entry)
        and fin(p.stop)
        and fin(p.size)
        and p.entry > 0
        and p.stop > 0
        and p.size > 0
        and p.bar_ms > 0
        and right_side
        and fin(p.quote_rate)
        and p.quote_rate > 0
    )
    # No costs in these scenarios: the stop-out loses the distance plus the gap allowance.
    risk = p.size * abs(p.entry - p.stop) * (1 + params.gap_allowance) * p.quote_rate
    out = set()
    if kill or s.kill_switch:
        out.add("kill_switch")
    if s.paused_until_ts is not None and p.bar_ts < s.paused_until_ts:
        out.add("paused")
    at_risk = risk if valid else None
    if over(s.day_start_equity, s.equity, s.open_risk, at_risk, daily):
        out.add("daily_loss")
    # A stale peak below equity is lifted to equity; a non-finite peak is unmeasurable.
    peak = max(s.peak_equity, s.equity) if math.isfinite(s.peak_equity) else NAN
    if over(peak, s.equity, s.open_risk, at_risk, dd):
        out.add("max_drawdown")
    if max(s.open_positions, len(set(s.open_symbols))) >= params.max_open_positions:
        out.add("max_open_positions")
    if p.symbol in s.open_symbols:
        out.add("symbol_has_position")
    last = s.last_signal_ts.get(p.symbol)
    if (
        params.cooldown_bars
        and last is not None
        and p.bar_ts - last < params.cooldown_bars * p.bar_ms
    ):
        out.add("cooldown")
    budget = params.risk_per_trade * s.equity
    if valid and (not fin(budget) or risk > budget + TOLERANCE * abs(budget)):
        out.add("risk_per_trade")
    cap = params.max_leverage * s.equity
    notional = p.size * p.entry * p.quote_rate
    open_ok = fin(s.open_notional) and s.open_notional >= 0
    if valid and (
        not (open_ok and fin(cap) and cap > 0) or s.open_notional + notional > cap * (1 + TOLERANCE)
    ):
        out.add("max_notional")
    if s.signals_last_hour >= params.max_signals_per_hour:
        out.add("signals_per_hour")
    if s.signals_today >= params.max_signals_per_day:
        out.add("signals_per_day")
    if not valid:
        out.add("invalid_proposal")
    return out


hostile = st.sampled_from([NAN, INF, -INF, 0.0, -1.0, 1e308, 5e-324])
symbols = st.sampled_from(["BTC-USD", "ETH-USD", "SOL-USD", ""])


def rare(bad: st.SearchStrategy[Any], good: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """``good`` mostly, ``bad`` one time in eight, so both verdicts are common."""
    return st.integers(0, 7).flatmap(lambda i: bad if i == 0 else good)


def money(low: float, high: float) -> st.SearchStrategy[float]:
    return rare(st.one_of(hostile, st.floats(-1e6, 1e6)), st.floats(low, high))


@st.composite
def scenarios(draw: st.DrawFn) -> tuple[Proposal, AccountState, RiskParams, bool]:
    params = RiskParams(
        preset=draw(st.sampled_from(["custom", "ftmo", "strict"])),
        risk_per_trade=draw(st.floats(0.001, 0.1)),
        daily_loss_limit=draw(st.floats(0.01, 1.0, exclude_max=True)),
        max_drawdown=draw(st.floats(0.01, 1.0, exclude_max=True)),
        max_open_positions=draw(rare(st.integers(0, 1), st.integers(1, 5))),
        cooldown_bars=draw(st.integers(0, 10)),
        max_signals_per_hour=draw(rare(st.integers(0, 2), st.integers(0, 12))),
        max_signals_per_day=draw(rare(st.integers(0, 2), st.integers(0, 60))),
        gap_allowance=draw(st.sampled_from([0.0, 0.1, 0.5])),
        max_leverage=draw(st.sampled_from([1.0, 3.0, 50.0])),
    )
    equity = draw(money(50_000, 150_000))
    s = AccountState(
        equity=equity,
        day_start_equity=draw(rare(money(50_000, 150_000), st.just(equity))),
        peak_equity=draw(rare(money(50_000, 200_000), st.just(equity))),
        open_positions=draw(rare(st.integers(-1, 6), st.integers(0, 1))),
        open_symbols=tuple(draw(rare(st.lists(symbols, max_size=4), st.just([])))),
        consecutive_losses=draw(st.integers(0, 5)),
        paused_until_ts=draw(rare(st.integers(T - 10 * H, T + 10 * H), st.none())),
        kill_switch=draw(rare(st.just(True), st.just(False))),
        last_signal_ts=draw(
            rare(st.dictionaries(symbols, st.integers(T - 20 * H, T + 2 * H)), st.just({}))
        ),
        signals_last_hour=draw(rare(st.integers(0, 12), st.integers(0, 1))),
        signals_today=draw(rare(st.integers(0, 60), st.integers(0, 1))),
        open_risk=draw(rare(money(0, 5_000), st.just(0.0))),
        open_notional=draw(rare(money(0, 200_000), st.just(0.0))),
    )
    side = draw(st.sampled_from(["BUY", "SELL"]))
    entry = draw(money(1, 200))
    distance = entry * draw(st.floats(0.001, 0.2))
    sane_stop = entry - distance if side == "BUY" else entry + distance
    fraction = draw(st.floats(0.01, 1.2))
    sane_size = fraction * params.risk_per_trade * 100_000 / distance if distance > 0 else 1.0
    p = Proposal(
        symbol=draw(symbols),
        side=side,
        entry=entry,
        stop=draw(rare(st.one_of(money(1, 200), st.just(entry)), st.just(sane_stop))),
        size=draw(rare(money(0, 2_000), st.just(sane_size))),
        bar_ts=T,
        bar_ms=draw(rare(st.sampled_from([0, -H]), st.sampled_from([H, 60_000]))),
        quote_rate=draw(rare(st.sampled_from([0.0, NAN, 20_000.0]), st.just(1.0))),
    )
    return p, s, params, draw(rare(st.just(True), st.just(False)))


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenarios())
def test_allowed_iff_no_rule_is_broken(
    scenario: tuple[Proposal, AccountState, RiskParams, bool],
) -> None:
    p, s, params, kill = scenario
    verdict = check(p, s, params, kill_switch=kill)
    expected = expected_violations(p, s, params, kill)
    assert set(refused(verdict)) == expected
    assert verdict.allowed == (not expected)
    assert refused(verdict) == [x for x in LIMIT_IDS if x in expected]
    assert all(v.detail.endswith(".") for v in verdict.violations)
    json.dumps(verdict.model_dump(mode="json"), allow_nan=False)


def test_property_reaches_allowed_verdicts() -> None:
    # Guard against a strategy that only ever produces refusals.
    seen: list[bool] = []

    @settings(max_examples=300, deadline=None, database=None)
    @given(scenarios())
    def run(scenario: tuple[Proposal, AccountState, RiskParams, bool]) -> None:
        p, s, params, kill = scenario
        seen.append(check(p, s, params, kill_switch=kill).allowed)

    run()
    assert any(seen) and not all(seen)
