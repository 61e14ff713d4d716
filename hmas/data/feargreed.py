"""Client of the public Crypto Fear & Greed index (alternative.me ``/fng/``), cached per day.

The wire format (``GET https://api.alternative.me/fng/?limit=N&format=json``)::

    {"name": "Fear and Greed Index",
     "data": [{"value": "40", "value_classification": "Fear",
               "timestamp": "1551157200", "time_until_update": "68499"}, ...],
     "metadata": {"error": null}}

``value`` (0-100) and ``timestamp`` (epoch seconds of the day's start) are strings, newest first;
only the newest entry has ``time_until_update``. The index is published once a day, so one
answer is cached on disk per UTC day. The index is a best-effort extra input: every failure
returns None with the reason in ``last_error``; nothing here raises.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx

from hmas import __version__

if TYPE_CHECKING:
    import pandas as pd

logger = logging.getLogger(__name__)

DEFAULT_URL = "https://api.alternative.me/fng/"
CACHE_PREFIX = "fear_greed-"


def request_params(limit: int) -> dict[str, str]:
    """Query parameters for the last ``limit`` days (0: the whole history)."""
    return {"limit": str(limit), "format": "json"}


def parse_index(payload: Any) -> pd.Series:
    """The index as an int Series indexed by UTC day (ascending); ``ValueError`` if malformed."""
    import pandas as pd

    if not isinstance(payload, dict):
        raise ValueError("the answer is not a JSON object")
    metadata = payload.get("metadata") or {}
    if isinstance(metadata, dict) and metadata.get("error"):
        raise ValueError(f"the API reports an error: {metadata['error']}")
    data = payload.get("data")
    if not isinstance(data, list) or not data:
        raise ValueError("the answer has no data")
    stamps: list[int] = []
    values: list[int] = []
    try:
        for item in data:
            value = int(item["value"])
            if not 0 <= value <= 100:
                raise ValueError(f"value {value} outside 0-100")
            stamps.append(int(item["timestamp"]))
            values.append(value)
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"malformed data entry: {exc!r}") from None
    days = pd.to_datetime(pd.Series(stamps), unit="s", utc=True).dt.floor("D")
    series = pd.Series(values, index=pd.DatetimeIndex(days, name="day"), name="fear_greed")
    series = series.sort_index()
    return series[~series.index.duplicated(keep="last")].astype("int64")


class FearGreedClient:
    """Fetches the index; ``client`` is the test seam, ``cache_dir`` holds one answer per day."""

    def __init__(
        self,
        url: str = DEFAULT_URL,
        *,
        cache_dir: Path | None = None,
        client: httpx.Client | None = None,
        timeout: float = 10.0,
        today: Callable[[], date] | None = None,
    ) -> None:
        """Configure the endpoint, the optional cache directory and HTTP client."""
        self.url = url
        self.cache_dir = cache_dir
        self.timeout = timeout
        self.last_error: str | None = None
        self._client = client
        self._today = today or (lambda: datetime.now(tz=UTC).date())

    def history(self, limit: int = 30) -> pd.Series | None:
        """The last ``limit`` daily values by UTC day, or None (reason in ``last_error``)."""
        self.last_error = None
        path = self._cache_path(limit)
        payload = self._read_cache(path)
        from_cache = payload is not None
        if payload is None:
            try:
                payload = self._fetch(limit)
            except Exception as exc:  # an optional input must never break a signal
                self._fail(f"{type(exc).__name__}: {exc}")
                return None
        try:
            series = parse_index(payload)
        except ValueError as exc:
            self._fail(str(exc))
            return None
        if not from_cache:
            self._write_cache(path, payload)
        return series

    def _fail(self, reason: str) -> None:
        self.last_error = reason
        logger.warning("fear & greed index unavailable: %s", reason)

    def _fetch(self, limit: int) -> Any:
        client = self._client or httpx.Client(timeout=self.timeout)
        try:
            response = client.get(
                self.url,
                params=request_params(limit),
                headers={"User-Agent": f"hmas/{__version__}", "Accept": "application/json"},
                timeout=self.timeout,
            )
            response.raise_for_status()
            return response.json()
        finally:
            if self._client is None:
                client.close()

    def _cache_path(self, limit: int) -> Path | None:
        if self.cache_dir is None:
            return None
        return self.cache_dir / f"{CACHE_PREFIX}{self._today().isoformat()}-{limit}.json"

    def _read_cache(self, path: Path | None) -> Any:
        if path is None or not path.is_file():
            return None
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            logger.info("ignoring unreadable fear & greed cache %s: %s", path, exc)
            return None

    def _write_cache(self, path: Path | None, payload: Any) -> None:
        if path is None:
            return
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            # Earlier days' answers are stale: the cache holds today's files only.
            today = f"{CACHE_PREFIX}{self._today().isoformat()}-"
            for old in path.parent.glob(f"{CACHE_PREFIX}*.json"):
                if not old.name.startswith(today):
                    old.unlink(missing_ok=True)
            path.write_text(json.dumps(payload), encoding="utf-8")
        except OSError as exc:
            logger.info("cannot write the fear & greed cache %s: %s", path, exc)
