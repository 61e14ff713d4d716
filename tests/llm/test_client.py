"""Reliability against a stub provider on loopback: retries, Retry-After, x-should-retry,
timeouts, deadlines, per-vendor concurrency, the repair turn and abstention."""

from __future__ import annotations

import asyncio
import time

import pytest

from hmas.errors import (
    LlmBadRequestError,
    LlmConnectionError,
    LlmDeadlineError,
    LlmNotFoundError,
    LlmRateLimitError,
    LlmResponseError,
    LlmServerError,
    LlmTimeoutError,
)
from hmas.llm import CallRecord, Deadline, Keys, LlmClient, Message, Prompt, resolve_routes
from hmas.settings import LlmParams
from tests.llm.conftest import stub_params
from tests.llm.helpers import Pong, make, run
from tests.llm.stub import Reply, StubServer

HELLO = [Message("user", "ping")]
PROMPT = Prompt("You judge.", "Say pong.")


def setup(server: StubServer, agent: str = "alpha", **overrides: object):  # type: ignore[no-untyped-def]
    params = stub_params(server, **overrides)
    route = resolve_routes(params, [agent], known=list(params.routing))[agent]
    return params, route


class Sleeps:
    """A recording stand-in for asyncio.sleep (no real waiting)."""

    def __init__(self) -> None:
        self.calls: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)


def test_5xx_is_retried_with_backoff_then_answers(stub: StubServer) -> None:
    params, route = setup(stub, backoff_seconds=1.0, max_backoff_seconds=10.0)
    stub.script.extend([Reply(500), Reply(503)])
    sleeps = Sleeps()
    client = make(params, Keys(), sleep=sleeps, rng=lambda: 1.0)
    records: list[CallRecord] = []
    done = run(client.complete(route, HELLO, records=records))
    assert done.text == '{"verdict": "pong"}'
    assert [r.http_status for r in records] == [500, 503, 200]
    assert sleeps.calls == [1.0, 2.0]  # base * 2**n, jitter factor 1.0 here


def test_jitter_keeps_waits_between_half_and_all_of_the_backoff(stub: StubServer) -> None:
    params, route = setup(stub, backoff_seconds=1.0, max_backoff_seconds=10.0)
    stub.script.extend([Reply(502), Reply(502)])
    sleeps = Sleeps()
    run(make(params, Keys(), sleep=sleeps, rng=lambda: 0.0).complete(route, HELLO))
    assert sleeps.calls == [0.5, 1.0]


def test_server_errors_past_the_retry_budget(stub: StubServer) -> None:
    params, route = setup(stub, retries=1)
    stub.script.extend([Reply(500), Reply(500)])
    with pytest.raises(LlmServerError, match=r"local failed \(500: .*after 2 attempt"):
        run(make(params, Keys(), sleep=Sleeps()).complete(route, HELLO))
    assert len(stub.seen) == 2


@pytest.mark.parametrize(
    ("headers", "expected"),
    [({"retry-after": "3"}, 3.0), ({"retry-after-ms": "250"}, 0.25)],
)
def test_retry_after_is_honoured(
    stub: StubServer, headers: dict[str, str], expected: float
) -> None:
    params, route = setup(stub, backoff_seconds=0.01, max_backoff_seconds=30.0)
    stub.script.append(Reply(429, headers=headers))
    sleeps = Sleeps()
    run(make(params, Keys(), sleep=sleeps).complete(route, HELLO))
    assert sleeps.calls == [expected]
    assert len(stub.seen) == 2


def test_retry_after_beyond_the_longest_wait_gives_up(stub: StubServer) -> None:
    params, route = setup(stub, max_backoff_seconds=5.0)
    stub.script.append(Reply(429, headers={"retry-after": "120"}))
    with pytest.raises(LlmRateLimitError, match=r"asks to wait 120s, beyond llm\.max_backoff"):
        run(make(params, Keys(), sleep=Sleeps()).complete(route, HELLO))
    assert len(stub.seen) == 1


@pytest.mark.parametrize(
    ("status", "error"),
    [(400, LlmBadRequestError), (404, LlmNotFoundError), (422, LlmBadRequestError)],
)
def test_client_errors_are_never_retried(stub: StubServer, status: int, error: type) -> None:
    params, route = setup(stub)
    stub.script.append(Reply(status, body={"error": {"message": "no", "code": status}}))
    with pytest.raises(error):
        run(make(params, Keys(), sleep=Sleeps()).complete(route, HELLO))
    assert len(stub.seen) == 1


