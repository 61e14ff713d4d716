"""Vendors as data: the built-in table, merged with what the config file adds or overrides.

A vendor is a wire format, a base URL, the environment variable holding its key, a default
model, and per model the prices (USD per million input / output / cached-input tokens) and the
structured-output mode. Prices change often: every one below says where it comes from and
when; override any of them in the config file (``[llm.vendors.<name>.models.<model>]``,
docs/llm.md) without touching code.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace

from pydantic import SecretStr

from hmas.errors import ConfigError
from hmas.llm.core import Usage
from hmas.settings import LlmModelParams, LlmParams, LlmVendorParams, StructuredMode, WireFormatName

MILLION = 1_000_000


@dataclass(frozen=True)
class Prices:
    """USD per million tokens: input, output, and input read from the provider's cache."""

    input: float
    output: float
    cached_input: float

    def cost(self, usage: Usage) -> float:
        """The cost of ``usage`` in USD (cached input at its own rate, the rest at input's)."""
        fresh = max(usage.input_tokens - usage.cached_input_tokens, 0)
        return (
            fresh * self.input
            + usage.cached_input_tokens * self.cached_input
            + usage.output_tokens * self.output
        ) / MILLION


@dataclass(frozen=True)
class ModelInfo:
    """One model of a vendor: prices (None: unknown) and how it is asked for JSON."""

    name: str
    prices: Prices | None
    structured: StructuredMode


@dataclass(frozen=True)
class Vendor:
    """A provider: where it is, how it speaks, which key it needs, what its models cost."""

    name: str
    wire: WireFormatName
    base_url: str
    #: The environment variable holding the key; None: the server needs no key (local).
    key_env: str | None
    default_model: str
    structured: StructuredMode
    prices: Prices | None = None
    models: Mapping[str, ModelInfo] = field(default_factory=dict)
    concurrency: int | None = None
    max_tokens_field: str = "max_tokens"
    #: A key given in the config file (the environment variable wins over it).
    api_key: SecretStr | None = field(default=None, repr=False)

    def model(self, name: str | None = None) -> ModelInfo:
        """The model called ``name`` (the default one if None); unlisted ones get the defaults."""
        name = name or self.default_model
        return self.models.get(name) or ModelInfo(name, self.prices, self.structured)


def _m(name: str, inp: float, out: float, cached: float, mode: StructuredMode) -> ModelInfo:
    return ModelInfo(name, Prices(inp, out, cached), mode)


def _table(*models: ModelInfo) -> dict[str, ModelInfo]:
    return {m.name: m for m in models}


# Prices in USD per million tokens (input, output, cached input). Sources, as read through the
# docs search index on 2026-10 (the pages carry no date unless one is given):
# - DeepSeek: api-docs.deepseek.com/quick_start/pricing-details-usd (deepseek-chat 0.27 / 1.10,
#   cache hit 0.07; deepseek-reasoner 0.55 / 2.19 / 0.14) and /quick_start/pricing (V4 models:
#   v4-flash 0.14 / 0.28 / 0.0028, v4-pro 0.435 / 0.87 / 0.003625; that page announces
#   peak/off-peak rates from 2026-08-16, which hmas does not model: override if you need them).
# - Anthropic: platform.claude.com/docs/en/about-claude/pricing (Sonnet 4.5 3 / 15, cache hits
#   0.30; Haiku 4.5 1 / 5 / 0.10). Cache writes (1.25x input) are counted at the input price.
# - OpenAI: gpt-4o-mini 0.15 / 0.60 / 0.075 and gpt-4.1 2 / 8 / 0.50 (GitHub's Copilot price
#   table lists gpt-4.1 at these; gpt-4o-mini from OpenAI's pricing page as of 2025-07, not
#   re-verified here).
# - xAI: grok-4 3 / 15 / 0.75, from a third-party summary of xAI's pricing dated 2025-07
#   (apidog.com); not verified on docs.x.ai.
# - Gemini: gemini-2.5-flash 0.30 / 2.50 / 0.075 and gemini-2.5-pro 1.25 / 10 / 0.31
#   (prompts up to 200k tokens) from ai.google.dev/gemini-api/docs/pricing as of 2025-09, not
#   re-verified here.
# - OpenRouter: passes the upstream price through and reports the call's cost itself
#   (``usage.cost``), which hmas uses when present; the table repeats the upstream prices.
BUILTIN: tuple[Vendor, ...] = (
    Vendor(
        "deepseek",
        "openai",
        "https://api.deepseek.com",
        "DEEPSEEK_API_KEY",
        "deepseek-chat",
        # DeepSeek has JSON mode (response_format json_object), no JSON-schema mode.
        "json_mode",
        models=_table(
            _m("deepseek-chat", 0.27, 1.10, 0.07, "json_mode"),
            _m("deepseek-reasoner", 0.55, 2.19, 0.14, "prompt"),
            _m("deepseek-v4-flash", 0.14, 0.28, 0.0028, "json_mode"),
            _m("deepseek-v4-pro", 0.435, 0.87, 0.003625, "json_mode"),
        ),
    ),
    Vendor(
        "xai",
        "openai",
        "https://api.x.ai/v1",
        "XAI_API_KEY",
        "grok-4",
        "json_schema",
        models=_table(_m("grok-4", 3.0, 15.0, 0.75, "json_schema")),
    ),
    Vendor(
        "anthropic",
        "anthropic",
        "https://api.anthropic.com/v1",
        "ANTHROPIC_API_KEY",
        "claude-sonnet-4-5",
        "json_schema",
        models=_table(
            _m("claude-sonnet-4-5", 3.0, 15.0, 0.30, "json_schema"),
            _m("claude-haiku-4-5", 1.0, 5.0, 0.10, "json_schema"),
        ),
    ),
    Vendor(
        "gemini",
        "openai",
        "https://generativelanguage.googleapis.com/v1beta/openai",
        "GOOGLE_API_KEY",
        "gemini-2.5-flash",
        "json_schema",
        models=_table(
            _m("gemini-2.5-flash", 0.30, 2.50, 0.075, "json_schema"),
            _m("gemini-2.5-pro", 1.25, 10.0, 0.31, "json_schema"),
        ),
    ),
    Vendor(
        "openai",
        "openai",
        "https://api.openai.com/v1",
        "OPENAI_API_KEY",
        "gpt-4o-mini",
        "json_schema",
        models=_table(
            _m("gpt-4o-mini", 0.15, 0.60, 0.075, "json_schema"),
            _m("gpt-4.1", 2.0, 8.0, 0.50, "json_schema"),
        ),
        max_tokens_field="max_completion_tokens",
    ),
    Vendor(
        "openrouter",
        "openai",
        "https://openrouter.ai/api/v1",
        "OPENROUTER_API_KEY",
        "openai/gpt-4o-mini",
        # Whether JSON schema works depends on the model behind the route: JSON mode is safe.
        "json_mode",
        models=_table(
            _m("openai/gpt-4o-mini", 0.15, 0.60, 0.075, "json_schema"),
            _m("x-ai/grok-4", 3.0, 15.0, 0.75, "json_schema"),
        ),
    ),
    Vendor(
        "local",
        "openai",
        "http://127.0.0.1:11434/v1",  # Ollama's OpenAI-compatible endpoint
        None,
        "qwen3:0.6b",
        # Ollama, vLLM and llama.cpp's server accept response_format json_schema; set
        # structured = "prompt" for a server that does not.
        "json_schema",
        prices=Prices(0.0, 0.0, 0.0),
    ),
)
BUILTIN_BY_NAME: dict[str, Vendor] = {v.name: v for v in BUILTIN}


