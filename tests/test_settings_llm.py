"""The ``llm`` settings section: validated and refused like every other section."""

from __future__ import annotations

from pathlib import Path

import pytest

from hmas.errors import ConfigError
from hmas.settings import REFERENCE_ROUTING, load_settings


def cfg(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "hmas.toml"
    path.write_text(text, encoding="utf-8")
    return path


def refused(path: Path) -> str:
    with pytest.raises(ConfigError) as info:
        load_settings(path)
    assert info.value.exit_code == 2
    return str(info.value)


def test_defaults_are_the_reference_routing() -> None:
    llm = load_settings().llm
    assert llm.routing == REFERENCE_ROUTING and llm.vendors == {}
    assert (llm.retries, llm.concurrency, llm.call_timeout_seconds) == (3, 4, 60.0)


def test_the_examples_load() -> None:
    root = Path(__file__).resolve().parent.parent / "examples"
    local = load_settings(root / "llm-local.toml").llm
    assert set(local.routing.values()) == {"local"}
    assert local.vendors["local"].base_url == "http://127.0.0.1:11434/v1"
    reference = load_settings(root / "llm-reference.toml").llm
    assert reference.routing["execution"] == "xai/grok-4"


def test_a_file_routing_one_agent_keeps_the_others(tmp_path: Path) -> None:
    llm = load_settings(cfg(tmp_path, '[llm.routing]\nalpha = "local"\n')).llm
    assert llm.routing == {**REFERENCE_ROUTING, "alpha": "local"}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "[llm]\nretrys = 2\n",
            "unknown setting llm.retrys in {cfg}; did you mean llm.retries (HMAS_LLM__RETRIES)?",
        ),
        (
            '[llm.vendors.deepseek]\nbase_ur = "http://x"\n',
            "unknown setting llm.vendors.deepseek.base_ur in {cfg}; did you mean "
            "llm.vendors.deepseek.base_url (HMAS_LLM__VENDORS__DEEPSEEK__BASE_URL)?",
        ),
        (
            "[llm.vendors.openai.models.gpt-4o]\ninput_per_mtk = 1\n",
            "unknown setting llm.vendors.openai.models.gpt-4o.input_per_mtk in {cfg}; did you mean "
            "llm.vendors.openai.models.gpt-4o.input_per_mtok",
        ),
        ("[llm]\nretries = true\n", "llm.retries (HMAS_LLM__RETRIES): expected a number, got true"),
        (
            '[llm.routing]\nalpha = "deepseek/"\n',
            'llm.routing (HMAS_LLM__ROUTING): route of alpha must be "vendor" or "vendor/model"',
        ),
        (
            '[llm.vendors.x]\nbase_url = "ftp://x"\n',
            "llm.vendors.x.base_url (HMAS_LLM__VENDORS__X__BASE_URL): expected an http:// or "
            "https:// URL",
        ),
        (
            '[llm.vendors.x]\nkey_env = "MY KEY"\n',
            "llm.vendors.x.key_env (HMAS_LLM__VENDORS__X__KEY_ENV): expected the name of an "
            "environment variable",
        ),
        (
            '[llm.vendors."My Vendor"]\nbase_url = "http://x"\n',
            "vendor name 'My Vendor' must be lower-case letters",
        ),
        (
            "[llm]\nbackoff_seconds = 10\nmax_backoff_seconds = 5\n",
            "backoff_seconds (10.0) must not be above max_backoff_seconds (5.0)",
        ),
    ],
)
def test_bad_llm_settings_are_refused(tmp_path: Path, text: str, message: str) -> None:
    path = cfg(tmp_path, text)
    assert message.format(cfg=path) in refused(path)


def test_environment_variables_reach_vendors(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HMAS_LLM__VENDORS__LOCAL__BASE_URL", "http://127.0.0.1:8080/v1")
    monkeypatch.setenv("HMAS_LLM__ROUTING__MACRO", "local")
    llm = load_settings().llm
    assert llm.vendors["local"].base_url == "http://127.0.0.1:8080/v1"
    assert llm.routing["macro"] == "local" and llm.routing["alpha"] == "deepseek"


def test_a_key_in_the_config_is_masked(tmp_path: Path) -> None:
    secret = "sk-configured-0123456789abcdef"
    settings = load_settings(cfg(tmp_path, f'[llm.vendors.openai]\napi_key = "{secret}"\n'))
    shown = str(settings.public_dict()) + repr(settings)
    assert secret not in shown and "**********" in shown
