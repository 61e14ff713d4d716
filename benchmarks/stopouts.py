"""Realised stop-outs of alpha's proposals, in multiples of the configured risk per trade.

Every bar where alpha proposes a trade (with well-formed prices) is followed with the paper
book's rules from the next bar's open (``hmas.risk.positions.simulate``), sized at the full
risk budget (``risk.risk_per_trade`` of the starting equity). For each stop-out it prints the
P&L as a multiple of that budget: -1.00 means the stop-out lost exactly the configured risk.

- "before": sized on the distance to the stop alone, charged the taker fee a side only (the
  paper book and the sizing before costs entered the risk budget);
- "after": sized by ``hmas.decision.sizing.units`` (the auditor's fee, spread and slippage on
  both sides and the gap allowance inside the budget, the notional capped) and charged the
  same costs a side, as the paper book now does.

    HMAS_DB_URL=sqlite:////tmp/m/hmas.db uv run hmas fetch --source file \
        --path ../shared/data/ohlcv/coinbase_btc_usd_1h.csv -s BTC-USD -t 1h --exchange coinbase
    HMAS_DB_URL=sqlite:////tmp/m/hmas.db uv run python benchmarks/stopouts.py coinbase BTC-USD 1h
"""

from __future__ import annotations

import sys

import numpy as np


def main(exchange: str, symbol: str, timeframe: str) -> None:
    from hmas.decision.history import compute_history, read_inputs
    from hmas.decision.sizing import units
    from hmas.risk import costs as model
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
    pick = decided.iloc[rows]
    entry, stop, target = (pick[c].to_numpy() for c in ("entry", "stop", "target"))
    buy = pick["direction"].to_numpy() > 0
    sign = np.where(buy, 1.0, -1.0)
    ohlc = inputs.candles[["open", "high", "low", "close"]].to_numpy(dtype=np.float64)
    expiry = settings.risk.expiry_bars(timeframe)
    equity, budget = settings.paper.starting_equity, settings.risk.risk_per_trade
    taker = settings.execution.taker_bps.get(exchange, settings.execution.default_taker_bps)
    print(f"{symbol} {timeframe} on {exchange}: {len(rows)} proposals")

    # Before: size = budget / |entry - stop|, the taker fee a side only.
    fee_only = model.SideCosts(fee_bps=taker)
    old = simulate(ohlc, rows, buy, stop, target, expiry_bars=expiry, costs=fee_only)
    net = model.net_per_unit(sign, old.fill_price, old.exit_price, fee_only)
    old_r = net / np.abs(entry - stop)
    _report("before (gross sizing, taker fee only)", old_r, old.status == LOSS)
    old_notional = equity * budget / np.abs(entry - stop) * entry / equity
    print(f"    notional up to {old_notional.max():.1f}x equity")

    # After: the sizing and the book share the auditor's costs a side.
    side = model.SideCosts(
        pick["cost_fee_bps"].to_numpy(),
        pick["cost_spread_bps"].to_numpy(),
        pick["cost_slippage_bps"].to_numpy(),
    )
    size = units(
        equity,
        np.full(len(rows), budget),
        entry,
        stop,
        costs=side,
        gap_allowance=settings.risk.gap_allowance,
        quote_rate=pick["quote_rate"].to_numpy(),
        max_leverage=settings.risk.max_leverage,
    )
    new = simulate(ohlc, rows, buy, stop, target, expiry_bars=expiry, costs=side)
    net = model.net_per_unit(sign, new.fill_price, new.exit_price, side)
    new_r = size * net * pick["quote_rate"].to_numpy() / (budget * equity)
    sized = np.isfinite(size)
    notional = size * entry * pick["quote_rate"].to_numpy() / equity
    _report(
        "after (costs and gap allowance inside the budget)", new_r, (new.status == LOSS) & sized
    )
    print(
        f"    {sized.sum()} of {len(rows)} sized (the others have no cost estimate yet); "
        f"notional up to {np.nanmax(notional):.2f}x equity, "
        f"{np.sum(np.isclose(notional, settings.risk.max_leverage))} capped"
    )
    # The same sizing under the old book's fee-only charge, to separate the two changes.
    net = model.net_per_unit(sign, old.fill_price, old.exit_price, fee_only)
    _report(
        "the new sizing under the old fee-only book",
        size * net / (budget * equity),
        (old.status == LOSS) & sized,
    )


def _report(label: str, r: np.ndarray, stops: np.ndarray) -> None:
    losses = r[stops]
    print(
        f"  {label}: {stops.sum()} stop-outs, average {losses.mean():+.2f}R, "
        f"worst {losses.min():+.2f}R, best {losses.max():+.2f}R"
    )


if __name__ == "__main__":
    main(*sys.argv[1:4])
