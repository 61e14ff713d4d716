"""The account currency: converting a symbol's quote currency into it, at a bar, from the store.

Equity, P&L and every risk limit are in the account currency (``paper.account_currency``,
default USD). A symbol quoted in another currency (ETH-BTC is quoted in BTC) is sized by
converting the equity at the bar through stored candles of a conversion pair: QUOTE-ACCOUNT
(BTC-USD), QUOTE-X for each currency X counted at par (BTC-USDT, BTC-USDC), or the inverse
pairs (USD-BTC, ...). The rate at a bar is the last close of that pair whose candle closed at
or before the bar closed (no lookahead), at most ``paper.conversion_max_age`` before it; a
symbol quoted in the account currency or one at par needs none (docs/risk.md).

pandas and numpy are imported inside the functions, so importing ``hmas.risk`` stays light.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from hmas.errors import ConversionMissingError
from hmas.market import TIMEFRAMES, ms_to_datetime, timeframe_ms
from hmas.settings import duration_ms

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt
    import pandas as pd

    from hmas.settings import Settings
    from hmas.store.candles import CandleStore, SeriesInfo


def quote_of(symbol: str) -> str:
    """The quote currency of a ``BASE-QUOTE`` symbol (``ETH-BTC`` -> ``BTC``)."""
    return symbol.rsplit("-", 1)[-1]


def needs_conversion(symbol: str, settings: Settings) -> bool:
    """Whether ``symbol``'s quote currency differs from the account's (and is not at par)."""
    paper = settings.paper
    return quote_of(symbol) not in (paper.account_currency, *paper.at_par)


def candidates(symbol: str, settings: Settings) -> list[tuple[str, bool]]:
    """The pairs that convert ``symbol``'s quote into the account currency, in the order they
    are tried, each with whether its price must be inverted (USD-BTC gives BTC per USD)."""
    quote = quote_of(symbol)
    worth = [settings.paper.account_currency, *settings.paper.at_par]
    return [(f"{quote}-{c}", False) for c in worth] + [(f"{c}-{quote}", True) for c in worth]


@dataclass(frozen=True)
class Conversion:
    """The stored series that converts a symbol's quote currency, and its candles read so far.

    ``rate`` is the account currency per unit of quote: the pair's close, or its inverse when
    ``invert``.
    """

    symbol: str
    exchange: str
    timeframe: str
    invert: bool
    frame: pd.DataFrame | None = None

    @property
    def step(self) -> int:
        """The pair's bar length in ms."""
        return timeframe_ms(self.timeframe)

    def record(self) -> dict[str, Any]:
        """Which series this is (for the stored context of a decision)."""
        return {
            "symbol": self.symbol,
            "exchange": self.exchange,
            "timeframe": self.timeframe,
            "invert": self.invert,
        }

    def span(self, first_ms: int, last_close_ms: int, max_age_ms: int) -> tuple[int, int]:
        """The open times of the pair's candles that rate bars opening from ``first_ms`` on and
        closing by ``last_close_ms``: those closing at most ``max_age_ms`` before the first bar
        and no later than the last one closes."""
        return first_ms - max_age_ms - self.step, last_close_ms - self.step

    def rates(self, bar_open_ms: npt.ArrayLike, bar_ms: int, max_age_ms: int) -> Any:
        """The rate at each bar (bars of ``bar_ms`` opening at ``bar_open_ms``): the last close
        of a pair candle closed by the bar's close and at most ``max_age_ms`` before it; NaN
        where there is none."""
        import numpy as np
        import pandas as pd

        closes_at = np.asarray(bar_open_ms, dtype=np.int64) + bar_ms
        if self.frame is None or self.frame.empty:
            return np.full(len(closes_at), np.nan)
        pair_close = pd.DatetimeIndex(self.frame.index).as_unit("ms").asi8 + self.step
        close = self.frame["close"].to_numpy(dtype=np.float64)
        k = np.searchsorted(pair_close, closes_at, side="right") - 1
        found = k >= 0
        at = np.where(found, k, 0)
        fresh = found & (closes_at - pair_close[at] <= max_age_ms)
        with np.errstate(divide="ignore", invalid="ignore"):
            value = 1.0 / close[at] if self.invert else close[at]
        rate: npt.NDArray[np.float64] = np.where(
            fresh & np.isfinite(value) & (value > 0), value, np.nan
        )
        return rate


