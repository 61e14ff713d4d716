"""Fixtures for the data-source tests: exchange traffic replayed from cassettes, never live."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any

import pytest
import vcr

CASSETTES = Path(__file__).resolve().parent / "cassettes"

#: Replay only: a request missing from its cassette fails the test instead of going out.
EXCHANGE_VCR = vcr.VCR(
    cassette_library_dir=str(CASSETTES),
    record_mode="none",
    match_on=["method", "scheme", "host", "path", "query"],
    filter_headers=["authorization", "x-api-key", "cb-access-key", "cb-access-sign"],
)


@pytest.fixture
def replay() -> Callable[[str], AbstractContextManager[Any]]:
    """``with replay("coinbase_pages"):`` plays that cassette and checks every answer was used."""

    @contextmanager
    def play(name: str) -> Iterator[Any]:
        path = CASSETTES / f"{name}.yaml"
        assert path.is_file(), f"missing cassette {path}; run build_cassettes.py"
        # Each recorded answer plays once, in order: a 429 then a 200 for the same request.
        with EXCHANGE_VCR.use_cassette(path.name, allow_playback_repeats=False) as cassette:
            yield cassette
        assert cassette.all_played, f"{name}: {len(cassette.data) - cassette.play_count} unused"

    return play
