"""The vendor table: the built-in vendors as data, and overrides from the config file."""

from __future__ import annotations

import pytest

from hmas.errors import ConfigError
from hmas.llm import BUILTIN, Prices, Usage, vendor_table
from hmas.settings import LlmParams


def test_the_builtin_vendors() -> None:
    table = {v.name: v for v in BUILTIN}
    assert set(table) == {"deepseek", "xai", "anthropic", "gemini", "openai", "openrouter", "local"}
    assert table["deepseek"].key_env == "DEEPSEEK_API_KEY"
    assert table["deepseek"].base_url == "https://api.deepseek.com"
    assert table["xai"].key_env == "XAI_API_KEY"
    assert (
        table["anthropic"].wire == "anthropic" and table["anthropic"].key_env == "ANTHROPIC_API_KEY"
    )
    assert table["gemini"].key_env == "GOOGLE_API_KEY"
    assert table["gemini"].base_url.endswith("/v1beta/openai")
    assert table["local"].key_env is None and table["local"].base_url == "http://127.0.0.1:11434/v1"
    for vendor in BUILTIN:
        assert vendor.model().prices is not None, vendor.name  # every default model is priced


def test_cost_counts_cached_input_at_its_own_rate() -> None:
    prices = Prices(input=2.0, output=8.0, cached_input=0.5)
    usage = Usage(input_tokens=1_000_000, output_tokens=500_000, cached_input_tokens=400_000)
    assert prices.cost(usage) == pytest.approx(0.6 * 2.0 + 0.4 * 0.5 + 0.5 * 8.0)


def test_a_price_override_keeps_what_it_does_not_give() -> None:
    params = LlmParams.model_validate(
        {"vendors": {"deepseek": {"models": {"deepseek-chat": {"input_per_mtok": 0.5}}}}}
    )
    model = vendor_table(params)["deepseek"].model("deepseek-chat")
    assert model.prices == Prices(0.5, 1.10, 0.07)
    assert model.structured == "json_mode"


def test_a_new_vendor_from_the_config() -> None:
    params = LlmParams.model_validate(
        {
            "vendors": {
                "my-vllm": {
                    "wire": "openai",
                    "base_url": "http://10.0.0.5:8000/v1/",
                    "default_model": "llama",
                    "key_env": "VLLM_KEY",
                    "input_per_mtok": 0.1,
                    "output_per_mtok": 0.2,
                    "structured": "prompt",
                }
            }
        }
    )
    vendor = vendor_table(params)["my-vllm"]
    assert vendor.base_url == "http://10.0.0.5:8000/v1" and vendor.key_env == "VLLM_KEY"
    model = vendor.model()
    assert model.name == "llama" and model.structured == "prompt"
    assert model.prices == Prices(0.1, 0.2, 0.1)  # cached defaults to the input price


def test_an_unlisted_model_has_unknown_prices_unless_given() -> None:
    table = vendor_table(LlmParams())
    assert table["openai"].model("gpt-9").prices is None


@pytest.mark.parametrize(
    ("given", "message"),
    [
        (
            {"mine": {"wire": "openai"}},
            "llm.vendors.mine is a new vendor and needs base_url, default_model",
        ),
        (
            {
                "mine": {
                    "wire": "openai",
                    "base_url": "http://x",
                    "default_model": "m",
                    "input_per_mtok": 1,
                }
            },
            "llm.vendors.mine gives some prices but not input_per_mtok and output_per_mtok",
        ),
    ],
)
def test_incomplete_vendors_are_refused(given: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        vendor_table(LlmParams.model_validate({"vendors": given}))


def test_key_env_empty_means_no_key() -> None:
    params = LlmParams.model_validate({"vendors": {"openai": {"key_env": ""}}})
    assert vendor_table(params)["openai"].key_env is None
