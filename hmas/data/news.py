"""Headlines from a file: the sentiment agent's news source (``news.file``).

One headline per line of a JSON Lines file (``.jsonl``) or per row of a CSV file (``.csv``,
a header row first)::

    {"published_at": "2024-03-01T11:30:00Z", "title": "ETF inflows hit a record",
     "source": "Example Wire", "url": "https://example.com/a", "symbols": ["BTC"]}

    published_at,title,source,url,symbols
    2024-03-01T11:30:00Z,ETF inflows hit a record,Example Wire,https://example.com/a,BTC;ETH

``published_at`` is ISO 8601 with a timezone (or ``Z``); a naive time is refused, since which
bars may read it would be a guess. ``title`` is required and non-empty; ``source``, ``url`` and
``symbols`` are optional (other keys are ignored). ``symbols`` (a list in JSONL, ``;``-separated
in CSV) limits a headline to those base assets (``BTC``) or symbols (``BTC-USD``); without it a
headline applies to every symbol.

A file is read and checked whole: any bad line is a :class:`~hmas.errors.NewsFileError` naming
the file, the line and the fix. ``headlines_at`` gives what a decision may read: headlines
published at or before its bar's close (never after: no lookahead) and within the lookback,
newest first.
"""

from __future__ import annotations

import bisect
import csv
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hmas.errors import NewsFileError

if TYPE_CHECKING:
    from hmas.settings import Settings

#: The extensions a headlines file may have, and the layout each one means.
FORMATS = {".jsonl": "JSON Lines", ".csv": "CSV"}
#: The longest title and source a headline keeps (characters); longer ones are cut.
MAX_TITLE = 300
MAX_SOURCE = 100
MAX_URL = 2_000
_EXAMPLE = '{"published_at": "2024-03-01T12:00:00Z", "title": "…"}'


@dataclass(frozen=True)
class Headline:
    """One headline: when it was published (UTC), its title, and where it applies."""

    published_at: datetime
    title: str
    source: str | None = None
    url: str | None = None
    #: Base assets (``BTC``) or symbols (``BTC-USD``) it is about; empty: every symbol.
    symbols: tuple[str, ...] = ()

    def applies_to(self, symbol: str) -> bool:
        """True when the headline is about ``symbol`` (``BTC-USD``), or about every symbol."""
        if not self.symbols:
            return True
        wanted = symbol.strip().upper().replace("/", "-")
        base = wanted.split("-", 1)[0]
        return any(s in (wanted, base) for s in self.symbols)

    def as_dict(self) -> dict[str, Any]:
        """The JSON form kept with a decision (``from_dict`` reads it back)."""
        return {
            "published_at": iso(self.published_at),
            "title": self.title,
            "source": self.source,
            "url": self.url,
            "symbols": list(self.symbols),
        }

    def for_prompt(self) -> dict[str, Any]:
        """What a model is shown: the time, the source and the title."""
        return {"published_at": iso(self.published_at), "source": self.source, "title": self.title}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Headline:
        """A headline from its ``as_dict`` form (a stored decision's record)."""
        return cls(
            published_at=parse_time(str(data["published_at"])),
            title=str(data["title"]),
            source=data.get("source"),
            url=data.get("url"),
            symbols=tuple(data.get("symbols") or ()),
        )


def iso(when: datetime) -> str:
    """A UTC time as ISO 8601 with ``Z`` (microseconds only when it has some)."""
    return when.astimezone(UTC).isoformat().replace("+00:00", "Z")


def parse_time(text: str) -> datetime:
    """An ISO 8601 time with a timezone (``Z`` or an offset), in UTC; ValueError if not."""
    parsed = _from_iso(text)
    if parsed.utcoffset() is None:
        raise ValueError(f"{text!r} has no timezone")
    return parsed.astimezone(UTC)


def _from_iso(text: str) -> datetime:
    """``datetime.fromisoformat`` (every ISO 8601 form since Python 3.11), a lower-case z too."""
    value = text.strip()
    if value.endswith("z"):
        value = value[:-1] + "Z"
    return datetime.fromisoformat(value)


