"""Settings: sources and their precedence, validation messages, masking of secrets."""

from __future__ import annotations

from pathlib import Path

import pytest

from hmas.errors import ConfigError
from hmas.settings import load_settings


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults() -> None:
    s = load_settings()
    assert s.fetch.exchange == "coinbase"
    assert s.fetch.timeframe == "1h"
    assert s.resolved_db_url().endswith("/hmas.db")
    assert s.resolved_db_url().startswith("sqlite:///")


def test_precedence_flags_env_dotenv_file_defaults(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cfg = write(
        tmp_path / "hmas.toml",
        '[fetch]\nexchange = "file-ex"\ntimeframe = "4h"\nretries = 1\ndefault_limit = 11\n',
    )
    write(tmp_path / ".env", "HMAS_FETCH__TIMEFRAME=15m\nHMAS_FETCH__RETRIES=2\n")
    monkeypatch.setenv("HMAS_FETCH__RETRIES", "3")
    s = load_settings(cfg, fetch={"exchange": "flag-ex"})
    assert s.fetch.exchange == "flag-ex"  # flag beats file
    assert s.fetch.retries == 3  # env beats .env and file
    assert s.fetch.timeframe == "15m"  # .env beats file
    assert s.fetch.default_limit == 11  # file beats default
    assert s.fetch.backoff_seconds == 1.0  # default


def test_hmas_toml_in_working_directory_is_read(tmp_path: Path) -> None:
    write(tmp_path / "hmas.toml", '[fetch]\nexchange = "kraken"\n')
    assert load_settings().fetch.exchange == "kraken"


def test_secrets_are_masked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HMAS_EXCHANGE_CREDENTIALS__API_KEY", "sk-very-secret")
    monkeypatch.setenv("HMAS_DB_URL", "postgresql://hmas:pw-secret@db.example/hmas")
    s = load_settings()
    assert s.exchange_credentials.api_key is not None
    assert s.exchange_credentials.api_key.get_secret_value() == "sk-very-secret"
    shown = str(s.public_dict())
    assert "sk-very-secret" not in shown
    assert "pw-secret" not in shown
    assert "very-secret" not in repr(s)


@pytest.mark.parametrize(
    ("env", "message"),
    [
        (
            {"HMAS_FETCH__RETRIES": "-1"},
            "invalid configuration: fetch.retries (HMAS_FETCH__RETRIES): "
            "Input should be greater than or equal to 0",
        ),
        (
            {"HMAS_FETCH__TIMEFRAME": "7m"},
            "invalid configuration: fetch.timeframe (HMAS_FETCH__TIMEFRAME): "
            "unsupported timeframe '7m'; use one of 1m, 5m, 15m, 30m, 1h, 2h, 4h, 6h, 12h, 1d",
        ),
        (
            {"HMAS_LOG_LEVEL": "LOUD"},
            "invalid configuration: log_level (HMAS_LOG_LEVEL): Input should be",
        ),
    ],
)
def test_invalid_values_name_the_setting(
    env: dict[str, str], message: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    with pytest.raises(ConfigError) as info:
        load_settings()
    assert str(info.value).startswith(message)
    assert info.value.exit_code == 2


def test_unknown_key_in_file(tmp_path: Path) -> None:
    cfg = write(tmp_path / "c.toml", "colour = 'blue'\n")
    with pytest.raises(ConfigError) as info:
        load_settings(cfg)
    assert str(info.value) == (
        f"invalid configuration: unknown setting colour in {cfg}; valid keys at the top level: "
        "db_url, data_dir, log_level, fetch, exchange_credentials, kill_switch, decision, alpha, "
        "technical, sentiment, macro, execution, rationale, mother, risk, paper, pause, llm, news, "
        "notify, run, tournament"
    )


def test_broken_toml(tmp_path: Path) -> None:
    cfg = write(tmp_path / "c.toml", "[fetch\n")
    with pytest.raises(ConfigError, match="is not valid TOML"):
        load_settings(cfg)


def test_missing_config_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="config file not found"):
        load_settings(tmp_path / "nope.toml")


def test_shipped_example_config_is_valid() -> None:
    example = Path(__file__).resolve().parent.parent / "examples" / "hmas.toml"
    s = load_settings(example)
    assert s.risk.preset == "ftmo"
    # The example gives no explicit limit, so the preset's pair applies.
    assert s.risk.limits() == (0.05, 0.10)
    assert s.execution.taker_bps["coinbase"] == 60.0
    assert s.execution.taker_bps["kraken"] == 40.0  # the table replaces the default: keep all


def test_the_news_section(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    s = load_settings()
    assert (s.news.file, s.news.lookback_hours, s.news.max_headlines) == (None, 24.0, 20)
    cfg = write(tmp_path / "c.toml", '[news]\nfile = "feed.jsonl"\nlookback_hours = 6\n')
    monkeypatch.setenv("HMAS_NEWS__MAX_HEADLINES", "5")
    s = load_settings(cfg)
    assert (s.news.file, s.news.lookback_hours, s.news.max_headlines) == (
        Path("feed.jsonl"),
        6.0,
        5,
    )
    monkeypatch.setenv("HMAS_NEWS__FILE", "other.csv")
    assert load_settings(cfg).news.file == Path("other.csv")  # the environment wins


@pytest.mark.parametrize(
    ("env", "message"),
    [
        (
            {"HMAS_NEWS__LOOKBACK_HOURS": "0"},
            "news.lookback_hours (HMAS_NEWS__LOOKBACK_HOURS): Input should be greater than 0",
        ),
        (
            {"HMAS_NEWS__MAX_HEADLINES": "51"},
            "news.max_headlines (HMAS_NEWS__MAX_HEADLINES): Input should be less than or equal "
            "to 50",
        ),
        (
            {"HMAS_NEWS__MAX_HEADLINES": "0"},
            "news.max_headlines (HMAS_NEWS__MAX_HEADLINES): Input should be greater than or "
            "equal to 1",
        ),
        (
            {"HMAS_NEWS__FIEL": "x.jsonl"},
            "unknown setting HMAS_NEWS__FIEL in the environment; did you mean HMAS_NEWS__FILE "
            "(news.file)?",
        ),
    ],
)
def test_bad_news_settings_are_refused(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], message: str
) -> None:
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    with pytest.raises(ConfigError) as info:
        load_settings()
    assert str(info.value) == f"invalid configuration: {message}"
    assert info.value.exit_code == 2


def test_an_empty_news_file_setting_is_refused(tmp_path: Path) -> None:
    cfg = write(tmp_path / "c.toml", '[news]\nfile = " "\n')
    with pytest.raises(ConfigError) as info:
        load_settings(cfg)
    assert str(info.value) == (
        "invalid configuration: news.file (HMAS_NEWS__FILE): is empty; remove news.file for no "
        "news source"
    )


def test_a_news_source_changes_the_hash_of_llm_decisions_only() -> None:
    news = {"file": "feed.jsonl", "lookback_hours": 6}
    rules, rules_news = load_settings(), load_settings(news=news)
    assert rules_news.decision_config() == rules.decision_config()  # the rules never read it
    assert rules_news.config_hash() == rules.config_hash()
    llm = {"decision": {"engine": "llm"}}
    plain, with_news = load_settings(**llm), load_settings(news=news, **llm)
    assert "news" not in plain.decision_config()
    assert with_news.decision_config()["news"] == {"lookback_hours": 6.0, "max_headlines": 20}
    assert with_news.config_hash() != plain.config_hash()
    # the window is the decision's identity, not where the file lives
    moved = load_settings(news={**news, "file": "/elsewhere/feed.jsonl"}, **llm)
    assert moved.config_hash() == with_news.config_hash()
