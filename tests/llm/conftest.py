"""Fixtures of the LLM tests: cassettes of real provider traffic, a stub provider on loopback."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any

import pytest
import vcr

from hmas.settings import LlmParams
from tests.llm.stub import StubServer

CASSETTES = Path(__file__).resolve().parent / "cassettes"

#: Replay only, each answer once and in order; the key headers are filtered if ever recorded.
LLM_VCR = vcr.VCR(
    cassette_library_dir=str(CASSETTES),
    record_mode="none",
    match_on=["method", "scheme", "host", "port", "path"],
    filter_headers=["authorization", "x-api-key", "x-goog-api-key", "api-key"],
)


@pytest.fixture
def replay() -> Callable[[str], AbstractContextManager[Any]]:
    """``with replay("openai_plain"):`` plays that cassette and checks every answer was used."""

    @contextmanager
    def play(name: str) -> Iterator[Any]:
        path = CASSETTES / f"{name}.yaml"
        assert path.is_file(), f"missing cassette {path}; run tests/llm/cassettes/build.py"
        with LLM_VCR.use_cassette(path.name, allow_playback_repeats=False) as cassette:
            yield cassette
        assert cassette.all_played, f"{name}: {len(cassette.data) - cassette.play_count} unused"

    return play


@pytest.fixture
def stub() -> Iterator[StubServer]:
    """A provider stub on loopback answering at once."""
    with StubServer() as server:
        yield server


def stub_params(server: StubServer, **overrides: Any) -> LlmParams:
    """Settings routing every agent to the stub: ``local`` (OpenAI wire) and ``anthropic``."""
    values: dict[str, Any] = {
        "vendors": {
            "local": {"base_url": f"{server.url}/v1"},
            "anthropic": {"base_url": f"{server.url}/v1"},
        },
        "routing": {"alpha": "local/stub-model", "rationale": "anthropic"},
        "backoff_seconds": 0.01,
        "max_backoff_seconds": 1.0,
        "retries": 2,
        "call_timeout_seconds": 5.0,
    }
    values.update(overrides)
    return LlmParams.model_validate(values)