def headlines_at(
    items: Iterable[Headline],
    decided_at: datetime,
    symbol: str,
    lookback: timedelta,
    limit: int,
) -> list[Headline]:
    """The headlines a decision at ``decided_at`` (its bar's close) may read about ``symbol``.

    Published in ``(decided_at - lookback, decided_at]``: at or before the close, never after
    it, and no older than the lookback; newest first (ties in file order), at most ``limit``.
    """
    start = decided_at - lookback
    found = [h for h in items if start < h.published_at <= decided_at and h.applies_to(symbol)]
    order = sorted(range(len(found)), key=lambda k: (found[k].published_at, -k), reverse=True)
    return [found[k] for k in order[: max(0, limit)]]


@dataclass(frozen=True)
class NewsFeed:
    """The headlines a run may read and the window each decision reads them through.

    ``items`` sorted by time (file order within a time); ``file`` names where they came from
    (None for the headlines kept with a stored decision).
    """

    items: tuple[Headline, ...]
    lookback: timedelta
    limit: int
    file: str | None = None
    _times: tuple[datetime, ...] = field(default=(), repr=False, compare=False)

    def __post_init__(self) -> None:
        ordered = tuple(sorted(self.items, key=lambda h: h.published_at))
        object.__setattr__(self, "items", ordered)
        object.__setattr__(self, "_times", tuple(h.published_at for h in ordered))

    def window(self, decided_at: datetime, symbol: str) -> list[Headline]:
        """``headlines_at`` over the feed, only the candidates in the window scanned."""
        lo = bisect.bisect_right(self._times, decided_at - self.lookback)
        hi = bisect.bisect_right(self._times, decided_at)
        return headlines_at(self.items[lo:hi], decided_at, symbol, self.lookback, self.limit)

    def record(self, decided_at: datetime, headlines: Sequence[Headline]) -> dict[str, Any]:
        """What a decision keeps of its news: the window and the headlines it read."""
        return {
            "file": self.file,
            "decided_at": iso(decided_at),
            "lookback_hours": self.lookback / timedelta(hours=1),
            "max_headlines": self.limit,
            "headlines": [h.as_dict() for h in headlines],
        }

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> NewsFeed:
        """The feed of a stored decision: exactly the headlines it read, whatever the file
        holds now (or if it is gone)."""
        return cls(
            tuple(Headline.from_dict(h) for h in record.get("headlines") or []),
            timedelta(hours=float(record["lookback_hours"])),
            int(record["max_headlines"]),
        )


def load_feed(settings: Settings) -> NewsFeed | None:
    """The news source ``settings`` configure (None without ``news.file``), read and checked."""
    params = settings.news
    if params.file is None:
        return None
    path = params.file.expanduser()
    return NewsFeed(
        tuple(read_headlines(path)),
        timedelta(hours=params.lookback_hours),
        params.max_headlines,
        str(path),
    )


def read_headlines(path: Path) -> list[Headline]:
    """Every headline of a ``.jsonl`` or ``.csv`` file, in file order; NewsFileError if any
    line is not one, or the file is no usable file."""
    fix = "set news.file (HMAS_NEWS__FILE) to a .jsonl or .csv headlines file, or unset it"
    suffix = path.suffix.lower()
    if not path.exists():
        raise NewsFileError(f"news file not found: {path}; {fix}")
    if path.is_dir():
        raise NewsFileError(f"news file {path} is a directory; {fix}")
    if suffix not in FORMATS:
        raise NewsFileError(
            f"news file {path} has an unknown extension {path.suffix or '(none)'!r}; name it "
            ".jsonl (one JSON object per line) or .csv (a header row, then one headline a row)"
        )
    try:
        raw = path.read_bytes()
    except PermissionError:
        raise NewsFileError(
            f"cannot read news file {path}: permission denied; check its permissions"
        ) from None
    except OSError as exc:
        raise NewsFileError(f"cannot read news file {path}: {exc.strerror or exc}") from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise NewsFileError(
            f"news file {path} line {line}: not UTF-8 text (byte {exc.start} of the file); save "
            "it as UTF-8"
        ) from None
    if not text.strip():
        raise NewsFileError(
            f"news file {path} is empty; add one headline per line, or unset news.file"
        )
    items = _read_jsonl(path, text) if suffix == ".jsonl" else _read_csv(path, text)
    if not items:
        raise NewsFileError(
            f"news file {path} has a header but no headlines; add one headline a row, or "
            "unset news.file"
        )
    return items


