"""The one wrapper around ccxt: markets, timeframes and closed candles, paginated and retried.

Every ccxt error is translated here, once, into the hmas error tree. ccxt is imported inside
the methods that need it: importing it takes over a second, and ``hmas --help`` must not pay
for that.
"""

from __future__ import annotations

import difflib
import logging
import time
from collections.abc import Callable, Iterator
from typing import Any, Literal, TypeVar

from hmas import market
from hmas.errors import (
    ConfigError,
    DataSourceError,
    ExchangeError,
    ExchangeNetworkError,
    ExchangeRateLimitError,
    InvalidSymbolError,
    UnknownExchangeError,
    UnknownSymbolError,
    UnsupportedTimeframeError,
)

logger = logging.getLogger(__name__)

T = TypeVar("T")
Transient = Literal["rate", "network"]

#: Candles per ``fetch_ohlcv`` call by exchange; Coinbase answers at most 300 a call.
PAGE_LIMITS: dict[str, int] = {"coinbase": 300, "coinbaseexchange": 300}
#: Page size for an exchange neither listed above nor described by ccxt's ``features``.
FALLBACK_PAGE_LIMIT = 100
_MAX_SUGGESTIONS = 8
_MAX_DETAIL = 200


class ExchangeSource:
    """Closed candles of one ccxt exchange, as ascending pages of ``[ms, o, h, l, c, v]`` rows."""

    def __init__(
        self,
        exchange_id: str = "coinbase",
        *,
        retries: int = 4,
        backoff_seconds: float = 1.0,
        timeout_seconds: float = 30.0,
        page_limit: int | None = None,
        rate_limit: bool = True,
        sleep: Callable[[float], None] = time.sleep,
        now_ms: Callable[[], int] | None = None,
    ) -> None:
        import ccxt

        ident = exchange_id.strip().lower()
        if ident not in ccxt.exchanges:
            close = difflib.get_close_matches(ident, ccxt.exchanges, n=3, cutoff=0.6)
            hint = f"did you mean {', '.join(close)}?" if close else "see ccxt's list of exchanges"
            raise UnknownExchangeError(f"unknown exchange {exchange_id!r}; {hint}")
        if retries < 0:
            raise ConfigError(f"retries must be 0 or more, not {retries}")
        if page_limit is not None and page_limit < 1:
            raise ConfigError(f"page_limit must be at least 1, not {page_limit}")
        self.exchange_id = ident
        self.retries = retries
        self.backoff_seconds = backoff_seconds
        self.timeout_seconds = timeout_seconds
        self.rate_limit = rate_limit
        self._page_limit = page_limit
        self._sleep = sleep
        self._now = now_ms or market.now_ms
        self._exchange: Any = None
        self._last_status: int | None = None
        self._markets_error: DataSourceError | None = None

    @property
    def exchange(self) -> Any:
        """The ccxt exchange object, created on first use."""
        if self._exchange is None:
            import ccxt

            exchange = getattr(ccxt, self.exchange_id)(
                {"enableRateLimit": self.rate_limit, "timeout": int(self.timeout_seconds * 1000)}
            )
            original = exchange.on_rest_response

            # ccxt's coinbase turns a JSON error body on a 5xx into a plain ExchangeError; the
            # status seen here lets _transient still retry it as the server failure it is.
            def on_rest_response(code: Any, reason: Any, *rest: Any) -> Any:
                self._last_status = int(code)
                return original(code, reason, *rest)

            exchange.on_rest_response = on_rest_response
            self._exchange = exchange
        return self._exchange

    @property
    def page_limit(self) -> int:
        """Candles asked for per call: the constructor's, else the exchange's known maximum."""
        if self._page_limit is not None:
            return self._page_limit
        if self.exchange_id in PAGE_LIMITS:
            return PAGE_LIMITS[self.exchange_id]
        features = getattr(self.exchange, "features", None) or {}
        limit = ((features.get("spot") or {}).get("fetchOHLCV") or {}).get("limit")
        return int(limit) if isinstance(limit, int) and limit > 0 else FALLBACK_PAGE_LIMIT

    def check_market(self, symbol: str) -> str:
        """The exchange's symbol for ``BTC-USD`` (``BTC/USD``); UnknownSymbolError if not listed."""
        wanted = market.to_exchange_symbol(symbol)
        markets = self._markets()
        if wanted in markets:
            return wanted
        user = market.normalize_symbol(symbol)
        base = wanted.split("/", 1)[0]
        same_base = sorted(
            _user_form(name)
            for name, info in markets.items()
            if info.get("base") == base and info.get("spot")
        )
        if not same_base:
            raise UnknownSymbolError(
                f"{self.exchange_id} lists no {user} market, and no market for {base} at all; "
                "check the symbol"
            )
        shown = ", ".join(same_base[:_MAX_SUGGESTIONS])
        if len(same_base) > _MAX_SUGGESTIONS:
            shown += f" and {len(same_base) - _MAX_SUGGESTIONS} more"
        raise UnknownSymbolError(
            f"{self.exchange_id} lists no {user} market; {base} trades there as {shown}"
        )

    def _markets(self) -> dict[str, Any]:
        """The exchange's markets, loaded once; a load that failed past its retries fails again
        at once (same error, no new attempt), so the other symbols of a run do not wait again."""
        if self._markets_error is not None:
            raise type(self._markets_error)(str(self._markets_error))
        try:
            markets: dict[str, Any] = self._call("loading markets", self.exchange.load_markets)
        except (ExchangeNetworkError, ExchangeError) as exc:
            self._markets_error = exc
            raise
        return markets

    def check_timeframe(self, timeframe: str) -> None:
        """Raise UnsupportedTimeframeError unless both hmas and the exchange have ``timeframe``."""
        market.timeframe_ms(timeframe)
        offered = self.exchange.timeframes or {}
        if timeframe in offered:
            return
        usable = [tf for tf in market.TIMEFRAMES if tf in offered]
        if not usable:
            raise UnsupportedTimeframeError(f"{self.exchange_id} offers no candles hmas can use")
        raise UnsupportedTimeframeError(
            f"{self.exchange_id} has no {timeframe} candles; use one of {', '.join(usable)}"
        )

    def fetch(
        self, symbol: str, timeframe: str, *, since_ms: int, until_ms: int
    ) -> Iterator[list[list[float]]]:
        """Yield ascending pages of closed candles whose open times lie in [since_ms, until_ms]."""
        self.check_timeframe(timeframe)
        pair = self.check_market(symbol)
        step = market.timeframe_ms(timeframe)
        # The still-open candle changes until it closes: never hand it out.
        last = min(until_ms, market.last_closed_open_ms(timeframe, self._now()))
        what = f"fetching {market.normalize_symbol(symbol)} {timeframe} candles"
        limit = self.page_limit
        since = since_ms
        newest_yielded = since_ms - 1
        while since <= last:
            answer = self._call(what, self.exchange.fetch_ohlcv, pair, timeframe, since, limit)
            rows = [row for row in answer or [] if row and row[0] is not None]
            if not rows:
                return
            page: dict[int, list[float]] = {}
            for row in rows:
                ts = int(row[0])
                # Out of range, the open candle, or already yielded (overlapping pages).
                if newest_yielded < ts <= last and ts not in page:
                    page[ts] = [ts, *row[1:6]]
            if page:
                newest_yielded = max(page)
                yield [page[ts] for ts in sorted(page)]
            advanced = max(int(row[0]) for row in rows) + step
            if advanced <= since:
                logger.warning(
                    "%s: %s: a page ended before %s; stopping rather than asking again",
                    self.exchange_id,
                    what,
                    market.ms_to_datetime(since).isoformat(),
                )
                return
            since = advanced

    def _call(self, what: str, fn: Callable[..., T], *args: Any) -> T:
        """``fn(*args)`` with ccxt's errors translated and transient failures retried."""
        import ccxt

        attempt = 0
        while True:
            self._last_status = None
            try:
                return fn(*args)
            except ccxt.BadSymbol as exc:
                raise UnknownSymbolError(
                    f"{self.exchange_id}: {what} failed, unknown symbol: {self._detail(exc)}"
                ) from exc
            except ccxt.BaseError as exc:
                kind = self._transient(exc)
                if kind is None:
                    raise ExchangeError(
                        f"{self.exchange_id}: {what} failed: {self._detail(exc)}"
                    ) from exc
                reason = self._reason(exc)
                if attempt >= self.retries:
                    raise self._exhausted(kind, what, reason, attempt + 1) from exc
                delay = self.backoff_seconds * 2**attempt
                attempt += 1
                logger.warning(
                    "%s: %s failed (%s); retry %d of %d in %.1f s",
                    self.exchange_id,
                    what,
                    reason,
                    attempt,
                    self.retries,
                    delay,
                )
                self._sleep(delay)

    def _transient(self, exc: Exception) -> Transient | None:
        """Classify a ccxt error: a rate limit, a network or server failure, or neither (None)."""
        import ccxt

        status = self._last_status
        if isinstance(exc, ccxt.RateLimitExceeded | ccxt.DDoSProtection) or status == 429:
            return "rate"
        if isinstance(exc, ccxt.NetworkError):
            return "network"
        if status is not None and status >= 500 and not isinstance(exc, ccxt.AuthenticationError):
            return "network"
        return None

    def _reason(self, exc: Exception) -> str:
        return f"HTTP {self._last_status}" if self._last_status else type(exc).__name__

    def _exhausted(self, kind: Transient, what: str, reason: str, attempts: int) -> Exception:
        if kind == "rate":
            return ExchangeRateLimitError(
                f"{self.exchange_id}: {what} was still rate-limited after {attempts} attempts "
                f"({reason}); wait a few minutes and try again"
            )
        return ExchangeNetworkError(
            f"{self.exchange_id}: {what} failed after {attempts} attempts ({reason}); "
            "check your connection or try again later"
        )

    def _detail(self, exc: Exception) -> str:
        """ccxt's message on one short line, without its leading exchange id."""
        text = " ".join(str(exc).split())
        text = text.removeprefix(f"{self.exchange_id} ")
        return text if len(text) <= _MAX_DETAIL else text[: _MAX_DETAIL - 1] + "…"


def _user_form(symbol: str) -> str:
    """``BTC/USDT`` -> ``BTC-USDT``, tolerating exchange symbols hmas cannot write."""
    try:
        return market.from_exchange_symbol(symbol)
    except InvalidSymbolError:
        return symbol.replace("/", "-")
