"""The reference strategy in hmas's engine trades exactly as backtesting.py does.

Long when RSI(14) < 30 and the close is below the lower Bollinger band (20, 2); a market exit
after the first bar with RSI(14) > 70; stop 2 x ATR(14), target 3 x ATR(14) from the signal's
close; 95 % of the equity; the exchange's taker fee per side. backtesting.py runs with its
defaults (``trade_on_close=False``, ``exclusive_orders=False``, no spread) and
``FractionalBacktest`` (units of 1e-8 BTC, as hmas trades fractions); the strategy passes the
size hmas sizes at the signal's close (docs/backtest.md, "The reference strategy").
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from hmas.backtest.run import BacktestRequest, run_backtest
from hmas.backtest.strategy import REFERENCE_EXPOSURE, taker_bps
from hmas.settings import load_settings
from tests.backtest.conftest import real_btc

UNIT = 1e-8  # backtesting.py trades whole units: one unit is a satoshi


def backtesting_py_trades(frame: pd.DataFrame, fee: float, cash: float) -> tuple[Any, Any]:
    """The reference strategy in backtesting.py: its trades and its stats."""
    backtesting = pytest.importorskip("backtesting", reason="backtesting.py is a dev dependency")
    import talib
    from backtesting.lib import FractionalBacktest

    class Reference(backtesting.Strategy):  # type: ignore[misc,name-defined]
        def init(self) -> None:
            close, high, low = self.data.Close, self.data.High, self.data.Low
            self.rsi = self.I(talib.RSI, close, 14)
            self.lower = self.I(lambda c: talib.BBANDS(c, 20, 2.0, 2.0)[2], close)
            self.atr = self.I(talib.ATR, high, low, close, 14)

        def next(self) -> None:
            close, atr = self.data.Close[-1], self.atr[-1]
            if not self.position:
                if self.rsi[-1] < 30 and close < self.lower[-1] and atr > 0:
                    # Prices are in satoshi units here: the size is a whole number of them.
                    size = int(REFERENCE_EXPOSURE * self.equity / close)
                    self.buy(size=size, sl=close - 2 * atr, tp=close + 3 * atr)
            elif self.rsi[-1] > 70:
                self.position.close()

    data = frame.rename(columns=str.capitalize)
    data.index = data.index.tz_localize(None)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        bt = FractionalBacktest(
            data, Reference, cash=cash, commission=fee, fractional_unit=UNIT, finalize_trades=False
        )
        stats = bt.run()
    # No order was canceled for want of cash, no SL/TP deferred to a later bar (the warnings
    # backtesting.py gives when its semantics part from hmas's); its pandas deprecations aside.
    broker = [str(w.message) for w in caught if "canceled" in str(w.message)]
    deferred = [str(w.message) for w in caught if "contingent" in str(w.message)]
    assert (broker, deferred) == ([], [])
    return stats["_trades"], stats


@pytest.mark.shared
def test_the_reference_trades_are_backtesting_py_trades(btc_engine: Any, shared_data: Path) -> None:
    settings = load_settings()
    fee = taker_bps(settings, "coinbase") / 10_000
    ours = run_backtest(
        btc_engine, settings, BacktestRequest(["BTC-USD"], "1h", strategy="reference"), store=False
    )
    theirs, stats = backtesting_py_trades(
        real_btc(shared_data), fee, settings.paper.starting_equity
    )
    closed = [t for t in ours.trades if t["status"] != "open"]
    assert len(closed) == len(theirs) > 200
    entry_time = pd.to_datetime([t["fill_ts"] for t in closed], unit="ms")
    exit_time = pd.to_datetime([t["exit_ts"] for t in closed], unit="ms")
    assert (entry_time == pd.DatetimeIndex(theirs["EntryTime"])).all()
    assert (exit_time == pd.DatetimeIndex(theirs["ExitTime"])).all()
    # Prices agree to the rounding of backtesting.py's satoshi scaling (x 1e-8, then / 1e-8).
    np.testing.assert_allclose([t["fill_price"] for t in closed], theirs["EntryPrice"], rtol=1e-12)
    np.testing.assert_allclose([t["exit_price"] for t in closed], theirs["ExitPrice"], rtol=1e-12)
    np.testing.assert_allclose([t["stop"] for t in closed], theirs["SL"], rtol=1e-12)
    np.testing.assert_allclose([t["target"] for t in closed], theirs["TP"], rtol=1e-12)
    # Sizes differ by backtesting.py's rounding down to a whole satoshi only (and the float
    # error of scaling that count back by 1e-8).
    np.testing.assert_allclose([t["size"] for t in closed], theirs["Size"], atol=1.5 * UNIT, rtol=0)
    # The total return (equity marked to the last close) agrees to rounding.
    assert ours.metrics["total_return"] == pytest.approx(stats["Return [%]"] / 100, abs=1e-6)
    # The last position is still open on both sides at the last bar (marked to its close).
    assert [t["status"] for t in ours.trades[len(closed) :]] == ["open"]
    assert stats["_strategy"].position.size > 0
