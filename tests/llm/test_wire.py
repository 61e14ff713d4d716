"""The two wire formats against real provider traffic (vcrpy cassettes built from
../shared/data/llm by cassettes/build.py), and request building without HTTP."""

from __future__ import annotations

import pytest
from pydantic import BaseModel, SecretStr

from hmas.errors import (
    LlmAuthError,
    LlmBadRequestError,
    LlmNotFoundError,
    LlmRateLimitError,
)
from hmas.llm import CallRecord, Message, Prompt
from hmas.llm.structured import answer_format
from hmas.llm.vendors import BUILTIN_BY_NAME
from hmas.llm.wire import wire_format
from tests.llm.helpers import PLANTED, City, client, route_to, run

HELLO = [Message("user", "Hello")]


class Step(BaseModel):
    explanation: str
    output: str


class MathReasoning(BaseModel):
    steps: list[Step]
    final_answer: str


# --- request building (pure) -----------------------------------------------------------------


def test_openai_request_with_a_native_schema() -> None:
    vendor = BUILTIN_BY_NAME["openai"]
    fmt = answer_format(City, "json_schema")
    req = wire_format("openai").build(vendor, "gpt-4o-mini", HELLO, fmt, 100, SecretStr(PLANTED))
    assert req.url == "https://api.openai.com/v1/chat/completions"
    assert req.headers["authorization"] == f"Bearer {PLANTED}"
    assert req.body["max_completion_tokens"] == 100 and req.body["stream"] is False
    rf = req.body["response_format"]
    assert rf["type"] == "json_schema" and rf["json_schema"]["name"] == "City"
    assert rf["json_schema"]["strict"] is True  # every field required
    assert rf["json_schema"]["schema"]["additionalProperties"] is False
    assert PLANTED not in repr(req)  # headers are left out of the repr


def test_deepseek_request_in_json_mode_and_a_bare_local_one() -> None:
    fmt = answer_format(City, "json_mode")
    req = wire_format("openai").build(
        BUILTIN_BY_NAME["deepseek"], "deepseek-chat", HELLO, fmt, 50, SecretStr("k")
    )
    assert req.url == "https://api.deepseek.com/chat/completions"  # DeepSeek: no /v1
    assert req.body["response_format"] == {"type": "json_object"}
    assert req.body["max_tokens"] == 50
    local = wire_format("openai").build(
        BUILTIN_BY_NAME["local"], "qwen3:0.6b", HELLO, None, 5, None
    )
    assert "authorization" not in local.headers and "response_format" not in local.body


def test_anthropic_request() -> None:
    fmt = answer_format(City, "json_schema")
    messages = [Message("system", "Be brief."), Message("user", "Where?")]
    req = wire_format("anthropic").build(
        BUILTIN_BY_NAME["anthropic"], "claude-sonnet-4-5", messages, fmt, 300, SecretStr("k")
    )
    assert req.url == "https://api.anthropic.com/v1/messages"
    assert req.headers["x-api-key"] == "k" and req.headers["anthropic-version"] == "2023-06-01"
    assert req.body["system"] == "Be brief."
    assert req.body["messages"] == [{"role": "user", "content": "Where?"}]
    assert req.body["output_config"]["format"]["type"] == "json_schema"
    assert req.body["max_tokens"] == 300


# --- real answers ----------------------------------------------------------------------------


def test_plain_openai_answer(replay) -> None:
    params, route = route_to("openai")
    records: list[CallRecord] = []
    with replay("openai_plain"):
        done = run(client(params, "openai").complete(route, HELLO, records=records))
    assert done.text == "Hello! How can I assist you today?"
    assert (done.usage.input_tokens, done.usage.output_tokens) == (8, 9)
    assert done.finish_reason == "stop"
    (rec,) = records
    assert rec.status == "ok" and rec.http_status == 200 and rec.attempt == 1
    # gpt-4o-mini at 0.15 / 0.60 per million
    assert rec.cost_usd == pytest.approx((8 * 0.15 + 9 * 0.60) / 1e6)


