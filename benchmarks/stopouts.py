"""Realised stop-outs of alpha's proposals, in multiples of the configured risk per trade.

Every bar where alpha proposes a trade (with well-formed prices) is followed with the paper
book's rules from the next bar's open, sized at the full risk budget (``risk.risk_per_trade``
of the starting equity). For each stop-out it prints the P&L as a multiple of that budget:
-1.00 means the stop-out lost exactly the configured risk.

    HMAS_DB_URL=sqlite:////tmp/m/hmas.db uv run hmas fetch --source file \
        --path ../shared/data/ohlcv/coinbase_btc_usd_1h.csv -s BTC-USD -t 1h --exchange coinbase
    HMAS_DB_URL=sqlite:////tmp/m/hmas.db uv run python benchmarks/stopouts.py coinbase BTC-USD 1h
"""

from __future__ import annotations

import sys

import numpy as np


def main(exchange: str, symbol: str, timeframe: str) -> None:
    from hmas.decision.history import compute_history, read_inputs
    from hmas.risk.positions import LOSS, simulate
    from hmas.settings import load_settings
    from hmas.store import open_store
    from hmas.store.candles import CandleStore

    settings = load_settings()
    engine = open_store(settings)
    inputs = read_inputs(CandleStore(engine), settings, exchange, symbol, timeframe, None, None)
    history = compute_history(inputs, settings)
    decided = history.decided
    assert decided is not None
    rows = np.flatnonzero(decided["direction"].to_numpy() != 0)
    entry, stop, target = (decided[c].to_numpy()[rows] for c in ("entry", "stop", "target"))
    buy = decided["direction"].to_numpy()[rows] > 0
    ohlc = inputs.candles[["open", "high", "low", "close"]].to_numpy(dtype=np.float64)
    sim = simulate(ohlc, rows, buy, stop, target, expiry_bars=settings.paper.expiry_bars)
    fee = settings.execution.taker_bps.get(exchange, settings.execution.default_taker_bps) / 1e4
    sign = np.where(buy, 1.0, -1.0)
    fill, out = sim.fill_price, sim.exit_price
    net = sign * (out - fill) - fee * (fill + out)
    budget_r = net / np.abs(entry - stop)  # size = budget / |entry - stop|
    stops = sim.status == LOSS
    print(f"{symbol} {timeframe} on {exchange}: {len(rows)} proposals, {stops.sum()} stop-outs")
    print(
        f"  stop-out as the paper book booked it (taker fee {fee * 1e4:g} bps a side): "
        f"average {budget_r[stops].mean():+.2f}R, worst {budget_r[stops].min():+.2f}R"
    )


if __name__ == "__main__":
    main(*sys.argv[1:4])
