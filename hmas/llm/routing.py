"""Routing: which vendor and model answers for each agent, and the keys those vendors need."""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import SecretStr

from hmas.errors import ConfigError, LlmKeyMissingError
from hmas.llm.vendors import ModelInfo, Vendor, vendor_table
from hmas.settings import DOTENV_FILE, LlmParams


@dataclass(frozen=True)
class Route:
    """Where one agent's calls go: the vendor, the model and what the model can do."""

    agent: str
    vendor: Vendor
    model: ModelInfo

    @property
    def label(self) -> str:
        """``vendor/model``, as the routing setting writes it."""
        return f"{self.vendor.name}/{self.model.name}"


def parse_route(text: str) -> tuple[str, str | None]:
    """``"openrouter/x-ai/grok-4"`` -> ``("openrouter", "x-ai/grok-4")``; a bare vendor -> None."""
    vendor, _, model = text.strip().partition("/")
    return vendor.strip().lower(), (model.strip() or None)


def resolve_routes(
    params: LlmParams, agents: Sequence[str], *, known: Iterable[str] | None = None
) -> dict[str, Route]:
    """The route of each of ``agents``; ConfigError naming the setting to fix.

    ``known``, when given, is every agent name there is (the registry's and ``mother``): a
    routing entry for any other name is a typo and refused.
    """
    if known is not None:
        names = set(known) | set(agents)
        unknown = sorted(set(params.routing) - names)
        if unknown:
            raise ConfigError(
                f"llm.routing names unknown agent(s) {', '.join(unknown)}; agents: "
                f"{', '.join(sorted(names))}"
            )
    table = vendor_table(params)
    routes: dict[str, Route] = {}
    for agent in agents:
        text = params.routing.get(agent)
        if text is None:
            raise ConfigError(
                f'agent {agent} has no LLM route; set llm.routing.{agent} = "vendor[/model]"'
            )
        vendor_name, model = parse_route(text)
        vendor = table.get(vendor_name)
        if vendor is None:
            raise ConfigError(
                f"llm.routing.{agent} names unknown vendor {vendor_name!r}; vendors: "
                f"{', '.join(sorted(table))}, or add it under [llm.vendors.{vendor_name}]"
            )
        routes[agent] = Route(agent, vendor, vendor.model(model))
    return routes


def _dotenv_values(path: Path) -> dict[str, str]:
    if not path.is_file():
        return {}
    from dotenv import dotenv_values

    try:
        return {k: v for k, v in dotenv_values(path, encoding="utf-8").items() if v}
    except (OSError, UnicodeDecodeError):
        return {}


@dataclass(frozen=True)
class KeySource:
    """Where a vendor's key comes from, never the key itself."""

    vendor: str
    variable: str | None
    found_in: str | None  # "environment", ".env", "config file" or None (missing / not needed)

    @property
    def needed(self) -> bool:
        """False for a server without a key (``local``)."""
        return self.variable is not None

    @property
    def present(self) -> bool:
        """True when a key is there, or none is needed."""
        return not self.needed or self.found_in is not None


@dataclass(frozen=True)
class Keys:
    """The API keys of some vendors; ``repr`` and ``str`` never show them."""

    _values: Mapping[str, SecretStr] = field(default_factory=dict, repr=False)

    def get(self, vendor: str) -> SecretStr | None:
        """The key of ``vendor``, or None."""
        return self._values.get(vendor)

    def secrets(self) -> list[str]:
        """Every key's value: what redaction removes from text (never print this)."""
        return [v.get_secret_value() for v in self._values.values() if v.get_secret_value()]


def key_sources(
    vendors: Iterable[Vendor], environ: Mapping[str, str] | None = None
) -> dict[str, tuple[KeySource, SecretStr | None]]:
    """For each vendor, where its key was found (environment > .env > config file) and the key."""
    env = os.environ if environ is None else environ
    dotenv = _dotenv_values(Path(DOTENV_FILE))
    found: dict[str, tuple[KeySource, SecretStr | None]] = {}
    for vendor in vendors:
        var = vendor.key_env
        if var is None:
            found[vendor.name] = (KeySource(vendor.name, None, None), None)
            continue
        value, where = None, None
        for source, text in (("environment", env.get(var)), (DOTENV_FILE, dotenv.get(var))):
            if text and text.strip():
                value, where = text.strip(), source
                break
        if value is None and vendor.api_key is not None and vendor.api_key.get_secret_value():
            value, where = vendor.api_key.get_secret_value().strip(), "config file"
        found[vendor.name] = (
            KeySource(vendor.name, var, where),
            SecretStr(value) if value else None,
        )
    return found


def require_keys(routes: Mapping[str, Route], environ: Mapping[str, str] | None = None) -> Keys:
    """The keys of every routed vendor; LlmKeyMissingError naming each missing variable.

    Called before any call is made, so a run never half-happens for want of a key.
    """
    vendors = {r.vendor.name: r.vendor for r in routes.values()}
    found = key_sources(vendors.values(), environ)
    missing: list[str] = []
    variables: list[str] = []
    for name, (source, _) in sorted(found.items()):
        if not source.present:
            agents = sorted(a for a, r in routes.items() if r.vendor.name == name)
            missing.append(f"set {source.variable} for {name} (routed from {', '.join(agents)})")
            variables.append(str(source.variable))
    if missing:
        raise LlmKeyMissingError(
            "missing API key: " + "; ".join(missing) + ", or route those agents elsewhere "
            "(llm.routing; docs/llm.md)",
            variables,
        )
    return Keys({name: key for name, (_, key) in found.items() if key is not None})