def _prices(base: Prices | None, given: LlmModelParams, where: str) -> Prices | None:
    values = (given.input_per_mtok, given.output_per_mtok, given.cached_input_per_mtok)
    if all(v is None for v in values):
        return base
    if base is None and (given.input_per_mtok is None or given.output_per_mtok is None):
        raise ConfigError(
            f"{where} gives some prices but not input_per_mtok and output_per_mtok; give both "
            "(cached_input_per_mtok defaults to input_per_mtok)"
        )
    inp = given.input_per_mtok if given.input_per_mtok is not None else base.input  # type: ignore[union-attr]
    out = given.output_per_mtok if given.output_per_mtok is not None else base.output  # type: ignore[union-attr]
    if given.cached_input_per_mtok is not None:
        cached = given.cached_input_per_mtok
    else:
        cached = base.cached_input if base is not None else inp
    return Prices(inp, out, cached)


def _merged(base: Vendor | None, name: str, given: LlmVendorParams) -> Vendor:
    where = f"llm.vendors.{name}"
    if base is None:
        missing = [k for k in ("wire", "base_url", "default_model") if getattr(given, k) is None]
        if missing:
            raise ConfigError(
                f"{where} is a new vendor and needs {', '.join(missing)} (e.g. wire = "
                '"openai", base_url = "http://127.0.0.1:8000/v1", default_model = "my-model")'
            )
        base = Vendor(
            name,
            given.wire or "openai",
            given.base_url or "",
            None,
            given.default_model or "",
            "prompt",
        )
    models = dict(base.models)
    structured = given.structured or base.structured
    prices = _prices(base.prices, given, where)
    for model_name, params in given.models.items():
        old = models.get(model_name) or ModelInfo(model_name, prices, structured)
        models[model_name] = ModelInfo(
            model_name,
            _prices(old.prices, params, f"{where}.models.{model_name}"),
            params.structured or old.structured,
        )
    key_env = base.key_env if given.key_env is None else (given.key_env or None)
    return replace(
        base,
        wire=given.wire or base.wire,
        base_url=given.base_url or base.base_url,
        key_env=key_env,
        default_model=given.default_model or base.default_model,
        structured=structured,
        prices=prices,
        models=models,
        concurrency=given.concurrency or base.concurrency,
        max_tokens_field=given.max_tokens_field or base.max_tokens_field,
        api_key=given.api_key or base.api_key,
    )


def vendor_table(params: LlmParams) -> dict[str, Vendor]:
    """Every vendor: the built-in ones with the config's overrides, and the config's own."""
    table = dict(BUILTIN_BY_NAME)
    for name, given in params.vendors.items():
        table[name] = _merged(table.get(name), name, given)
    return table
