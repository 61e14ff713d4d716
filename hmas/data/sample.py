"""The offline sample market: deterministic synthetic candles for every symbol, no network.

Every candle is a pure function of (symbol, day, minute): a daily log-price path from a fixed
genesis (market factor with GARCH volatility and a slowly varying drift, per-symbol beta and
idiosyncratic GARCH noise, weak mean reversion to a level) and, inside each day, a one-minute
Brownian bridge between that day's open and the next day's open. Coarser timeframes aggregate
the same minutes, so any two requests (or timeframes) agree on every candle they share.
See ``docs/sample-market.md``.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import lru_cache
from typing import NamedTuple

import numpy as np
import numpy.typing as npt
import pandas as pd

from hmas import market
from hmas.errors import UnknownSymbolError, UsageError

Array = npt.NDArray[np.float64]
Stamps = npt.NDArray[np.int64]

SAMPLE_EXCHANGE = "sample"
#: The first candle of the sample market opens at 2018-01-01T00:00Z (a Monday).
GENESIS_MS = 1_514_764_800_000
DAY_MS = 86_400_000
_MINUTE_MS = 60_000
_MINUTES = 1440
_CHUNK_DAYS = 512  # daily noise is drawn in fixed chunks so day d never depends on the horizon
_BLOCK_DAYS = 32  # intraday work is done this many days at a time to bound memory


@dataclass(frozen=True)
class _Asset:
    """One sample symbol: its price level, beta to the market, own volatility and USD turnover."""

    level: float
    beta: float
    idio_vol: float
    notional: float


_ASSETS: dict[str, _Asset] = {
    "BTC-USD": _Asset(30_000.0, 1.0, 0.0, 1.2e9),
    "ETH-USD": _Asset(2_000.0, 1.1, 0.022, 6.0e8),
    "SOL-USD": _Asset(60.0, 1.3, 0.040, 2.0e8),
    "DOGE-USD": _Asset(0.10, 1.2, 0.050, 1.0e8),
    "XRP-USD": _Asset(0.55, 1.0, 0.035, 1.5e8),
    "ADA-USD": _Asset(0.45, 1.15, 0.035, 8.0e7),
    "LTC-USD": _Asset(90.0, 1.0, 0.025, 6.0e7),
}
SAMPLE_SYMBOLS: tuple[str, ...] = tuple(_ASSETS)

_FACTOR_VOL = 0.032  # unconditional daily volatility of the market factor (BTC)
_FACTOR_GARCH = (0.08, 0.90)  # (alpha, beta): persistence 0.98 gives long volatility clusters
_IDIO_GARCH = (0.06, 0.90)
_MAX_DAILY_VOL = 0.20  # a cap so a run of fat-tailed shocks cannot explode the variance
_T_DF = 6.0  # Student-t shocks: fat tails with a finite fourth moment under these GARCH params
_DRIFT_PHI = 0.985  # drift half-life ~46 days: trends last weeks, then fade into ranges
_DRIFT_VOL = 0.0004
_REVERSION = math.log(2) / 180  # log-price pulled to its level with a ~6-month half-life
_WEEKEND_VOLUME = 0.7

# Intraday seasonality, busiest around 15:00 UTC (the US session): variance and volume weights
# with mean 1, so the daily variance and turnover are unchanged by them.
_PHASE = 2 * np.pi * (np.arange(_MINUTES) / _MINUTES - 15 / 24)
_VAR_WEIGHT: Array = 1.0 + 0.35 * np.cos(_PHASE)
_VOLUME_WEIGHT: Array = 1.0 + 0.5 * np.cos(_PHASE)
_NODES = 6  # intraday volatility levels per day (every 4 hours), interpolated per minute
_NODE_SD = 0.4
_SEGMENT = np.arange(_MINUTES) * _NODES // _MINUTES
_FRACTION: Array = (np.arange(_MINUTES) * _NODES % _MINUTES) / _MINUTES


class _Daily(NamedTuple):
    """A symbol's daily path: log open of each day (one longer), volatility, volume multiplier."""

    logp: Array
    sigma: Array
    volume: Array
    node: Array


