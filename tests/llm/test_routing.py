"""Routing per agent and the keys it needs: refused before any call, naming the variable."""

from __future__ import annotations

import pytest
from pydantic import SecretStr

from hmas.errors import ConfigError, LlmKeyMissingError
from hmas.llm import key_sources, require_keys, resolve_routes
from hmas.llm.vendors import BUILTIN_BY_NAME
from hmas.settings import REFERENCE_ROUTING, LlmParams
from tests.llm.helpers import PLANTED

AGENTS = list(REFERENCE_ROUTING)


def test_the_shipped_routing_is_the_reference_deployment() -> None:
    routes = resolve_routes(LlmParams(), AGENTS, known=AGENTS)
    assert {a: r.label for a, r in routes.items()} == {
        "alpha": "deepseek/deepseek-chat",
        "technical": "deepseek/deepseek-chat",
        "sentiment": "deepseek/deepseek-chat",
        "macro": "deepseek/deepseek-chat",
        "execution": "xai/grok-4",
        "rationale": "anthropic/claude-sonnet-4-5",
        "mother": "gemini/gemini-2.5-flash",
    }


def test_the_shipped_routing_covers_every_registered_agent_and_the_mother() -> None:
    from hmas.agents.registry import NAMES

    assert set(REFERENCE_ROUTING) == {*NAMES, "mother"}


def test_a_model_with_slashes_after_the_vendor() -> None:
    params = LlmParams.model_validate({"routing": {"execution": "openrouter/x-ai/grok-4"}})
    route = resolve_routes(params, ["execution"])["execution"]
    assert (route.vendor.name, route.model.name, route.model.prices is not None) == (
        "openrouter",
        "x-ai/grok-4",
        True,
    )


@pytest.mark.parametrize(
    ("routing", "message"),
    [
        (
            {"alpha": "deepsek"},
            "llm.routing.alpha names unknown vendor 'deepsek'; vendors: anthropic,",
        ),
        ({"alhpa": "local"}, "llm.routing names unknown agent(s) alhpa; agents: alpha,"),
    ],
)
def test_bad_routing_is_refused(routing: dict, message: str) -> None:
    params = LlmParams.model_validate({"routing": routing})
    with pytest.raises(ConfigError) as info:
        resolve_routes(params, AGENTS, known=AGENTS)
    assert str(info.value).startswith(message), str(info.value)


def test_missing_keys_are_refused_before_any_call_naming_each_variable() -> None:
    routes = resolve_routes(LlmParams(), AGENTS)
    env = {"DEEPSEEK_API_KEY": "a", "GOOGLE_API_KEY": " "}
    with pytest.raises(LlmKeyMissingError) as info:
        require_keys(routes, env)
    assert info.value.exit_code == 2
    assert info.value.variables == ["ANTHROPIC_API_KEY", "GOOGLE_API_KEY", "XAI_API_KEY"]
    assert "set XAI_API_KEY for xai (routed from execution)" in str(info.value)


def test_keys_come_from_the_environment_then_dotenv_then_the_config(tmp_path) -> None:
    (tmp_path / ".env").write_text("XAI_API_KEY=from-dotenv\nDEEPSEEK_API_KEY=dotenv-loses\n")
    params = LlmParams.model_validate({"vendors": {"anthropic": {"api_key": "from-config"}}})
    from hmas.llm.vendors import vendor_table

    table = vendor_table(params)
    found = key_sources(table.values(), {"DEEPSEEK_API_KEY": "from-env"})
    assert found["deepseek"][0].found_in == "environment"
    assert found["xai"][0].found_in == ".env"
    assert found["anthropic"][0].found_in == "config file"
    assert found["local"][0].needed is False and found["local"][0].present
    assert found["openai"][0].present is False


def test_keys_never_show_in_repr() -> None:
    routes = resolve_routes(LlmParams(), ["alpha"])
    keys = require_keys(routes, {"DEEPSEEK_API_KEY": PLANTED})
    assert keys.get("deepseek") == SecretStr(PLANTED)
    assert PLANTED not in repr(keys) + str(keys) + repr(routes)
    vendor = BUILTIN_BY_NAME["anthropic"]
    assert "api_key" not in repr(vendor)
