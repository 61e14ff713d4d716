"""A symbol quoted in another currency than the account's is sized in the account currency.

ETH-BTC is quoted in BTC; the account is in USD. The equity is converted at each bar through
the stored BTC-USD candles (no lookahead), or the decision refuses with a clear error.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest
from sqlmodel import Session

from hmas.decision import service
from hmas.decision.history import compute_history, read_inputs
from hmas.decision.replay import replay
from hmas.errors import ConversionMissingError
from hmas.market import index_to_ms
from hmas.risk import ledger
from hmas.risk.costs import SideCosts, risk_per_unit
from hmas.store.candles import CandleStore
from hmas.store.engine import upgrade
from hmas.store.models import SignalResult
from tests.decision.conftest import permissive, sample_frame


def eth_btc(eth: pd.DataFrame, btc: pd.DataFrame) -> pd.DataFrame:
    """ETH priced in BTC from the sample market's ETH-USD and BTC-USD (volume in ETH)."""
    open_, close = eth["open"] / btc["open"], eth["close"] / btc["close"]
    spread = (eth["high"] / eth["low"]).clip(lower=1.0)
    return pd.DataFrame(
        {
            "open": open_,
            "high": np.maximum(open_, close) * spread**0.5,
            "low": np.minimum(open_, close) / spread**0.5,
            "close": close,
            "volume": eth["volume"],
        },
        index=eth.index,
    )


def store_frame(store: CandleStore, symbol: str, frame: pd.DataFrame) -> None:
    ms = index_to_ms(frame.index)
    rows = [[t, *v] for t, v in zip(ms, frame.to_numpy().tolist(), strict=True)]
    store.upsert("sample", symbol, "1h", rows, source="sample")


@pytest.fixture
def eth_btc_store(db_url: str, engine_factory: Any) -> Any:
    """ETH-BTC and BTC-USD hourly candles on one store."""
    engine = engine_factory(db_url)
    upgrade(engine)
    store = CandleStore(engine)
    btc, eth = sample_frame("BTC-USD"), sample_frame("ETH-USD")
    store_frame(store, "BTC-USD", btc)
    store_frame(store, "ETH-BTC", eth_btc(eth, btc))
    return engine


def test_an_eth_btc_trade_is_sized_from_the_usd_equity_at_the_bars_btc_price(
    eth_btc_store: Any,
) -> None:
    settings = permissive(mother={"prior_strength": 1.0})
    store = CandleStore(eth_btc_store)
    inputs = read_inputs(store, settings, "sample", "ETH-BTC", "1h", None, None)
    history = compute_history(inputs, settings)
    decided = history.decided
    assert decided is not None
    approved = np.flatnonzero(decided["approved"].to_numpy(dtype=bool))
    assert len(approved) > 0
    btc = sample_frame("BTC-USD")["close"]
    equity = settings.paper.starting_equity
    for i in approved:
        row = decided.iloc[i]
        # The rate is BTC-USD's close of the same hour (closed with the bar): no lookahead.
        assert row["quote_rate"] == btc.loc[decided.index[i]]
        costs = SideCosts(row["cost_fee_bps"], row["cost_spread_bps"], row["cost_slippage_bps"])
        unit = risk_per_unit(
            1.0 if row["direction"] > 0 else -1.0,
            row["entry"],
            row["stop"],
            costs,
            settings.risk.gap_allowance,
        )
        risk_usd = row["size"] * unit * row["quote_rate"]
        notional_usd = row["size"] * row["entry"] * row["quote_rate"]
        # 1 % of the USD equity at most, lost at the stop after costs; at most 1x in notional.
        assert risk_usd <= 0.01 * equity * (1 + 1e-9)
        assert notional_usd <= equity * (1 + 1e-9)
        assert risk_usd == pytest.approx(row["risk_fraction"] * equity) or notional_usd == (
            pytest.approx(equity)
        )
        # Read in BTC the equity would have bought tens of thousands of times more ETH.
        assert row["size"] * row["entry"] < 100  # BTC of notional: at most ~USD 100,000


