"""The headlines file: read whole and checked line by line, and the window a decision reads.

Each bad file is refused with a ``NewsFileError`` (exit 2) naming the file, the line and the
fix; a decision reads only headlines published by its bar's close, within the lookback,
about its symbol, newest first.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hmas.data.news import Headline, NewsFeed, headlines_at, load_feed, read_headlines
from hmas.errors import NewsFileError
from hmas.settings import load_settings


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


def jsonl(path: Path, *rows: object) -> Path:
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows))
    return path


# --- reading -----------------------------------------------------------------------------


def test_a_jsonl_file_with_every_field(tmp_path: Path) -> None:
    path = jsonl(
        tmp_path / "news.jsonl",
        {
            "published_at": "2024-03-01T13:30:00+02:00",
            "title": "  ETF inflows\n hit a record ",
            "source": "Example Wire",
            "url": "https://example.com/a",
            "symbols": ["btc", "ETH/USD"],
            "id": 7,  # other keys are a feed's business, not ours
        },
        "",
        {"published_at": "2024-03-01T12:00:00Z", "title": "Markets calm"},
    )
    first, second = read_headlines(path)
    assert first == Headline(
        at("2024-03-01T11:30:00+00:00"),
        "ETF inflows hit a record",
        "Example Wire",
        "https://example.com/a",
        ("BTC", "ETH-USD"),
    )
    assert first.published_at.tzinfo is UTC
    assert second == Headline(at("2024-03-01T12:00:00+00:00"), "Markets calm")


def test_a_csv_file_with_quoted_commas_and_symbols(tmp_path: Path) -> None:
    path = tmp_path / "news.csv"
    path.write_text(
        "\ufeffPublished_At,Title,source,url,symbols\n"
        '2024-03-01T12:00:00Z,"Fed holds, markets rally",Wire,,BTC;ETH\n'
        "\n"
        "2024-03-01T12:05:00.5z,Plain,,,\n",
        encoding="utf-8",
    )
    first, second = read_headlines(path)
    assert (first.title, first.source, first.url, first.symbols) == (
        "Fed holds, markets rally",
        "Wire",
        None,
        ("BTC", "ETH"),
    )
    assert second.published_at == datetime(2024, 3, 1, 12, 5, 0, 500_000, tzinfo=UTC)
    assert (second.source, second.symbols) == (None, ())


def test_long_titles_and_sources_are_cut(tmp_path: Path) -> None:
    path = jsonl(
        tmp_path / "n.jsonl",
        {"published_at": "2024-03-01T12:00:00Z", "title": "x" * 1000, "source": "s" * 500},
    )
    (item,) = read_headlines(path)
    assert (len(item.title), len(item.source or "")) == (300, 100)


def _unreadable(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real = Path.read_bytes

    def refuse(self: Path) -> bytes:
        # chmod 0 does not stop root (the CI container): refuse the read the way the OS would.
        if self == path:
            raise PermissionError(13, "Permission denied", str(self))
        return real(self)

    monkeypatch.setattr(Path, "read_bytes", refuse)


EXAMPLE = '{"published_at": "2024-03-01T12:00:00Z", "title": "…"}'
FIX = "set news.file (HMAS_NEWS__FILE) to a .jsonl or .csv headlines file, or unset it"
OK = '{"published_at": "2024-03-01T12:00:00Z", "title": "fine"}'

BAD: dict[str, tuple[str, str | None, str]] = {
    # name: (file name, content (None: not created), message)
    "missing": ("gone.jsonl", None, "news file not found: {path}; " + FIX),
    "a directory": ("dir.jsonl", "<dir>", "news file {path} is a directory; " + FIX),
    "empty": (
        "e.jsonl",
        "",
        "news file {path} is empty; add one headline per line, or unset news.file",
    ),
    "only blank lines": (
        "b.jsonl",
        "\n  \n",
        "news file {path} is empty; add one headline per line, or unset news.file",
    ),
    "an unknown extension": (
        "news.txt",
        OK,
        "news file {path} has an unknown extension '.txt'; name it .jsonl (one JSON object per "
        "line) or .csv (a header row, then one headline a row)",
    ),
    "no extension": (
        "news",
        OK,
        "news file {path} has an unknown extension '(none)'; name it .jsonl (one JSON object "
        "per line) or .csv (a header row, then one headline a row)",
    ),
    "not UTF-8": (
        "l.jsonl",
        "<latin1>",
        "news file {path} line 2: not UTF-8 text (byte 112 of the file); save it as UTF-8",
    ),
    "a bad JSON line": (
        "j.jsonl",
        OK + "\n" + '{"published_at": "2024-03-01T12:00:00Z", "title": "x"',
        "news file {path} line 2: not valid JSON (Expecting ',' delimiter at column 54); "
        "write one JSON object per line, e.g. " + EXAMPLE,
    ),
    "a JSON line that is no object": (
        "a.jsonl",
        '["2024-03-01T12:00:00Z", "x"]',
        "news file {path} line 1: expected a JSON object, got list; write one object per line, "
        "e.g. " + EXAMPLE,
    ),
    "no title": (
        "t.jsonl",
        '{"published_at": "2024-03-01T12:00:00Z"}',
        "news file {path} line 1: title is missing; give every headline a non-empty title",
    ),
    "an empty title": (
        "t.jsonl",
        OK + "\n\n" + '{"published_at": "2024-03-01T12:00:00Z", "title": "  "}',
        'news file {path} line 3: title is empty ("  "); give every headline a non-empty title',
    ),
    "a title that is no text": (
        "t.jsonl",
        '{"published_at": "2024-03-01T12:00:00Z", "title": 42}',
        "news file {path} line 1: title is empty (42); give every headline a non-empty title",
    ),
    "no time": (
        "p.jsonl",
        '{"title": "x"}',
        "news file {path} line 1: published_at is missing; give the time it was published, "
        "e.g. 2024-03-01T12:00:00Z",
    ),
    "a naive time": (
        "n.jsonl",
        '{"published_at": "2024-03-01T12:00:00", "title": "x"}',
        "news file {path} line 1: published_at '2024-03-01T12:00:00' has no timezone; add one, "
        "e.g. 2024-03-01T12:00:00Z (UTC) or 2024-03-01T12:00:00+02:00",
    ),
    "a naive date": (
        "n.csv",
        "published_at,title\n2024-03-01,x\n",
        "news file {path} line 2: published_at '2024-03-01' has no timezone; add one, e.g. "
        "2024-03-01T00:00:00Z (UTC) or 2024-03-01T00:00:00+02:00",
    ),
    "an unparseable time": (
        "u.csv",
        "published_at,title\nyesterday,x\n",
        "news file {path} line 2: published_at 'yesterday' is not an ISO 8601 time; write it "
        "like 2024-03-01T12:00:00Z",
    ),
    "symbols that are no list": (
        "s.jsonl",
        '{"published_at": "2024-03-01T12:00:00Z", "title": "x", "symbols": "BTC"}',
        'news file {path} line 1: symbols must be a list of strings such as ["BTC", "ETH-USD"]',
    ),
    "a source that is no text": (
        "s.jsonl",
        '{"published_at": "2024-03-01T12:00:00Z", "title": "x", "source": 1}',
        "news file {path} line 1: source must be text, got 1",
    ),
    "a CSV header without title": (
        "h.csv",
        "published_at,headline\n2024-03-01T12:00:00Z,x\n",
        "news file {path} line 1: the header has no title column; the columns are "
        "published_at,title and optionally source,url,symbols",
    ),
    "a CSV header only": (
        "h.csv",
        "published_at,title\n",
        "news file {path} has a header but no headlines; add one headline a row, or unset "
        "news.file",
    ),
    "a CSV row with more cells than the header": (
        "c.csv",
        "published_at,title\n2024-03-01T12:00:00Z,Fed holds, markets rally\n",
        "news file {path} line 2: more cells than the header has columns; quote a title that "
        'holds a comma ("…, …")',
    ),
}


@pytest.mark.parametrize("case", list(BAD))
def test_a_bad_file_is_refused_naming_the_file_the_line_and_the_fix(
    tmp_path: Path, case: str
) -> None:
    name, content, message = BAD[case]
    path = tmp_path / name
    if content == "<dir>":
        path.mkdir()
    elif content == "<latin1>":
        bad = b'{"published_at": "2024-03-01T12:00:00Z", "title": "caf\xe9"}\n'
        path.write_bytes(OK.encode() + b"\n" + bad)
    elif content is not None:
        path.write_text(content, encoding="utf-8")
    with pytest.raises(NewsFileError) as info:
        read_headlines(path)
    assert str(info.value) == message.replace("{path}", str(path))
    assert info.value.exit_code == 2
    assert "\n" not in str(info.value)


def test_an_unreadable_file_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = jsonl(tmp_path / "secret.jsonl", OK)
    _unreadable(path, monkeypatch)
    with pytest.raises(NewsFileError) as info:
        read_headlines(path)
    assert str(info.value) == (
        f"cannot read news file {path}: permission denied; check its permissions"
    )


# --- the window --------------------------------------------------------------------------

CLOSE = at("2024-03-01T12:00:00+00:00")
DAY = timedelta(hours=24)


def h(when: str, title: str = "t", *symbols: str) -> Headline:
    return Headline(at(when), title, symbols=tuple(symbols))


def test_only_headlines_published_by_the_close_and_within_the_lookback() -> None:
    items = [
        h("2024-03-01T12:00:01+00:00", "after the close"),
        h("2024-03-01T12:00:00+00:00", "at the close"),
        h("2024-03-01T11:59:59+00:00", "just before"),
        h("2024-02-29T12:00:00.000001+00:00", "just inside the lookback"),
        h("2024-02-29T12:00:00+00:00", "exactly a lookback old"),
        h("2024-02-28T00:00:00+00:00", "too old"),
    ]
    got = headlines_at(items, CLOSE, "BTC-USD", DAY, 20)
    assert [x.title for x in got] == ["at the close", "just before", "just inside the lookback"]


def test_a_headline_about_other_assets_is_not_read() -> None:
    items = [
        h("2024-03-01T10:00:00+00:00", "btc", "BTC"),
        h("2024-03-01T10:01:00+00:00", "pair", "BTC-USD"),
        h("2024-03-01T10:02:00+00:00", "other pair", "BTC-EUR"),
        h("2024-03-01T10:03:00+00:00", "eth", "ETH"),
        h("2024-03-01T10:04:00+00:00", "all"),
    ]
    assert [x.title for x in headlines_at(items, CLOSE, "BTC-USD", DAY, 20)] == [
        "all",
        "pair",
        "btc",
    ]
    assert [x.title for x in headlines_at(items, CLOSE, "eth-usd", DAY, 20)] == ["all", "eth"]


def test_newest_first_ties_in_file_order_at_most_the_limit() -> None:
    items = [
        h("2024-03-01T09:00:00+00:00", "a"),
        h("2024-03-01T11:00:00+00:00", "b"),
        h("2024-03-01T11:00:00+00:00", "c"),
        h("2024-03-01T10:00:00+00:00", "d"),
    ]
    assert [x.title for x in headlines_at(items, CLOSE, "BTC-USD", DAY, 20)] == list("bcda")
    assert [x.title for x in headlines_at(items, CLOSE, "BTC-USD", DAY, 2)] == list("bc")


stamps = st.integers(min_value=0, max_value=72 * 3600).map(
    lambda s: datetime(2024, 2, 28, tzinfo=UTC) + timedelta(seconds=s)
)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(stamps, st.sampled_from([(), ("BTC",), ("ETH",), ("BTC-USD", "ETH")])),
        max_size=30,
    ),
    stamps,
    st.integers(min_value=1, max_value=30),
    st.integers(min_value=1, max_value=48),
)
def test_the_feeds_window_is_headlines_at_over_the_whole_file(
    rows: list[tuple[datetime, tuple[str, ...]]], close: datetime, limit: int, hours: int
) -> None:
    items = [Headline(t, f"h{k}", symbols=s) for k, (t, s) in enumerate(rows)]
    feed = NewsFeed(tuple(items), timedelta(hours=hours), limit)
    expected = headlines_at(items, close, "BTC-USD", timedelta(hours=hours), limit)
    assert feed.window(close, "BTC-USD") == expected
    assert all(x.published_at <= close for x in expected)  # never a headline from after it


def test_a_stored_record_gives_back_the_same_window() -> None:
    items = (
        Headline(at("2024-03-01T11:00:00+00:00"), "a", "Wire", "https://x/a", ("BTC",)),
        Headline(at("2024-03-01T10:00:00.25+00:00"), "b"),
    )
    feed = NewsFeed(items, timedelta(hours=6), 5, "/tmp/news.jsonl")
    window = feed.window(CLOSE, "BTC-USD")
    record = json.loads(json.dumps(feed.record(CLOSE, window)))
    assert record["decided_at"] == "2024-03-01T12:00:00Z"
    assert record["headlines"][1]["published_at"] == "2024-03-01T10:00:00.250000Z"
    again = NewsFeed.from_record(record)
    assert again.window(CLOSE, "BTC-USD") == window
    assert (again.lookback, again.limit, again.file) == (timedelta(hours=6), 5, None)


# --- from the settings -------------------------------------------------------------------


def test_no_file_is_no_news_source() -> None:
    assert load_feed(load_settings()) is None


def test_the_feed_of_the_settings(tmp_path: Path) -> None:
    jsonl(tmp_path / "news.jsonl", OK)
    feed = load_feed(load_settings(news={"file": "news.jsonl", "max_headlines": 3}))
    assert feed is not None
    assert (len(feed.items), feed.limit, feed.lookback) == (1, 3, timedelta(hours=24))
    assert feed.file == "news.jsonl"


def test_the_shipped_example_is_valid() -> None:
    example = Path(__file__).resolve().parents[2] / "examples" / "news.jsonl"
    items = read_headlines(example)
    assert len(items) == 6 and all(x.published_at.tzinfo is UTC for x in items)
    assert any("Ignore all previous instructions" in x.title for x in items)