def test_json_schema_answer_gzip_body(replay) -> None:
    params, route = route_to("openai", "gpt-4o")
    prompt = Prompt("You are a math tutor.", "Solve 8x + 31 = 2")
    with replay("openai_json_schema_strict"):
        result = run(client(params, "openai").structured(route, prompt, MathReasoning))
    assert result.status == "ok", result.reason
    assert result.value is not None and result.value.steps
    assert result.usage.input_tokens == 127 and result.usage.output_tokens == 93
    assert result.cost_usd is None  # gpt-4o has no price in the table: unknown, never 0


def test_cached_tokens_openai(replay) -> None:
    params, route = route_to("openai", "gpt-4.1")
    with replay("openai_cached"):
        done = run(client(params, "openai").complete(route, HELLO))
    assert (done.usage.input_tokens, done.usage.cached_input_tokens) == (1220, 1152)
    assert done.finish_reason == "length"


def test_deepseek_reasoning_content(replay) -> None:
    params, route = route_to("deepseek", "deepseek-reasoner")
    records: list[CallRecord] = []
    with replay("deepseek_reasoner"):
        done = run(client(params, "deepseek").complete(route, HELLO, records=records))
    assert done.text is not None and done.text.startswith("Crossing the street safely")
    assert done.reasoning is not None and done.reasoning.startswith("Okay, the user is asking")
    assert (done.usage.input_tokens, done.usage.output_tokens) == (12, 789)
    assert records[0].cost_usd == pytest.approx((12 * 0.55 + 789 * 2.19) / 1e6)


def test_openrouter_grok_cached_tokens(replay) -> None:
    params, route = route_to("openrouter", "x-ai/grok-4")
    with replay("openrouter_grok"):
        done = run(client(params, "openrouter").complete(route, HELLO))
    assert done.usage.cached_input_tokens == 682 and done.usage.input_tokens == 687
    assert done.reasoning is None  # "reasoning": null in this answer (165 reasoning tokens)


def test_openrouter_body_padded_with_whitespace_and_its_own_cost(replay) -> None:
    params, route = route_to("openrouter", "openai/gpt-oss-120b")
    records: list[CallRecord] = []
    with replay("openrouter_padded"):
        done = run(client(params, "openrouter").complete(route, HELLO, records=records))
    assert done.text == "The capital of France is **Paris**."
    assert records[0].cost_usd == pytest.approx(5.37e-06)  # the provider's own figure


def test_gemini_tool_call_with_an_empty_id(replay) -> None:
    params, route = route_to("gemini", "gemini-2.5-pro-preview-05-06")
    with replay("gemini_tool_call_empty_id"):
        first = run(client(params, "gemini").complete(route, HELLO))
        second = run(client(params, "gemini").complete(route, HELLO))
    (call,) = first.tool_calls
    assert call.id == "call_0" and call.name  # "" replaced by a stand-in
    assert second.text == "The current time is Noon."


def test_json_object_mode_after_a_tool_call_is_repaired(replay) -> None:
    """The first recorded answer is a tool call without the answer: one repair turn, then the
    second recorded answer (the JSON) validates."""
    params, route = route_to("openai", "gpt-4o", structured="json_mode")
    with replay("openai_json_object_tools"):
        result = run(client(params, "openai").structured(route, Prompt("s", "u"), City))
    assert result.status == "ok", result.reason
    assert result.value == City(city="Mexico City", country="Mexico")
    assert len(result.calls) == 2
    assert result.usage.input_tokens == 109 + 130


def test_json_schema_after_a_tool_call(replay) -> None:
    params, route = route_to("openai", "gpt-4o")
    with replay("openai_json_schema_tools"):
        result = run(client(params, "openai").structured(route, Prompt("s", "u"), City))
    assert result.value == City(city="Mexico City", country="Mexico")


def test_ollama_json_schema(replay) -> None:
    params, route = route_to("local", base_url="http://localhost:11434/v1")
    with replay("ollama_json_schema"):
        result = run(client(params, "local").structured(route, Prompt("s", "u"), City))
    assert result.value == City(city="Paris", country="France")
    assert result.cost_usd == 0.0