def test_x_should_retry_overrides_the_status(stub: StubServer) -> None:
    params, route = setup(stub, agent="rationale")  # Anthropic wire
    anthropic_error = {"type": "error", "error": {"type": "api_error", "message": "busy"}}
    stub.script.append(Reply(500, body=anthropic_error, headers={"x-should-retry": "false"}))
    with pytest.raises(LlmServerError, match=r"busy \(api_error\)"):
        run(make(params, Keys(), sleep=Sleeps()).complete(route, HELLO))
    assert len(stub.seen) == 1
    stub.script.append(Reply(409, body=anthropic_error, headers={"x-should-retry": "true"}))
    done = run(make(params, Keys(), sleep=Sleeps()).complete(route, HELLO))
    assert done.text and len(stub.seen) == 3


def test_per_call_timeout_then_retry(stub: StubServer) -> None:
    params, route = setup(stub, call_timeout_seconds=0.3)
    stub.script.append(Reply(delay=2.0))
    records: list[CallRecord] = []
    done = run(make(params, Keys(), sleep=Sleeps()).complete(route, HELLO, records=records))
    assert done.text and [r.status for r in records] == ["error", "ok"]
    assert "call_timeout_seconds (0.3s)" in str(records[0].error)
    stub.script.extend([Reply(delay=2.0), Reply(delay=2.0), Reply(delay=2.0)])
    with pytest.raises(LlmTimeoutError):
        run(make(params, Keys(), sleep=Sleeps()).complete(route, HELLO))


def test_a_dropped_connection_is_retried(stub: StubServer) -> None:
    params, route = setup(stub)
    stub.script.append(Reply(drop=True))
    done = run(make(params, Keys(), sleep=Sleeps()).complete(route, HELLO))
    assert done.text and len(stub.seen) == 2


def test_an_unreachable_server() -> None:
    with StubServer() as server:
        params, route = setup(server, retries=1)
    # The server is gone: the port refuses connections.
    with pytest.raises(LlmConnectionError, match=r"cannot reach http://127\.0\.0\.1:\d+/v1"):
        run(make(params, Keys(), sleep=Sleeps()).complete(route, HELLO))


def test_a_200_that_is_not_json(stub: StubServer) -> None:
    params, route = setup(stub)
    stub.script.append(Reply(body="<html>gateway</html>"))
    with pytest.raises(LlmResponseError, match="not JSON"):
        run(make(params, Keys(), sleep=Sleeps()).complete(route, HELLO))


# --- deadlines ---------------------------------------------------------------------------------


def test_a_call_at_the_deadline_is_cancelled_and_the_agent_abstains(stub: StubServer) -> None:
    params, route = setup(stub, call_timeout_seconds=30.0)
    stub.script.append(Reply(delay=3.0))
    started = time.monotonic()
    result = run(make(params).structured(route, PROMPT, Pong, deadline=Deadline.after(0.4)))
    elapsed = time.monotonic() - started
    assert result.status == "deadline" and result.abstained and result.value is None
    assert "cancelled at the deadline" in str(result.reason)
    assert result.error_type == "LlmDeadlineError"
    assert elapsed < 2.5  # not the stub's 3 s


def test_a_call_after_the_deadline_is_not_made(stub: StubServer) -> None:
    params, route = setup(stub)
    result = run(make(params).structured(route, PROMPT, Pong, deadline=Deadline.after(-1)))
    assert result.status == "deadline" and "before the call was made" in str(result.reason)
    assert stub.seen == []
    assert [c.status for c in result.calls] == ["deadline"]


def test_a_retry_that_would_miss_the_deadline_is_not_made(stub: StubServer) -> None:
    params, route = setup(stub)
    stub.script.append(Reply(429, headers={"retry-after": "0.9"}))
    with pytest.raises(LlmDeadlineError, match=r"rate-limited.*retry in 0\.9s would miss"):
        run(make(params).complete(route, HELLO, deadline=Deadline.after(0.5)))
    assert len(stub.seen) == 1


