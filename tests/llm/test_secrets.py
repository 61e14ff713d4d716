"""A key planted in the environment never comes out of the library: not in exceptions,
results, call records, reprs or logs, even when the provider echoes it back."""

from __future__ import annotations

import logging

import pytest

from hmas.errors import LlmAuthError
from hmas.llm import Message, Prompt, open_client, resolve_routes
from tests.llm.conftest import stub_params
from tests.llm.helpers import PLANTED, Pong, run
from tests.llm.stub import Reply, StubServer


def test_a_planted_key_is_used_but_never_shown(stub: StubServer, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    params = stub_params(stub, retries=1)
    params.vendors["local"].key_env = "STUB_API_KEY"
    routes = resolve_routes(params, ["alpha"])
    echo = {
        "error": {"message": f"Incorrect API key provided: {PLANTED}", "code": "invalid_api_key"}
    }
    stub.script.extend([Reply(401, body=echo), Reply(500, body=echo), Reply(500, body=echo)])

    async def go() -> list[object]:
        client = open_client(params, routes, environ={"STUB_API_KEY": PLANTED})
        seen: list[object] = [repr(client)]
        async with client:
            try:
                await client.complete(routes["alpha"], [Message("user", "hi")], records=[])
            except LlmAuthError as exc:
                seen += [exc, repr(exc), str(exc)]
            result = await client.structured(routes["alpha"], Prompt("s", "u"), Pong)
            seen += [result, repr(result), *result.calls, result.reason, result.raw]
        return seen

    produced = run(go())
    assert stub.seen[0].headers["authorization"] == f"Bearer {PLANTED}"  # it was sent
    text = " ".join(str(x) for x in produced) + caplog.text
    assert PLANTED not in text
    assert "[redacted]" in text  # the echo was there, masked


def test_missing_key_from_open_client() -> None:
    from hmas.errors import LlmKeyMissingError
    from hmas.settings import LlmParams

    routes = resolve_routes(LlmParams(), ["rationale"])
    with pytest.raises(LlmKeyMissingError, match="set ANTHROPIC_API_KEY for anthropic"):
        open_client(LlmParams(), routes, environ={})