def test_anthropic_structured_output(replay) -> None:
    class Amount(BaseModel):
        amount: float

    params, route = route_to("anthropic", agent="rationale")
    with replay("anthropic_json_schema"):
        result = run(client(params, "anthropic").structured(route, Prompt("s", "u"), Amount))
    assert result.value == Amount(amount=12.34)
    assert result.usage.input_tokens == 222
    assert result.cost_usd == pytest.approx((222 * 3 + 10 * 15) / 1e6)


def test_anthropic_plain_and_cache_read(replay) -> None:
    params, route = route_to("anthropic", "claude-sonnet-4-5", agent="rationale")
    with replay("anthropic_plain"):
        plain = run(client(params, "anthropic").complete(route, HELLO))
    assert plain.finish_reason == "max_tokens" and plain.text
    assert (plain.usage.input_tokens, plain.usage.output_tokens) == (22, 15)
    records: list[CallRecord] = []
    with replay("anthropic_cache_read"):
        cached = run(client(params, "anthropic").complete(route, HELLO, records=records))
    # Anthropic's input_tokens (11) leaves the cache read (2055) out: hmas counts both.
    assert (cached.usage.input_tokens, cached.usage.cached_input_tokens) == (2066, 2055)
    assert records[0].cost_usd == pytest.approx((11 * 3 + 2055 * 0.30 + 100 * 15) / 1e6)


def test_anthropic_tool_use(replay) -> None:
    params, route = route_to("anthropic", agent="rationale")
    with replay("anthropic_tool_use"):
        first = run(client(params, "anthropic").complete(route, HELLO))
        second = run(client(params, "anthropic").complete(route, HELLO))
    assert first.finish_reason == "tool_use" and first.tool_calls[0].id.startswith("toolu_")
    assert '"city": "Mexico City"' in second.tool_calls[0].arguments


# --- real errors -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cassette", "vendor", "error", "words"),
    [
        ("openai_401", "openai", LlmAuthError, ["401", "invalid_api_key", "check OPENAI_API_KEY"]),
        ("openai_400", "openai", LlmBadRequestError, ["400", "unsupported_value"]),
        ("openai_404", "openai", LlmNotFoundError, ["404", "model_not_found", "llm.routing.alpha"]),
        ("anthropic_401", "anthropic", LlmAuthError, ["invalid x-api-key", "ANTHROPIC_API_KEY"]),
        ("anthropic_400", "anthropic", LlmBadRequestError, ["Input does not match"]),
        ("anthropic_400_request_id", "anthropic", LlmBadRequestError, ["effort level"]),
    ],
)
def test_errors_are_typed_one_line_and_never_retried(
    replay, cassette: str, vendor: str, error: type[Exception], words: list[str]
) -> None:
    params, route = route_to(vendor)
    records: list[CallRecord] = []
    with replay(cassette), pytest.raises(error) as info:  # one answer: a retry would fail here
        run(client(params, vendor).complete(route, HELLO, records=records))
    message = str(info.value)
    assert "\n" not in message and all(w in message for w in words), message
    assert len(records) == 1 and records[0].status == "error"


def test_openrouter_429_with_an_integer_code_is_retried_then_given_up(replay) -> None:
    params, route = route_to("openrouter", "google/gemini-2.0-flash-exp:free")
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    records: list[CallRecord] = []
    with replay("openrouter_429"), pytest.raises(LlmRateLimitError) as info:
        run(client(params, "openrouter", sleep=sleep).complete(route, HELLO, records=records))
    assert [r.http_status for r in records] == [429, 429, 429]  # retries=2: three attempts
    assert len(slept) == 2
    assert "(429)" in str(info.value) and "temporarily rate-limited upstream" in str(info.value)
    assert "after 3 attempt(s)" in str(info.value)


def test_cassettes_hold_no_key() -> None:
    import gzip
    from pathlib import Path

    import yaml

    for path in (Path(__file__).parent / "cassettes").glob("*.yaml"):
        data = yaml.safe_load(path.read_text())
        for item in data["interactions"]:
            names = {k.lower() for k in item["request"]["headers"]}
            assert not names & {"authorization", "x-api-key", "x-goog-api-key", "api-key"}
            body = item["response"]["body"]["string"]
            text = gzip.decompress(body).decode() if isinstance(body, bytes) else str(body)
            assert "Bearer " not in text and PLANTED not in text