# --- concurrency -----------------------------------------------------------------------------


async def _four(client: LlmClient, params: LlmParams) -> float:
    routes = resolve_routes(params, ["alpha", "technical", "sentiment", "macro"])
    started = time.monotonic()
    results = await asyncio.gather(*(client.structured(r, PROMPT, Pong) for r in routes.values()))
    assert all(r.status == "ok" for r in results), [r.reason for r in results]
    return time.monotonic() - started


def test_four_calls_of_l_seconds_take_about_l_not_4l() -> None:
    latency = 0.5
    with StubServer(latency=latency) as server:
        routing = {a: "local" for a in ("alpha", "technical", "sentiment", "macro")}
        params = stub_params(server, routing=routing)
        elapsed = run(_four(make(params), params))
        assert server.max_in_flight == 4
    # Concurrent: about L. Sequential would be 4 L = 2.0 s. Generous bound for a busy machine.
    assert latency <= elapsed < 2.5 * latency, elapsed


def test_a_vendor_concurrency_limit_of_one_serialises_the_calls() -> None:
    latency = 0.2
    with StubServer(latency=latency) as server:
        routing = {a: "local" for a in ("alpha", "technical", "sentiment", "macro")}
        params = stub_params(server, routing=routing)
        params.vendors["local"].concurrency = 1
        elapsed = run(_four(make(params), params))
        assert server.max_in_flight == 1
    assert elapsed >= 4 * latency * 0.9, elapsed


# --- typed answers ---------------------------------------------------------------------------


def test_one_repair_turn_carries_the_validation_error(stub: StubServer) -> None:
    params, route = setup(stub)
    stub.script.append(Reply(content='{"verdic": "pong"}'))
    result = run(make(params).structured(route, PROMPT, Pong))
    assert result.status == "ok" and result.value == Pong(verdict="pong")
    repair = stub.seen[1].body["messages"]
    assert repair[-2] == {"role": "assistant", "content": '{"verdic": "pong"}'}
    assert "verdict: Field required" in repair[-1]["content"]
    assert result.usage.input_tokens == 200  # both calls counted


def test_two_bad_answers_abstain_with_the_reason_and_the_raw_answer(stub: StubServer) -> None:
    params, route = setup(stub)
    stub.script.extend([Reply(content="no idea"), Reply(content="I refuse, sorry")])
    result = run(make(params).structured(route, PROMPT, Pong))
    assert result.status == "invalid" and result.abstained
    assert result.reason == "the answer is not JSON (after one repair)"
    assert result.raw == "I refuse, sorry"
    assert len(result.calls) == 2 and result.cost_usd == 0.0


def test_a_provider_error_abstains_with_its_type(stub: StubServer) -> None:
    params, route = setup(stub, retries=0)
    stub.script.append(Reply(503))
    result = run(make(params).structured(route, PROMPT, Pong))
    assert result.status == "error" and result.error_type == "LlmServerError"
    assert result.reason is not None and result.reason.startswith("local failed (503")


def test_prompt_mode_puts_the_schema_in_the_prompt_and_finds_the_json(stub: StubServer) -> None:
    params, route = setup(stub)
    params.vendors["local"].structured = "prompt"
    route = resolve_routes(params, ["alpha"], known=list(params.routing))["alpha"]
    stub.script.append(Reply(content='Sure!\n```json\n{"verdict": "pong"}\n```'))
    result = run(make(params).structured(route, PROMPT, Pong))
    assert result.value == Pong(verdict="pong")
    sent = stub.seen[0].body
    assert "response_format" not in sent
    assert '"verdict"' in sent["messages"][0]["content"]  # the schema, in the system turn


def test_anthropic_wire_through_the_stub(stub: StubServer) -> None:
    from pydantic import SecretStr

    params, route = setup(stub, agent="rationale")
    keys = Keys({"anthropic": SecretStr("sk-ant-stub-key-0000000000")})
    result = run(make(params, keys).structured(route, PROMPT, Pong))
    assert result.value == Pong(verdict="pong")
    seen = stub.seen[0]
    assert seen.path == "/v1/messages" and seen.headers["x-api-key"] == "sk-ant-stub-key-0000000000"
    assert seen.body["output_config"]["format"]["type"] == "json_schema"
    assert seen.body["system"] == "You judge."
