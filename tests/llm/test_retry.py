"""Retry decisions and waits, without HTTP."""

from __future__ import annotations

import pytest

from hmas.llm.deadline import Deadline
from hmas.llm.redact import redact, safe_headers
from hmas.llm.retry import Backoff, retry_after, should_retry


@pytest.mark.parametrize(
    ("status", "headers", "expected"),
    [
        (429, {}, True),
        (500, {}, True),
        (529, {}, True),
        (400, {}, False),
        (401, {}, False),
        (404, {}, False),
        (500, {"x-should-retry": "false"}, False),
        (400, {"x-should-retry": "true"}, True),
    ],
)
def test_should_retry(status: int, headers: dict, expected: bool) -> None:
    assert should_retry(status, headers) is expected


def test_retry_after_forms() -> None:
    assert retry_after({"retry-after": "7"}) == 7.0
    assert retry_after({"retry-after-ms": "1500", "retry-after": "9"}) == 1.5
    assert retry_after({"retry-after": "Wed, 21 Oct 2015 07:28:10 GMT"}, now=1445412480.0) == 10.0
    assert retry_after({"retry-after": "soon"}) is None and retry_after({}) is None


def test_backoff_doubles_is_capped_and_jittered() -> None:
    top = Backoff(1.0, 5.0, rng=lambda: 1.0)
    assert [top.delay(n) for n in range(4)] == [1.0, 2.0, 4.0, 5.0]
    low = Backoff(1.0, 5.0, rng=lambda: 0.0)
    assert [low.delay(n) for n in range(4)] == [0.5, 1.0, 2.0, 2.5]
    assert top.delay(0, server_asks=3.0) == 3.0


def test_deadline() -> None:
    now = [100.0]
    deadline = Deadline.after(2.0, clock=lambda: now[0])
    assert deadline.remaining() == 2.0 and not deadline.passed
    now[0] = 102.0
    assert deadline.passed


def test_redaction() -> None:
    key = "abc123-not-key-shaped"
    text = f"refused {key}; Incorrect API key provided: sk-proj-abc***wxyz; Bearer eyJhbGciOi.xyz"
    out = redact(text, [key])
    assert key not in out and "sk-proj" not in out and "eyJhbGciOi" not in out
    assert safe_headers({"Authorization": "Bearer x", "x-api-key": "y", "accept": "a"}) == {
        "Authorization": "[redacted]",
        "x-api-key": "[redacted]",
        "accept": "a",
    }
