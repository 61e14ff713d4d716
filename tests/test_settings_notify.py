"""The [notify] settings: each bad form refused with its variable, secrets never repeated."""

from __future__ import annotations

import pytest

from hmas.errors import ConfigError
from hmas.settings import load_settings

SECRET = "https-less-PLANTED-webhook-secret"


@pytest.mark.parametrize(
    ("env", "message"),
    [
        (
            {"HMAS_NOTIFY__TELEGRAM_TOKEN": "1:abc"},
            "notify (HMAS_NOTIFY): Telegram needs both a token and a chat id; set "
            "telegram_chat_id (HMAS_NOTIFY__TELEGRAM_CHAT_ID)",
        ),
        (
            {"HMAS_NOTIFY__TELEGRAM_CHAT_ID": "-100"},
            "notify (HMAS_NOTIFY): Telegram needs both a token and a chat id; set "
            "telegram_token (HMAS_NOTIFY__TELEGRAM_TOKEN)",
        ),
        (
            {"HMAS_NOTIFY__DISCORD_WEBHOOK_URL": SECRET},
            "notify.discord_webhook_url (HMAS_NOTIFY__DISCORD_WEBHOOK_URL): expected an http:// "
            "or https:// URL (value not shown: a secret)",
        ),
        (
            {"HMAS_NOTIFY__TELEGRAM_API_URL": "api.telegram.org"},
            "notify.telegram_api_url (HMAS_NOTIFY__TELEGRAM_API_URL): expected an http:// or "
            "https:// URL, got 'api.telegram.org'",
        ),
        (
            {"HMAS_NOTIFY__MAX_PER_MINUTE": "0"},
            "notify.max_per_minute (HMAS_NOTIFY__MAX_PER_MINUTE): Input should be greater than "
            "or equal to 1",
        ),
        (
            {"HMAS_NOTIFY__TIMEOUT_SECONDS": "0"},
            "notify.timeout_seconds (HMAS_NOTIFY__TIMEOUT_SECONDS): Input should be greater than 0",
        ),
    ],
)
def test_a_bad_notify_setting_is_refused(
    env: dict[str, str], message: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    with pytest.raises(ConfigError) as info:
        load_settings()
    assert str(info.value) == f"invalid configuration: {message}"
    assert SECRET not in str(info.value)


def test_notify_is_off_unless_a_channel_is_set(monkeypatch: pytest.MonkeyPatch) -> None:
    assert not load_settings().notify.configured()
    monkeypatch.setenv(
        "HMAS_NOTIFY__DISCORD_WEBHOOK_URL", " https://discord.test/api/webhooks/1/x "
    )
    notify = load_settings().notify
    assert notify.configured()
    assert notify.discord_webhook_url is not None
    assert notify.discord_webhook_url.get_secret_value() == "https://discord.test/api/webhooks/1/x"