def find(
    store: CandleStore, settings: Settings, exchange: str, symbol: str, timeframe: str
) -> Conversion | None:
    """The stored series converting ``symbol``'s quote (no candles read), or None when the
    symbol needs none; ConversionMissingError naming the pair and how to fetch it when no
    candidate pair is stored.

    Among the stored series of the first candidate pair that has any: the symbol's exchange
    first, then its timeframe, then the shortest timeframe (the freshest closes).
    """
    if not needs_conversion(symbol, settings):
        return None
    tried = candidates(symbol, settings)
    for pair, invert in tried:
        stored = store.series(pair)
        if stored:
            best = min(stored, key=lambda s: _preference(s, exchange, timeframe))
            return Conversion(pair, best.exchange, best.timeframe, invert)
    quote, account = quote_of(symbol), settings.paper.account_currency
    others = ", ".join(p for p, _ in tried[1:])
    raise ConversionMissingError(
        f"{symbol} is quoted in {quote} but the account is in {account} "
        f"(paper.account_currency): no {tried[0][0]} candles are stored to convert the equity "
        f"(nor {others}); fetch them, e.g. hmas fetch --symbols {tried[0][0]} --timeframe "
        f"{timeframe}, or keep the account in {quote} (HMAS_PAPER__ACCOUNT_CURRENCY={quote})"
    )


def _preference(series: SeriesInfo, exchange: str, timeframe: str) -> tuple[int, int, int, str]:
    step = TIMEFRAMES.get(series.timeframe, 1 << 62)
    return (series.exchange != exchange, series.timeframe != timeframe, step, series.exchange)


def load(
    store: CandleStore,
    settings: Settings,
    exchange: str,
    symbol: str,
    timeframe: str,
    since: int | None,
    until: int | None,
) -> Conversion | None:
    """``find`` with the pair's candles that rate the symbol's bars opening in
    ``[since, until]`` (all stored ones for an open bound)."""
    found = find(store, settings, exchange, symbol, timeframe)
    if found is None:
        return None
    max_age = duration_ms(settings.paper.conversion_max_age)
    step = timeframe_ms(timeframe)
    first, last = found.span(
        since if since is not None else 0, (until if until is not None else 0) + step, max_age
    )
    frame = store.frame(
        found.exchange,
        found.symbol,
        found.timeframe,
        since=None if since is None else first,
        until=None if until is None else last,
    )
    return Conversion(found.symbol, found.exchange, found.timeframe, found.invert, frame)


def rate_at(
    store: CandleStore, settings: Settings, exchange: str, symbol: str, timeframe: str, bar_ts: int
) -> float:
    """The account currency per unit of ``symbol``'s quote at the bar opening at ``bar_ts``:
    1 when no conversion is needed; ConversionMissingError when no stored close is recent
    enough (naming the pair, what is stored and how to fetch what is missing)."""
    conversion = load(store, settings, exchange, symbol, timeframe, bar_ts, bar_ts)
    return 1.0 if conversion is None else require(conversion, settings, symbol, timeframe, bar_ts)


def require(
    conversion: Conversion, settings: Settings, symbol: str, timeframe: str, bar_ts: int
) -> float:
    """The rate ``conversion`` gives the bar opening at ``bar_ts``, or ConversionMissingError
    when none of its closes is recent enough."""
    max_age = duration_ms(settings.paper.conversion_max_age)
    rate = float(conversion.rates([bar_ts], timeframe_ms(timeframe), max_age)[0])
    if math.isfinite(rate):
        return rate
    closes = _iso(bar_ts + timeframe_ms(timeframe))
    raise ConversionMissingError(
        f"no {conversion.symbol} close on {conversion.exchange} {conversion.timeframe} within "
        f"{settings.paper.conversion_max_age} (paper.conversion_max_age) before the {symbol} "
        f"{timeframe} bar closing at {closes}, to convert its {quote_of(symbol)} into "
        f"{settings.paper.account_currency}; fetch {conversion.symbol} candles up to that time, "
        f"e.g. hmas fetch --symbols {conversion.symbol} --timeframe {conversion.timeframe} "
        f"--exchange {conversion.exchange}"
    )


def _iso(ms: int) -> str:
    return ms_to_datetime(ms).strftime("%Y-%m-%dT%H:%MZ")