def test_a_decision_on_eth_btc_stores_the_conversion_and_replays(eth_btc_store: Any) -> None:
    settings = permissive(mother={"prior_strength": 1.0})
    inputs = service.load_inputs(eth_btc_store, settings, "sample", "ETH-BTC", "1h")
    history = compute_history(
        read_inputs(CandleStore(eth_btc_store), settings, "sample", "ETH-BTC", "1h", None, None),
        settings,
    )
    decided = history.decided
    assert decided is not None and inputs.conversion is not None
    bar = index_to_ms(decided.index[decided["approved"].to_numpy(dtype=bool)])[0]
    analysis = service.analyze(eth_btc_store, settings, "ETH-BTC", "1h", at_ms=bar).analysis
    pair = analysis.context["conversion"]
    assert (pair["symbol"], pair["exchange"], pair["timeframe"], pair["invert"]) == (
        "BTC-USD",
        "sample",
        "1h",
        False,
    )
    assert pair["last_ts"] == bar  # the BTC-USD candle closing with the bar, nothing later
    assert (
        analysis.views["execution"]["quote_rate"]
        == sample_frame("BTC-USD")["close"].loc[pd.Timestamp(bar, unit="ms", tz="UTC")]
    )
    signal = service.decide(eth_btc_store, settings, analysis, historical=True).signal
    assert signal.decision == "APPROVED" and signal.size is not None
    proposal = signal.guardian["proposal"]
    assert proposal["quote_rate"] == analysis.views["execution"]["quote_rate"]
    assert signal.guardian["verdict"]["measures"]["notional"] <= settings.paper.starting_equity
    assert replay(eth_btc_store, signal.id or 0).identical


