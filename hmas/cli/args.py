"""Argument checks shared by the commands: one-line ``UsageError`` (exit 2) for every bad value.

Each function takes what the user typed and returns the value the library gets, or raises
``UsageError`` naming the option, what was wrong and what to type instead. They are cheap (no
pandas, no store) so a bad command fails before anything is opened or written.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

from hmas.errors import UsageError

#: Ids are INTEGER columns (PostgreSQL's int4): anything above cannot name a stored row.
MAX_ID = 2_147_483_647
#: Longest pause ``run --sleep-seconds`` accepts (one day); longer is a typo, not a schedule.
MAX_SLEEP_SECONDS = 86_400.0
DATE_FORMAT = "ISO format, e.g. 2024-03-01 or 2024-03-01T12:00Z"


def id_callback(what: str) -> Callable[[int | None], int | None]:
    """A Typer callback refusing ids outside 1..MAX_ID (``what``: "signal id", …)."""

    def check(value: int | None) -> int | None:
        if value is not None and not 1 <= value <= MAX_ID:
            raise UsageError(f"{what} must be between 1 and {MAX_ID}, not {value}")
        return value

    return check


def symbols(*groups: Sequence[str] | None, option: str = "--symbols") -> list[str]:
    """Symbols after ``--symbols`` (spaces or commas), normalised to BASE-QUOTE upper case.

    ``btc-usd`` and ``BTC/USD`` become ``BTC-USD``; a bare asset (``BTC``), an empty list and a
    symbol given twice are refused.
    """
    from hmas.market import normalize_symbol

    raw = [s.strip() for group in groups for item in group or [] for s in item.split(",")]
    given = [s for s in raw if s]
    if not given:
        raise UsageError(f"give at least one symbol, e.g. {option} BTC-USD")
    out: list[str] = []
    for text in given:
        for part in text.split():
            if "-" not in part and "/" not in part:
                example = f"{part.upper()}-USD" if 2 <= len(part) <= 5 else "BTC-USD"
                raise UsageError(f"invalid symbol {part!r}; write it as BASE-QUOTE, e.g. {example}")
            sym = normalize_symbol(part)
            if sym in out:
                raise UsageError(f"{option} lists {sym} twice; give each symbol once")
            out.append(sym)
    return out


def symbol(text: str) -> str:
    """One symbol argument, normalised (see ``symbols``)."""
    (sym,) = symbols([text], option="SYMBOL")
    return sym


def timeframe(value: str | None, default: str) -> str:
    """``value`` (or the configured default) as a timeframe hmas supports.

    Surrounding spaces are dropped and ``1H``/``1D`` read as ``1h``/``1d``; ``1M`` is refused
    rather than guessed (a month elsewhere, a minute here).
    """
    from hmas.market import TIMEFRAMES

    text = default if value is None else value.strip()
    if text in TIMEFRAMES:
        return text
    if text.lower() in TIMEFRAMES and not text.endswith("M"):
        return text.lower()
    raise UsageError(f"unsupported timeframe {text!r}; use one of {', '.join(TIMEFRAMES)}")


def source(value: str | None, default: str, allowed: Sequence[str]) -> str:
    """``--source``, case and surrounding spaces ignored, checked against ``allowed``."""
    text = default if value is None else value.strip().lower()
    if text not in allowed:
        shown = value if value is not None else default
        choices = f"{', '.join(allowed[:-1])} or {allowed[-1]}"
        raise UsageError(f"unknown --source {shown!r}; use {choices}")
    return text


def exchange(value: str | None) -> str | None:
    """``--exchange`` as ccxt spells ids (lower case, no spaces); an empty value is refused."""
    if value is None:
        return None
    text = value.strip().lower()
    if not text:
        raise UsageError("--exchange needs an exchange id, e.g. --exchange coinbase")
    return text


def when(value: str, option: str) -> int:
    """A UTC date/time option as epoch milliseconds; refuses anything but ISO dates."""
    from hmas.market import datetime_to_ms, parse_when

    try:
        return datetime_to_ms(parse_when(value))
    except (OverflowError, OSError, ValueError):
        raise UsageError(f"{option} date {value!r} is out of range; use {DATE_FORMAT}") from None


def past(value: str, option: str) -> int:
    """A date that must not lie in the future (``--since``)."""
    from hmas.market import ms_to_datetime, now_ms

    ms = when(value, option)
    if ms > now_ms():
        now = ms_to_datetime(now_ms()).strftime("%Y-%m-%dT%H:%MZ")
        raise UsageError(f"{option} {value} is in the future (now is {now}); give a past date")
    return ms


def at_least(value: int | None, minimum: int, option: str) -> int | None:
    """A count option: ``minimum`` or more, and no more than ``MAX_ID`` (what a store column
    and any series can hold)."""
    if value is not None and value < minimum:
        raise UsageError(f"{option} must be at least {minimum}, not {value}")
    if value is not None and value > MAX_ID:
        raise UsageError(f"{option} must be at most {MAX_ID}, not {value}")
    return value


def iterations(value: int | None) -> int | None:
    """``run --iterations``: -1 (until stopped) or a count of at least 1."""
    if value is not None and value != -1 and value < 1:
        raise UsageError(f"--iterations must be -1 (run until stopped) or at least 1, not {value}")
    return value


def sleep_seconds(value: float | None) -> float | None:
    """``run --sleep-seconds``: finite, between 0 and MAX_SLEEP_SECONDS."""
    if value is not None and not (math.isfinite(value) and 0 <= value <= MAX_SLEEP_SECONDS):
        raise UsageError(
            f"--sleep-seconds must be a number from 0 to {MAX_SLEEP_SECONDS:.0f} (one day), "
            f"not {value}"
        )
    return value


def timerange(value: str) -> tuple[int | None, int | None]:
    """``--timerange START-END`` (``YYYYMMDD``, either side may be empty) as ``[start, end)`` ms."""
    from datetime import UTC, datetime

    hint = "write it as YYYYMMDD-YYYYMMDD (either side may be empty), e.g. 20180101-20190101"
    text = value.strip()
    if text.count("-") != 1 or text == "-":
        raise UsageError(f"invalid --timerange {value!r}; {hint}")
    bounds: list[int | None] = []
    for part in text.split("-"):
        if not part:
            bounds.append(None)
            continue
        if len(part) != 8 or not (part.isascii() and part.isdigit()):
            raise UsageError(f"invalid --timerange {value!r}; {hint}")
        try:
            day = datetime.strptime(part, "%Y%m%d").replace(tzinfo=UTC)
        except ValueError:
            raise UsageError(
                f"invalid --timerange {value!r}: {part} is not a date; {hint}"
            ) from None
        bounds.append(int(day.timestamp() * 1000))
    return bounds[0], bounds[1]


def date_range(
    start: str | None, end: str | None, timerange_text: str | None
) -> tuple[int | None, int | None, str, str]:
    """The backtest range from ``--start``/``--end`` or ``--timerange``: ``[start, end)`` in ms.

    Returns the bounds and how errors name them. End before (or at) start is refused here,
    before anything is read.
    """
    from hmas.market import ms_to_datetime

    if timerange_text is not None and (start is not None or end is not None):
        raise UsageError("use either --timerange or --start/--end, not both")
    if timerange_text is not None:
        lo, hi = timerange(timerange_text)
        names = ("--timerange start", "--timerange end")
    else:
        lo = when(start, "--start") if start is not None else None
        hi = when(end, "--end") if end is not None else None
        names = ("--start", "--end")
    if lo is not None and hi is not None and hi <= lo:

        def show(ms: int) -> str:
            return ms_to_datetime(ms).strftime("%Y-%m-%dT%H:%MZ")

        relation = "is the same time as" if hi == lo else "is before"
        raise UsageError(
            f"{names[1]} {show(hi)} {relation} {names[0]} {show(lo)}: the range is empty; "
            f"the end must come after the start (the bar opening at the end is not included)"
        )
    return lo, hi, names[0], names[1]