def _read_jsonl(path: Path, text: str) -> list[Headline]:
    items = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        where = f"news file {path} line {number}"
        try:
            data = json.loads(line)
        except json.JSONDecodeError as exc:
            raise NewsFileError(
                f"{where}: not valid JSON ({exc.msg} at column {exc.colno}); write one JSON "
                f"object per line, e.g. {_EXAMPLE}"
            ) from None
        if not isinstance(data, dict):
            raise NewsFileError(
                f"{where}: expected a JSON object, got {type(data).__name__}; write one "
                f"object per line, e.g. {_EXAMPLE}"
            )
        symbols = data.get("symbols")
        if symbols is not None and not (
            isinstance(symbols, list) and all(isinstance(s, str) for s in symbols)
        ):
            raise NewsFileError(
                f'{where}: symbols must be a list of strings such as ["BTC", "ETH-USD"]'
            )
        items.append(_headline(where, data, symbols or []))
    return items


def _read_csv(path: Path, text: str) -> list[Headline]:
    reader = csv.DictReader(text.splitlines())
    columns = [c.strip().lower() for c in reader.fieldnames or []]
    missing = [c for c in ("published_at", "title") if c not in columns]
    if missing:
        raise NewsFileError(
            f"news file {path} line 1: the header has no {' or '.join(missing)} column; the "
            "columns are published_at,title and optionally source,url,symbols"
        )
    items = []
    for row in reader:
        where = f"news file {path} line {reader.line_num}"
        data = {str(k).strip().lower(): v for k, v in row.items() if k is not None}
        if None in row:
            raise NewsFileError(
                f"{where}: more cells than the header has columns; quote a title that holds "
                'a comma ("…, …")'
            )
        if not any((v or "").strip() for v in data.values()):
            continue
        cell = (data.get("symbols") or "").strip()
        symbols = cell.split(";") if cell else []
        items.append(_headline(where, data, symbols))
    return items


def _headline(where: str, data: Mapping[str, Any], symbols: list[str]) -> Headline:
    """One headline from a line's fields; NewsFileError naming the line and the fix."""
    title = data.get("title")
    if not isinstance(title, str) or not title.strip():
        shown = "missing" if title is None else f"empty ({json.dumps(title)})"
        raise NewsFileError(f"{where}: title is {shown}; give every headline a non-empty title")
    stamp = data.get("published_at")
    if not isinstance(stamp, str) or not stamp.strip():
        raise NewsFileError(
            f"{where}: published_at is missing; give the time it was published, e.g. "
            "2024-03-01T12:00:00Z"
        )
    try:
        published = _from_iso(stamp)
    except ValueError:
        raise NewsFileError(
            f"{where}: published_at {stamp!r} is not an ISO 8601 time; write it like "
            "2024-03-01T12:00:00Z"
        ) from None
    if published.utcoffset() is None:
        # Which bars may read a naive time would be a guess: UTC, or the writer's zone?
        shown = stamp.strip() if len(stamp.strip()) > 10 else f"{stamp.strip()}T00:00:00"
        raise NewsFileError(
            f"{where}: published_at {stamp!r} has no timezone; add one, e.g. {shown}Z (UTC) "
            f"or {shown}+02:00"
        )
    texts = {}
    for key, limit in (("source", MAX_SOURCE), ("url", MAX_URL)):
        value = data.get(key)
        if value is not None and not isinstance(value, str):
            raise NewsFileError(f"{where}: {key} must be text, got {json.dumps(value)}")
        texts[key] = (value or "").strip()[:limit] or None
    cleaned = tuple(s.strip().upper().replace("/", "-") for s in symbols if s.strip())
    return Headline(
        published_at=published.astimezone(UTC),
        title=" ".join(title.split())[:MAX_TITLE],
        source=texts["source"],
        url=texts["url"],
        symbols=cleaned,
    )