def test_the_paper_book_converts_the_pnl_at_the_exit_bar(eth_btc_store: Any) -> None:
    from hmas.risk.positions import follow

    settings = permissive(mother={"prior_strength": 1.0})
    inputs = read_inputs(
        CandleStore(eth_btc_store), settings, "sample", "ETH-BTC", "1h", None, None
    )
    decided = compute_history(inputs, settings).decided
    assert decided is not None
    bars = index_to_ms(decided.index[decided["approved"].to_numpy(dtype=bool)])
    bar = bars[len(bars) // 2]
    analysis = service.analyze(eth_btc_store, settings, "ETH-BTC", "1h", at_ms=bar).analysis
    signal = service.decide(eth_btc_store, settings, analysis).signal
    assert signal.decision == "APPROVED", signal.rejection_reason
    closed = ledger.update_positions(eth_btc_store, settings, settings.decision.engine)
    assert [c.signal_id for c in closed] == [signal.id]
    with Session(eth_btc_store) as session:
        result = session.get(SignalResult, signal.id)
    assert result is not None and result.exit_ts is not None and result.pnl_money is not None
    proposal = signal.guardian["proposal"]
    costs = SideCosts(proposal["fee_bps"], proposal["spread_bps"], proposal["slippage_bps"])
    assert signal.entry is not None and signal.stop_loss is not None
    assert signal.take_profit is not None and signal.size is not None
    in_btc = follow(
        signal.action,  # type: ignore[arg-type]
        signal.entry,
        signal.stop_loss,
        signal.take_profit,
        signal.size,
        signal.bar_ts,
        inputs.candles,
        expiry_bars=48,
        costs=costs,
        gap_allowance=settings.risk.gap_allowance,
    )
    assert in_btc.pnl_money is not None and result.exit_ts == in_btc.exit_ts
    # The P&L in BTC, converted at BTC-USD's close of the exit bar (not the entry's).
    exit_rate = sample_frame("BTC-USD")["close"].loc[
        pd.Timestamp(result.exit_ts, unit="ms", tz="UTC")
    ]
    assert result.pnl_money == pytest.approx(in_btc.pnl_money * exit_rate, rel=1e-12)
    assert exit_rate != proposal["quote_rate"]


def test_without_btc_usd_candles_the_decision_refuses_naming_the_pair(
    db_url: str, engine_factory: Any
) -> None:
    engine = engine_factory(db_url)
    upgrade(engine)
    btc, eth = sample_frame("BTC-USD"), sample_frame("ETH-USD")
    store_frame(CandleStore(engine), "ETH-BTC", eth_btc(eth, btc))
    with pytest.raises(ConversionMissingError, match=r"^ETH-BTC is quoted in BTC but the account"):
        service.analyze(engine, permissive(), "ETH-BTC", "1h")
    # An account kept in BTC needs no conversion.
    btc_account = permissive(paper={"account_currency": "BTC", "starting_equity": 2.0})
    assert service.analyze(engine, btc_account, "ETH-BTC", "1h").created


@pytest.mark.shared
def test_the_real_eth_btc_file_is_sized_in_usd_through_the_real_btc_usd_file(
    shared_data: Any, request: pytest.FixtureRequest
) -> None:
    """freqtrade's ETH/BTC 5-minute file, the account in USD, BTC-USD from Coinbase hourly."""
    from typer.testing import CliRunner

    from hmas.cli import app
    from hmas.decision.sizing import units
    from hmas.settings import load_settings
    from hmas.store import open_store

    runner = CliRunner()
    for path, symbol, timeframe in (
        ("freqtrade_eth_btc_5m.feather", "ETH-BTC", "5m"),
        ("coinbase_btc_usd_1h.csv", "BTC-USD", "1h"),
    ):
        args = ["fetch", "--source", "file", "--path", str(shared_data / "ohlcv" / path)]
        result = runner.invoke(app, [*args, "-s", symbol, "-t", timeframe])
        assert result.exit_code == 0, result.stderr
    settings = load_settings()
    engine = open_store(settings)
    request.addfinalizer(engine.dispose)
    inputs = read_inputs(CandleStore(engine), settings, "file", "ETH-BTC", "5m", None, None)
    decided = compute_history(inputs, settings).decided
    assert decided is not None
    rate = decided["quote_rate"].to_numpy()
    # Every bar has a BTC-USD close from the hour before it (January 2018: 10,000-17,000 USD).
    assert np.isfinite(rate).all() and 9_000 < rate.min() < rate.max() < 18_000
    proposals = decided[decided["direction"] != 0]
    assert len(proposals) > 20
    equity = settings.paper.starting_equity
    costs = SideCosts(
        proposals["cost_fee_bps"].to_numpy(),
        proposals["cost_spread_bps"].to_numpy(),
        proposals["cost_slippage_bps"].to_numpy(),
    )
    entry, stop = proposals["entry"].to_numpy(), proposals["stop"].to_numpy()
    # Each proposal sized at the full 1 % budget, as the sizing code sizes it.
    size = units(
        equity,
        np.full(len(proposals), settings.risk.risk_per_trade),
        entry,
        stop,
        costs=costs,
        gap_allowance=settings.risk.gap_allowance,
        quote_rate=proposals["quote_rate"].to_numpy(),
        max_leverage=settings.risk.max_leverage,
    )
    sized = np.isfinite(size)
    assert sized.mean() > 0.9  # the rest: no spread or volatility estimate yet (warm-up)
    notional_usd = size * entry * proposals["quote_rate"].to_numpy()
    assert (notional_usd[sized] <= equity * (1 + 1e-9)).all()
    # ETH traded at ~0.1 BTC (~1,300 USD): a USD 100,000 account holds at most ~80 ETH, where
    # the equity read in BTC (the old sizing) bought ~1 million.
    assert np.nanmax(size) < 100
    old = equity * settings.risk.risk_per_trade / np.abs(entry - stop)
    assert np.median(old) > 100_000