def _seed(*parts: object) -> int:
    """A stable 128-bit seed (Python's ``hash`` is salted per process, so never that)."""
    text = "|".join(str(p) for p in ("hmas-sample-v1", *parts))
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=16).digest(), "big")


def _t_shocks(rng: np.random.Generator, n: int) -> Array:
    """Unit-variance Student-t draws, clipped at 8 so no single day is absurd."""
    z = rng.standard_t(_T_DF, n) * math.sqrt((_T_DF - 2) / _T_DF)
    return np.clip(z, -8.0, 8.0)


def _garch(z: Array, vol: float, alpha: float, beta: float) -> tuple[Array, Array]:
    """GARCH(1,1) shocks and conditional volatilities driven by the unit shocks ``z``."""
    var_bar = vol * vol
    omega = var_bar * (1.0 - alpha - beta)
    cap = _MAX_DAILY_VOL**2
    var = var_bar
    shocks, sigmas = [], []
    for zi in z.tolist():
        s = math.sqrt(var)
        e = s * zi
        shocks.append(e)
        sigmas.append(s)
        var = min(omega + alpha * e * e + beta * var, cap)
    return np.array(shocks), np.array(sigmas)


@lru_cache(maxsize=2)
def _factor(n_chunks: int) -> tuple[Array, Array]:
    """The market factor's daily log moves (drift + shock) and volatility for the first chunks."""
    z, eta = [], []
    for c in range(n_chunks):
        rng = np.random.default_rng(_seed("factor", c))
        z.append(_t_shocks(rng, _CHUNK_DAYS))
        eta.append(rng.standard_normal(_CHUNK_DAYS))
    shock, sigma = _garch(np.concatenate(z), _FACTOR_VOL, *_FACTOR_GARCH)
    mu, drift = 0.0, []
    for e in np.concatenate(eta).tolist():
        drift.append(mu)
        mu = _DRIFT_PHI * mu + _DRIFT_VOL * e
    moves = shock + np.array(drift)
    for a in (moves, sigma):
        a.flags.writeable = False
    return moves, sigma


_DAILY: dict[str, _Daily] = {}


