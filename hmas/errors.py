"""The hmas error tree.

Every failure a user can meet is one of these classes. Library code raises them (translating
third-party errors at the boundary with ``raise ... from exc``); the CLI catches ``HmasError``
once, prints ``Error: <message>`` on stderr and exits with the class's ``exit_code``.

Exit codes (README "Exit codes"): 0 success; 1 error; 2 bad usage or configuration;
3 nothing to do / refused by a guard.
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_REFUSED = 3


class HmasError(Exception):
    """Base of every hmas error; exits 1 unless a subclass says otherwise."""

    exit_code: int = EXIT_ERROR


# --- configuration and usage -------------------------------------------------------------


class ConfigError(HmasError):
    """Raised when settings, a config file or an environment variable is invalid."""

    exit_code = EXIT_USAGE


class UsageError(HmasError):
    """Raised when a command's arguments cannot be acted on (bad symbol, timeframe, date)."""

    exit_code = EXIT_USAGE


class UnsupportedTimeframeError(UsageError):
    """Raised when a timeframe is not one hmas (or the chosen exchange) supports."""


class InvalidSymbolError(UsageError):
    """Raised when a symbol is not written as BASE-QUOTE (e.g. BTC-USD)."""


class InvalidSettingsError(ConfigError):
    """Raised when settings are unknown or invalid; ``problems`` holds one message for each."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("invalid configuration: " + "; ".join(problems))
        self.problems = problems


# --- store -------------------------------------------------------------------------------


class StoreError(HmasError):
    """Raised when the database fails while reading or writing."""


class StoreUnavailableError(StoreError):
    """Raised when the database URL cannot be opened (bad URL, missing driver, server down)."""

    exit_code = EXIT_USAGE


class StoreMissingError(StoreUnavailableError):
    """Raised when a read-only command is pointed at a store that does not exist (or is empty)."""


class StoreReadOnlyError(StoreError):
    """Raised when the store's file or directory cannot be written (permissions, read-only disk)."""

    exit_code = EXIT_USAGE


class StoreCorruptError(StoreError):
    """Raised when the store's file is not an hmas store or is damaged (random bytes, truncated)."""

    exit_code = EXIT_USAGE


class StoreQueryError(StoreError):
    """Raised when the database rejects a statement for a reason hmas has no name for.

    The message carries the driver's first line only (never the SQL or its parameters).
    """

    def __init__(self, message: str, reason: str = "") -> None:
        super().__init__(message)
        self.reason = reason


class StoreBusyError(StoreError):
    """Raised when another process holds the store's write lock past the busy timeout (SQLite)."""


class StoreFullError(StoreError):
    """Raised when the database or the disk under it is full."""


class MigrationError(StoreError):
    """Raised when the schema cannot be brought to the current migration head."""

    exit_code = EXIT_USAGE


class StoreTooNewError(MigrationError):
    """Raised when the store is at a schema revision newer than this version of hmas knows."""


# --- market data -------------------------------------------------------------------------


class DataSourceError(HmasError):
    """Base for failures while getting candles from a source."""


class UnknownExchangeError(DataSourceError):
    """Raised when the exchange id is not one ccxt knows."""

    exit_code = EXIT_USAGE


class UnknownSymbolError(DataSourceError):
    """Raised when the exchange (or the sample market) lists no such market."""

    exit_code = EXIT_USAGE


class ExchangeNetworkError(DataSourceError):
    """Raised when the exchange cannot be reached after every retry (network down, 5xx)."""


class ExchangeRateLimitError(ExchangeNetworkError):
    """Raised when the exchange keeps answering 429 past the retry budget."""


class ExchangeError(DataSourceError):
    """Raised for any other error the exchange reports."""


class DataFileError(DataSourceError):
    """Raised when an OHLCV file cannot be imported (empty, wrong columns, invalid values)."""


class DataFileNotFoundError(DataFileError):
    """Raised when the path to import is no usable file: missing, a directory, unreadable, empty."""

    exit_code = EXIT_USAGE


class CandleDataError(DataSourceError):
    """Raised when candles fail validation (non-numeric, negative, high < low, duplicates)."""


class NewsFileError(ConfigError):
    """Raised when the headlines file set by ``news.file`` cannot be used: missing, a
    directory, unreadable, empty, an unknown extension, or a line that is not a headline (bad
    JSON, no title, a time without a timezone). The message names the file, the line and the
    fix; exit 2, as for any bad setting, and nothing is stored."""


class ConversionMissingError(UsageError):
    """Raised when a symbol is quoted in another currency than the account's and no stored
    price converts it at the bar (no QUOTE-ACCOUNT candles, or none recent enough)."""


# --- LLM providers -----------------------------------------------------------------------


class LlmKeyMissingError(ConfigError):
    """Raised before any call when a routed vendor's API key is not set; names the variable(s)."""

    def __init__(self, message: str, variables: list[str]) -> None:
        super().__init__(message)
        self.variables = variables


class LlmError(HmasError):
    """Base for a failed call to an LLM provider (after every retry); the message is one line.

    ``vendor`` names the provider, ``status`` the HTTP status when there was one. Messages never
    carry an API key: provider text is redacted before it is put in one.
    """

    def __init__(self, message: str, *, vendor: str = "", status: int | None = None) -> None:
        super().__init__(message)
        self.vendor = vendor
        self.status = status


class LlmAuthError(LlmError):
    """Raised when the provider refuses the API key (401/403): the key is wrong or revoked."""

    exit_code = EXIT_USAGE


class LlmBadRequestError(LlmError):
    """Raised when the provider refuses the request as malformed (400/422): never retried."""


class LlmNotFoundError(LlmError):
    """Raised when the provider knows no such model or endpoint (404): check the routing."""

    exit_code = EXIT_USAGE


class LlmRateLimitError(LlmError):
    """Raised when the provider keeps answering 429 past the retry budget."""


class LlmServerError(LlmError):
    """Raised when the provider keeps failing (5xx, 529 overloaded) past the retry budget."""


class LlmTimeoutError(LlmError):
    """Raised when a call keeps exceeding the per-call timeout past the retry budget."""


class LlmConnectionError(LlmError):
    """Raised when the provider cannot be reached (DNS, refused, reset) past the retry budget."""


class LlmDeadlineError(LlmError):
    """Raised when the caller's deadline passed: the call was not made, or was cancelled."""


class LlmResponseError(LlmError):
    """Raised when a provider answers 200 with a body hmas cannot read (not JSON, no answer)."""


class BudgetExceededError(HmasError):
    """Raised before an LLM call that would take the spend past the daily budget or the
    per-signal cap (``llm.daily_budget_usd``, ``llm.signal_cap_usd``): the call is not made."""

    exit_code = EXIT_REFUSED
