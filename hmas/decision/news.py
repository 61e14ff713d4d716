"""The news a decision reads: the headlines of each bar's window, into the sentiment agent.

A bar is decided at its close, so it reads the headlines published at or before that close
and within ``news.lookback_hours`` of it (``NewsFeed.window``), whichever engine runs:

- the rules do not read text: the sentiment frame gets a ``news_count`` column (the
  headlines in the window) and the view says so in its notes; the decision is the same bit
  for bit with or without a news source;
- the LLM engine quotes the headlines (time, source, title) in the sentiment agent's
  question, as data (``hmas.agents.prompts``).

The headlines a signal read are stored with its analysis (``context.news``), so ``replay``
asks the same question offline whatever the file holds later (``NewsFeed.from_record``).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from hmas.market import timeframe_ms

if TYPE_CHECKING:
    import pandas as pd

    from hmas.data.news import NewsFeed
    from hmas.store.models import Analysis

#: The agent that reads the news.
AGENT = "sentiment"


def decided_at(bar_open: pd.Timestamp, timeframe: str) -> datetime:
    """When the bar opening at ``bar_open`` is decided: its close (UTC)."""
    import pandas as pd

    stamp = pd.Timestamp(bar_open)
    stamp = stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")
    close: datetime = (stamp + pd.Timedelta(milliseconds=timeframe_ms(timeframe))).to_pydatetime()
    return close.astimezone(UTC)


def with_news_count(frame: pd.DataFrame, counts: Mapping[int, int]) -> pd.DataFrame:
    """The sentiment frame with the ``news_count`` of the rows (positions) in ``counts``.

    Other rows hold None (not asked). An abstained frame (an agent error) is returned as is:
    it has no view to say anything in.
    """
    import pandas as pd

    if list(frame.columns) == ["abstained", "abstain_reason"] or not counts:
        return frame
    column = (
        frame["news_count"].astype(object)
        if "news_count" in frame.columns
        else pd.Series(None, index=frame.index, dtype=object)
    )
    values = column.to_numpy(copy=True)
    for position, count in counts.items():
        values[position] = int(count)
    return frame.assign(news_count=values)


def stored_news(analysis: Analysis) -> NewsFeed | None:
    """The news source of a stored analysis: the headlines it read (None if it had none)."""
    from hmas.data.news import NewsFeed

    record = analysis.context.get("news")
    return None if record is None else NewsFeed.from_record(record)