def _daily(symbol: str, days: int) -> _Daily:
    """The daily path of ``symbol`` covering at least ``days`` days, cached per symbol."""
    cached = _DAILY.get(symbol)
    if cached is None or len(cached.sigma) < days:
        # Day d never depends on the horizon, so the longest path serves every shorter request.
        cached = _DAILY[symbol] = _build_daily(symbol, days // _CHUNK_DAYS + 1)
    return cached


def _build_daily(symbol: str, n_chunks: int) -> _Daily:
    """The daily path of ``symbol`` over the first ``n_chunks`` chunks of days."""
    asset = _ASSETS[symbol]
    moves, f_sigma = _factor(n_chunks)
    n = n_chunks * _CHUNK_DAYS
    z, zv, nodes = [], [], []
    for c in range(n_chunks):
        rng = np.random.default_rng(_seed("daily", symbol, c))
        z.append(_t_shocks(rng, _CHUNK_DAYS))
        zv.append(rng.standard_normal(_CHUNK_DAYS))
        nodes.append(rng.standard_normal(_CHUNK_DAYS))
    if asset.idio_vol > 0:
        idio, i_sigma = _garch(np.concatenate(z), asset.idio_vol, *_IDIO_GARCH)
    else:
        idio, i_sigma = np.zeros(n), np.zeros(n)
    anchor = math.log(asset.level)
    x = anchor
    logp = [x]
    for m, e in zip((asset.beta * moves).tolist(), idio.tolist(), strict=True):
        x = x + m + e - _REVERSION * (x - anchor)
        logp.append(x)
    path = np.array(logp)
    sigma = np.sqrt((asset.beta * f_sigma) ** 2 + i_sigma**2)
    sigma_bar = math.hypot(asset.beta * _FACTOR_VOL, asset.idio_vol)
    # Turnover rises with the volatility regime and with the size of the day's move.
    surprise = np.abs(np.diff(path)) / sigma
    weekend = np.where(np.arange(n) % 7 >= 5, _WEEKEND_VOLUME, 1.0)
    volume = (
        (sigma / sigma_bar)
        * (1.0 + 1.5 * surprise)
        / 2.2
        * np.exp(0.25 * np.concatenate(zv) - 0.03125)
        * weekend
    )
    node = np.concatenate(nodes)
    for a in (path, sigma, volume, node):
        a.flags.writeable = False
    return _Daily(path, sigma, volume, node)


def _minutes(symbol: str, d0: int, d1: int) -> tuple[Array, Array, Array, Array, Array]:
    """One-minute open, high, low, close, volume for days ``d0..d1`` (indices from genesis)."""
    k = d1 - d0 + 1
    daily = _daily(symbol, d1 + 2)
    x0 = daily.logp[d0 : d1 + 1, None]
    x1 = daily.logp[d0 + 1 : d1 + 2, None]
    z = np.empty((k, _MINUTES))
    zv = np.empty((k, _MINUTES))
    u = np.empty((k, 2, _MINUTES))
    nodes = np.empty((k, _NODES + 1))
    for i in range(k):
        # Seeded by (symbol, day) alone: the same day comes out the same in every request.
        rng = np.random.default_rng(_seed("intraday", symbol, d0 + i))
        rng.standard_normal(out=z[i])
        rng.standard_normal(out=zv[i])
        rng.random(out=u[i])
        nodes[i, 1:-1] = rng.standard_normal(_NODES - 1)
    # Intraday volatility bursts: a log-volatility level every few hours, linear in between;
    # day-boundary levels come from the daily path so adjacent days join without a step.
    nodes[:, 0] = daily.node[d0 : d1 + 1]
    nodes[:, -1] = daily.node[d0 + 1 : d1 + 2]
    level = _NODE_SD * (nodes[:, _SEGMENT] * (1.0 - _FRACTION) + nodes[:, _SEGMENT + 1] * _FRACTION)
    burst = np.exp(level)
    weight = _VAR_WEIGHT * burst**2
    # Row totals via cumsum, never sum/mean: numpy's reductions round differently depending on
    # the array's shape, and a day must come out bit-identical whatever else is requested.
    cum = np.cumsum(weight, axis=1)
    weight *= _MINUTES / cum[:, -1:]  # the day's variance stays the daily sigma's
    cum /= cum[:, -1:]
    step_sd = daily.sigma[d0 : d1 + 1, None] * np.sqrt(weight / _MINUTES)
    walk = np.cumsum(z * step_sd, axis=1)
    # Brownian bridge in variance time from this day's open to the next day's open.
    path = x0 + (x1 - x0 - walk[:, -1:]) * cum + walk
    path[:, -1] = x1[:, 0]
    logp = np.concatenate((x0[:1, 0], path.ravel()))
    prices = np.exp(logp)
    opens, closes = prices[:-1], prices[1:]
    a, b = logp[:-1], logp[1:]
    var = (step_sd**2).ravel()
    # Exact extremes of a Brownian bridge from a to b with variance var (reflection principle).
    gap = (b - a) ** 2
    hi = np.exp(0.5 * (a + b + np.sqrt(gap - 2.0 * var * np.log1p(-u[:, 0].ravel()))))
    lo = np.exp(0.5 * (a + b - np.sqrt(gap - 2.0 * var * np.log1p(-u[:, 1].ravel()))))
    highs = np.maximum(hi, np.maximum(opens, closes))  # guards the last-bit rounding of exp
    lows = np.minimum(lo, np.minimum(opens, closes))
    surprise = np.abs(b - a) / np.sqrt(var)
    notional = (
        (_ASSETS[symbol].notional / _MINUTES)
        * (daily.volume[d0 : d1 + 1, None] * _VOLUME_WEIGHT * burst).ravel()
        * (0.6 + 0.5 * surprise)
        * np.exp(0.3 * zv.ravel() - 0.045)
    )
    return opens, highs, lows, closes, notional / closes


def _blocks(symbol: str, step: int, first: int, last: int) -> Iterator[tuple[Stamps, Array]]:
    """Candles opening in [first, last] (on the grid, at or after genesis), a few days at a time."""
    per = step // _MINUTE_MS
    d_first = (first - GENESIS_MS) // DAY_MS
    d_last = (last - GENESIS_MS) // DAY_MS
    for d0 in range(d_first, d_last + 1, _BLOCK_DAYS):
        d1 = min(d0 + _BLOCK_DAYS - 1, d_last)
        o, h, lo, c, v = (a.reshape(-1, per) for a in _minutes(symbol, d0, d1))
        volume = np.cumsum(v, axis=1)[:, -1]  # a sequential sum: see _minutes
        ohlcv = np.column_stack((o[:, 0], h.max(axis=1), lo.min(axis=1), c[:, -1], volume))
        ms = GENESIS_MS + d0 * DAY_MS + step * np.arange(len(ohlcv), dtype=np.int64)
        keep = (ms >= first) & (ms <= last)
        yield ms[keep], ohlcv[keep]


def _pages(symbol: str, step: int, first: int, last: int, size: int) -> Iterator[list[list[float]]]:
    """The candles of ``_blocks`` regrouped as ccxt rows in pages of ``size``."""
    if first > last:
        return
    page: list[list[float]] = []
    for ms, values in _blocks(symbol, step, first, last):
        for t, row in zip(ms.tolist(), values.tolist(), strict=True):
            page.append([t, *row])
            if len(page) == size:
                yield page
                page = []
    if page:
        yield page


class SampleMarket:
    """An embedded synthetic market: closed candles of ``SAMPLE_SYMBOLS`` on every timeframe."""

    def __init__(self, *, now_ms: Callable[[], int] | None = None) -> None:
        self._now = now_ms or market.now_ms

    def symbols(self) -> tuple[str, ...]:
        """The symbols the sample market lists."""
        return SAMPLE_SYMBOLS

    def check_market(self, symbol: str) -> str:
        """The normalised ``symbol``; UnknownSymbolError unless the sample market lists it."""
        user = market.normalize_symbol(symbol)
        if user not in _ASSETS:
            raise UnknownSymbolError(
                f"the sample market has no {user}; use one of {', '.join(SAMPLE_SYMBOLS)}"
            )
        return user

    def check_timeframe(self, timeframe: str) -> None:
        """Raise UnsupportedTimeframeError unless hmas supports ``timeframe`` (all are sampled)."""
        market.timeframe_ms(timeframe)

    def candles(self, symbol: str, timeframe: str, since_ms: int, until_ms: int) -> pd.DataFrame:
        """The candle frame of closed candles opening in [since_ms, until_ms] (maybe empty)."""
        user = self.check_market(symbol)
        step = market.timeframe_ms(timeframe)
        first, last = self._bounds(timeframe, step, since_ms, until_ms)
        parts = list(_blocks(user, step, first, last)) if first <= last else []
        ms = np.concatenate([p[0] for p in parts]) if parts else np.empty(0, dtype=np.int64)
        values = np.concatenate([p[1] for p in parts]) if parts else np.empty((0, 5))
        index = pd.DatetimeIndex(pd.to_datetime(ms, unit="ms", utc=True), name="ts").as_unit("ns")
        return pd.DataFrame(values, index=index, columns=list(market.OHLCV_COLUMNS))

    def fetch(
        self,
        symbol: str,
        timeframe: str,
        *,
        since_ms: int,
        until_ms: int,
        page_size: int = 5000,
    ) -> Iterator[list[list[float]]]:
        """Ascending pages of ``[ms, open, high, low, close, volume]`` rows, as ``candles``."""
        if page_size < 1:
            raise UsageError(f"page_size must be at least 1, not {page_size}")
        # Checked here, not on first iteration, so a bad request fails at the call.
        user = self.check_market(symbol)
        step = market.timeframe_ms(timeframe)
        # The clock is read once, so a long fetch is one consistent snapshot of the market.
        first, last = self._bounds(timeframe, step, since_ms, until_ms)
        return _pages(user, step, first, last, page_size)

    def _bounds(self, timeframe: str, step: int, since_ms: int, until_ms: int) -> tuple[int, int]:
        """First and last open times to serve: on the grid, from genesis, closed candles only."""
        first = max(-(-since_ms // step) * step, GENESIS_MS)
        last = min((until_ms // step) * step, market.last_closed_open_ms(timeframe, self._now()))
        return first, last
