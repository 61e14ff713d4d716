"""Settings under what a tired operator types: each bad value refused with one clear message."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from hmas.errors import ConfigError, InvalidSettingsError
from hmas.settings import RiskParams, Settings, load_settings, mask_url


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def refused(**env: str) -> str:
    """The message of the ConfigError that settings built with ``env`` raise."""
    import os

    old = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        with pytest.raises(ConfigError) as info:
            load_settings()
        assert info.value.exit_code == 2
        return str(info.value)
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def float_settings(model: type[BaseModel] = Settings, prefix: str = "HMAS_") -> list[str]:
    """The environment variable of every float setting (nested models walked)."""
    names: list[str] = []
    for name, field in model.model_fields.items():
        ann = field.annotation
        if isinstance(ann, type) and issubclass(ann, BaseModel):
            names += float_settings(ann, f"{prefix}{name.upper()}__")
        elif ann is float:
            names.append(prefix + name.upper())
    return names


# --- unknown keys --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "[risk]\nmax_drawdon = 0.02\n",
            "unknown setting risk.max_drawdon in {cfg}; did you mean risk.max_drawdown "
            "(HMAS_RISK__MAX_DRAWDOWN)?",
        ),
        (
            "[fetch]\nretry = 3\n",
            "unknown setting fetch.retry in {cfg}; did you mean fetch.retries "
            "(HMAS_FETCH__RETRIES)?",
        ),
        (
            "[Risk]\npreset = 'ftmo'\n",
            "unknown setting Risk in {cfg}; did you mean risk (HMAS_RISK)?",
        ),
        (
            "[risk]\nzzz = 1\n",
            "unknown setting risk.zzz in {cfg}; valid keys in [risk]: preset, risk_per_trade, "
            "daily_loss_limit, max_drawdown, max_open_positions, cooldown_bars, "
            "max_consecutive_losses, pause_bars, max_signals_per_hour, max_signals_per_day, "
            "gap_allowance, max_leverage, expiry",
        ),
        (
            "[mother]\nmin_expected_value = 1.0\n",
            "unknown setting mother.min_expected_value in {cfg}; did you mean "
            "mother.min_expected_value_r (HMAS_MOTHER__MIN_EXPECTED_VALUE_R)?",
        ),
    ],
)
def test_unknown_keys_in_the_file(tmp_path: Path, text: str, message: str) -> None:
    cfg = write(tmp_path / "c.toml", text)
    with pytest.raises(InvalidSettingsError) as info:
        load_settings(cfg)
    assert info.value.problems == [message.format(cfg=cfg)]


def test_free_keyed_tables_take_any_exchange(tmp_path: Path) -> None:
    cfg = write(tmp_path / "c.toml", "[execution.taker_bps]\nMyExchange = 12.5\n")
    s = load_settings(cfg)
    assert s.execution.taker_bps == {"myexchange": 12.5}  # ids are lower-cased for lookup


def test_an_exchange_given_twice_in_different_case(tmp_path: Path) -> None:
    cfg = write(tmp_path / "c.toml", "[execution.taker_bps]\nKraken = 1\nkraken = 2\n")
    with pytest.raises(ConfigError, match="an exchange is given twice"):
        load_settings(cfg)


@pytest.mark.parametrize(
    ("name", "message"),
    [
        (
            "HMAS_RISK__MAX_DRAWDON",
            "unknown setting HMAS_RISK__MAX_DRAWDON in the environment; did you mean "
            "HMAS_RISK__MAX_DRAWDOWN (risk.max_drawdown)?",
        ),
        (
            "HMAS_RSIK__MAX_DRAWDOWN",
            "unknown setting HMAS_RSIK__MAX_DRAWDOWN in the environment; did you mean "
            "HMAS_RISK__MAX_DRAWDOWN (risk.max_drawdown)?",
        ),
        (
            "HMAS_KILLSWITCH",
            "unknown setting HMAS_KILLSWITCH in the environment; did you mean HMAS_KILL_SWITCH "
            "(kill_switch)?",
        ),
        (
            "HMAS_KILL_SWITCH__ON",
            "unknown setting HMAS_KILL_SWITCH__ON in the environment; did you mean "
            "HMAS_KILL_SWITCH (kill_switch)?",
        ),
        (
            "hmas_fetch__retrys",
            "unknown setting hmas_fetch__retrys in the environment; did you mean "
            "HMAS_FETCH__RETRIES (fetch.retries)?",
        ),
        (
            "HMAS_",
            "unknown setting HMAS_ in the environment; remove it (every HMAS_* variable is "
            "read as a setting; hmas config show lists them)",
        ),
        (
            "HMAS_RISK___MAX_DRAWDOWN",
            "unknown setting HMAS_RISK___MAX_DRAWDOWN in the environment; did you mean "
            "HMAS_RISK__MAX_DRAWDOWN (risk.max_drawdown)?",
        ),
    ],
)
def test_unknown_variables(name: str, message: str) -> None:
    assert refused(**{name: "1"}) == f"invalid configuration: {message}"


@pytest.mark.parametrize("name", ["HMAS_CONFIG", "HMAS_TEST_POSTGRES_URL", "HMAS_CI_PGPORT"])
def test_variables_that_are_not_settings(
    name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(name, "x")
    assert load_settings().fetch.retries == 4


def test_empty_unknown_variable_is_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HMAS_KILLSWITCH", "")
    assert load_settings().kill_switch is False


def test_dotenv_other_tools_variables_are_ignored_and_hmas_config_is_refused(
    tmp_path: Path,
) -> None:
    write(tmp_path / ".env", "DATABASE_URL=x\nHMAS_KILL_SWITCH=\nHMAS_FETCH__RETRIES=2\n")
    s = load_settings()
    assert (s.fetch.retries, s.kill_switch) == (2, False)
    write(tmp_path / ".env", "HMAS_CONFIG=prod.toml\n")
    with pytest.raises(ConfigError) as info:
        load_settings()
    assert str(info.value) == (
        "HMAS_CONFIG in .env is not read; set it in the environment or pass --config PATH"
    )


def test_binary_dotenv(tmp_path: Path) -> None:
    (tmp_path / ".env").write_bytes(b"HMAS_X=\xff\xfe\n")
    with pytest.raises(ConfigError) as info:
        load_settings()
    assert str(info.value) == f".env in {tmp_path} is not UTF-8 text; fix or remove it"


# --- presets and limits ------------------------------------------------------------------------


def test_preset_fills_only_the_limits_not_given(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cfg = write(tmp_path / "c.toml", '[risk]\npreset = "ftmo"\ndaily_loss_limit = 0.01\n')
    assert load_settings(cfg).risk.limits() == (0.01, 0.10)
    monkeypatch.setenv("HMAS_RISK__MAX_DRAWDOWN", "0.02")
    assert load_settings(cfg).risk.limits() == (0.01, 0.02)
    monkeypatch.setenv("HMAS_RISK__PRESET", "strict")
    monkeypatch.delenv("HMAS_RISK__MAX_DRAWDOWN")
    assert load_settings(cfg).risk.limits() == (0.01, 0.09)
    # A flag (an init override) is explicit too.
    assert load_settings(cfg, risk={"max_drawdown": 0.2}).risk.limits() == (0.01, 0.2)


def test_preset_without_explicit_limits() -> None:
    assert RiskParams(preset="strict").limits() == (0.045, 0.09)
    assert RiskParams(preset="ftmo").limits() == (0.05, 0.10)
    assert RiskParams().limits() == (0.05, 0.10)


def test_resolved_limits_survive_a_round_trip() -> None:
    # A stored decision config (a dump) rebuilds exactly the limits that were enforced.
    params = RiskParams(preset="strict", daily_loss_limit=0.02)
    again = RiskParams.model_validate(params.model_dump())
    assert again.limits() == params.limits() == (0.02, 0.09)


@pytest.mark.parametrize("name", ["DAILY_LOSS_LIMIT", "MAX_DRAWDOWN"])
@pytest.mark.parametrize("value", ["1", "1.0", "5", "100", "0", "-0.05"])
def test_limit_outside_zero_to_one_is_refused(name: str, value: str) -> None:
    got = float(value)
    assert refused(**{f"HMAS_RISK__{name}": value}) == (
        f"invalid configuration: risk.{name.lower()} (HMAS_RISK__{name}): must be a fraction "
        f"of equity above 0 and below 1 (0.05 = 5%), got {got}; 1 or more would switch the "
        "check off"
    )


def test_limit_of_one_in_the_file_is_refused_even_with_a_preset(tmp_path: Path) -> None:
    cfg = write(tmp_path / "c.toml", '[risk]\npreset = "ftmo"\nmax_drawdown = 1.0\n')
    with pytest.raises(ConfigError, match=r"risk\.max_drawdown .*1 or more would switch"):
        load_settings(cfg)


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ("HMAS_RISK__RISK_PER_TRADE=0.5", "Input should be less than or equal to 0.1"),
        ("HMAS_RISK__RISK_PER_TRADE=0", "Input should be greater than 0"),
        ("HMAS_RISK__MAX_OPEN_POSITIONS=-1", "Input should be greater than or equal to 0"),
        ("HMAS_RISK__MAX_SIGNALS_PER_HOUR=-1", "Input should be greater than or equal to 0"),
        ("HMAS_RISK__MAX_SIGNALS_PER_DAY=10000000", "Input should be less than or equal to"),
        ("HMAS_RISK__COOLDOWN_BARS=1.5", "Input should be a valid integer"),
        ("HMAS_RISK__MAX_CONSECUTIVE_LOSSES=0", "Input should be greater than or equal to 1"),
        ("HMAS_RISK__PRESET=FTMO", "Input should be 'custom', 'ftmo' or 'strict'"),
        ("HMAS_PAPER__STARTING_EQUITY=-1", "Input should be greater than 0"),
        ("HMAS_PAPER__ACCOUNT_CURRENCY=U S", "expected a currency code such as USD or BTC"),
        ('HMAS_PAPER__AT_PAR=["US-D"]', "expected a currency code such as USD or BTC"),
        ("HMAS_PAPER__CONVERSION_MAX_AGE=1", "expected a duration such as 30d, 12h, 2w or 90m"),
        ("HMAS_RISK__GAP_ALLOWANCE=-0.1", "Input should be greater than or equal to 0"),
        ("HMAS_RISK__MAX_LEVERAGE=0", "Input should be greater than 0"),
        ("HMAS_RISK__MAX_LEVERAGE=1000", "Input should be less than or equal to 100"),
        ("HMAS_RISK__EXPIRY=48", "expected a duration such as 30d, 12h, 2w or 90m"),
        ("HMAS_RISK__EXPIRY=0h", "must be above 0"),
        ("HMAS_RISK__EXPIRY=366d", "must be at most 365d, got '366d'"),
        ("HMAS_FETCH__RETRIES=many", "Input should be a valid integer"),
        ("HMAS_FETCH__TIMEOUT_SECONDS=0", "Input should be greater than 0"),
        ("HMAS_FETCH__SOURCE=csv", "Input should be 'exchange', 'sample' or 'file'"),
        ("HMAS_FETCH__TIMEFRAME=7m", "unsupported timeframe '7m'"),
        ("HMAS_FETCH__TIMEFRAME=1H", "unsupported timeframe '1H'"),
        ("HMAS_FETCH__TIMEFRAME= 1h", "unsupported timeframe ' 1h'"),
        ("HMAS_EXECUTION__DEFAULT_TAKER_BPS=-3", "Input should be greater than or equal to 0"),
        ("HMAS_EXECUTION__TAKER_BPS__KRAKEN=5000", "Input should be less than or equal to 1000"),
        ("HMAS_KILL_SWITCH=maybe", "Input should be a valid boolean"),
        ("HMAS_KILL_SWITCH=2", "Input should be a valid boolean"),
        ("HMAS_SENTIMENT__USE_FEAR_GREED_INDEX=sometimes", "Input should be a valid boolean"),
        ("HMAS_LOG_LEVEL=debug", "Input should be 'DEBUG', 'INFO', 'WARNING' or 'ERROR'"),
        ("HMAS_DECISION__ENGINE=gpt", "Input should be 'rules' or 'llm'"),
        ("HMAS_MOTHER__CONSENSUS_POLICY=majority", "Input should be 'weighted' or"),
    ],
)
def test_bad_values(env: str, message: str) -> None:
    name, _, value = env.partition("=")
    assert message in refused(**{name: value})
    assert refused(**{name: value}).count("(HMAS_") == 1


@pytest.mark.parametrize("value", ["yes", "on", "1", "true", "TRUE"])
def test_booleans_accept_the_usual_spellings(value: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HMAS_KILL_SWITCH", value)
    assert load_settings().kill_switch is True


@pytest.mark.parametrize("name", float_settings())
@pytest.mark.parametrize("value", ["nan", "inf", "-inf"])
def test_no_float_setting_takes_nan_or_inf(name: str, value: str) -> None:
    path = name.removeprefix("HMAS_").lower().replace("__", ".")
    assert refused(**{name: value}) == (
        f"invalid configuration: {path} ({name}): Input should be a finite number"
    )


def test_every_float_setting_is_covered() -> None:
    # Guards the walk above: it must find the settings that matter.
    names = float_settings()
    assert "HMAS_RISK__MAX_DRAWDOWN" in names and "HMAS_FETCH__BACKOFF_SECONDS" in names
    assert len(names) > 40


@pytest.mark.parametrize("value", ["nan", "inf"])
def test_fee_tables_refuse_nan_and_inf(value: str) -> None:
    assert refused(HMAS_EXECUTION__TAKER_BPS__KRAKEN=value) == (
        "invalid configuration: execution.taker_bps.kraken (HMAS_EXECUTION__TAKER_BPS__KRAKEN): "
        "Input should be a finite number"
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "[fetch]\nretries = true\n",
            "fetch.retries (HMAS_FETCH__RETRIES): expected a number, got true",
        ),
        (
            "[risk]\nmax_drawdown = false\n",
            "risk.max_drawdown (HMAS_RISK__MAX_DRAWDOWN): expected a number, got false",
        ),
        (
            "[fetch]\ntimeframe = ''\n",
            "fetch.timeframe (HMAS_FETCH__TIMEFRAME): unsupported timeframe ''",
        ),
        (
            "[fetch]\ntimeframe = 60\n",
            "fetch.timeframe (HMAS_FETCH__TIMEFRAME): Input should be a valid string",
        ),
        (
            "[fetch]\nexchange = ''\n",
            "fetch.exchange (HMAS_FETCH__EXCHANGE): String should have at least 1",
        ),
        (
            "[macro]\nbenchmark = ''\n",
            "macro.benchmark (HMAS_MACRO__BENCHMARK): String should have at least 1",
        ),
        (
            "[technical]\nhigher_timeframes = ['4h', '3h']\n",
            "technical.higher_timeframes (HMAS_TECHNICAL__HIGHER_TIMEFRAMES): unsupported "
            "timeframe '3h'; use one of 1m, 5m",
        ),
        (
            "[technical]\nhigher_timeframes = ['1d', '1d']\n",
            "technical.higher_timeframes (HMAS_TECHNICAL__HIGHER_TIMEFRAMES): lists a timeframe "
            "twice: ['1d', '1d']",
        ),
        (
            "[technical]\nhigher_timeframes = '1d'\n",
            "technical.higher_timeframes (HMAS_TECHNICAL__HIGHER_TIMEFRAMES): Input should be a "
            "valid list",
        ),
        ("db_url = ''\n", "db_url (HMAS_DB_URL): is empty; remove db_url to use the default"),
        (
            "kill_switch = 'maybe'\n",
            "kill_switch (HMAS_KILL_SWITCH): Input should be a valid boolean",
        ),
        (
            "risk = 5\n",
            "risk (HMAS_RISK): Input should be a valid dictionary or instance of RiskParams",
        ),
        (
            "[alpha]\nrsi_oversold = 75\n",
            "alpha (HMAS_ALPHA): rsi_oversold (75.0) must not be above rsi_overbought (70.0)",
        ),
        (
            "[sentiment]\nextreme_greed = 50\n",
            "sentiment (HMAS_SENTIMENT): greed (60.0) must not be above extreme_greed (50.0)",
        ),
        (
            "[execution]\ngrade_a_share = 0.5\n",
            "execution (HMAS_EXECUTION): grade_a_share (0.5) must not be above grade_b_share "
            "(0.005)",
        ),
        (
            "[execution.taker_bps]\n'' = 5\n",
            "execution.taker_bps (HMAS_EXECUTION__TAKER_BPS): an exchange id is empty",
        ),
    ],
)
def test_bad_values_in_the_file(tmp_path: Path, text: str, message: str) -> None:
    cfg = write(tmp_path / "c.toml", text)
    with pytest.raises(ConfigError) as info:
        load_settings(cfg)
    assert str(info.value).startswith(f"invalid configuration: {message}")


def test_blank_data_dir_in_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HMAS_DATA_DIR")
    cfg = write(tmp_path / "c.toml", "data_dir = ' '\n")
    with pytest.raises(ConfigError) as info:
        load_settings(cfg)
    assert str(info.value) == (
        "invalid configuration: data_dir (HMAS_DATA_DIR): is empty; remove data_dir to use the "
        "default"
    )


def test_a_dict_value_for_a_plain_setting(tmp_path: Path) -> None:
    cfg = write(tmp_path / "c.toml", "fetch.timeframe.x = 1\n")
    with pytest.raises(ConfigError) as info:
        load_settings(cfg)
    assert str(info.value) == (
        "invalid configuration: fetch.timeframe (HMAS_FETCH__TIMEFRAME): Input should be a "
        "valid string"
    )


def test_data_dir_that_is_a_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = write(tmp_path / "afile", "x")
    monkeypatch.setenv("HMAS_DATA_DIR", str(target))
    with pytest.raises(ConfigError) as info:
        load_settings().resolved_db_url()
    assert str(info.value) == (
        f"cannot use data directory {target}: it is a file; set HMAS_DATA_DIR to a writable "
        "directory"
    )


# --- files -------------------------------------------------------------------------------------


def test_config_file_that_is_a_directory(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(tmp_path)
    assert str(info.value) == f"config file {tmp_path} is a directory; pass a TOML file"


def test_empty_config_file_gives_defaults(tmp_path: Path) -> None:
    assert load_settings(write(tmp_path / "c.toml", "")).fetch.timeframe == "1h"


def test_binary_config_file(tmp_path: Path) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_bytes(bytes(range(256)))
    with pytest.raises(ConfigError) as info:
        load_settings(cfg)
    assert str(info.value) == (
        f"config file {cfg} is not UTF-8 text (binary?); pass a TOML file such as "
        "examples/hmas.toml"
    )


def test_unreadable_config_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = write(tmp_path / "c.toml", "")

    def denied(self: Path) -> bytes:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(Path, "read_bytes", denied)
    with pytest.raises(ConfigError) as info:
        load_settings(cfg)
    assert str(info.value) == (
        f"cannot read config file {cfg}: Permission denied; check its permissions"
    )


def test_toml_syntax_error_names_the_file_and_line(tmp_path: Path) -> None:
    cfg = write(tmp_path / "c.toml", "[fetch]\nretries = \n")
    with pytest.raises(ConfigError) as info:
        load_settings(cfg)
    assert str(info.value) == (
        f"config file {cfg} is not valid TOML: Invalid value (at line 2, column 11); fix that "
        'line (TOML strings need quotes: timeframe = "1h")'
    )


# --- masking -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("postgresql://u:p@Pl4nted@h/db", "postgresql://u:***@h/db"),
        ("postgresql://u:a:b/c%40d#e?f@h:5432/db?x=1", "postgresql://u:***@h:5432/db?x=1"),
        ("postgresql+psycopg://u:Pl4nted@h/db", "postgresql+psycopg://u:***@h/db"),
        ("postgresql://:pw@h/db", "postgresql://***@h/db"),
        ("postgresql://tok@en@h/db", "postgresql://***@h/db"),
        ("postgresql://u/x:p@h/db", "postgresql://***@h/db"),
        ("postgresql://u:p%40ss@h/db", "postgresql://u:***@h/db"),
        ("postgresql://u:@h/db", "postgresql://u:***@h/db"),
        ("postgresql://hmas@h/db", "postgresql://hmas@h/db"),
        ("postgresql://h/db", "postgresql://h/db"),
        ("postgresql://h/db?password=sek&x=1", "postgresql://h/db?password=***&x=1"),
        ("postgresql://h/db?sslpassword=sek", "postgresql://h/db?sslpassword=***"),
        ("sqlite:////tmp/x@y/hmas.db", "sqlite:////tmp/x@y/hmas.db"),
        ("sqlite:///rel.db", "sqlite:///rel.db"),
        ("u:p@h/db", "u:***@h/db"),
        ("garbage", "garbage"),
        ("", ""),
    ],
)
def test_mask_url(url: str, shown: str) -> None:
    assert mask_url(url) == shown


@pytest.mark.parametrize("password", ["Pl4nted@ZQX", "Pl4nted:ZQX", "Pl4nted/ZQX", "Pl4nted%ZQX"])
@pytest.mark.parametrize(
    "form",
    [
        "postgresql://u:{pw}@h/db",
        "postgresql+psycopg://u:{pw}@h:5432/db",
        "postgresql://:{pw}@h/db",
        "postgres://u:{pw}@h/db?sslmode=require",
        "u:{pw}@h/db",
        "postgresql:/u:{pw}@h/db",
    ],
)
def test_mask_url_hides_every_planted_password(form: str, password: str) -> None:
    shown = mask_url(form.format(pw=password))
    assert "Pl4nted" not in shown and "ZQX" not in shown


def test_public_dict_masks_every_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HMAS_DB_URL", "postgresql://u:Pl4nted%40ZQX@h/db")
    monkeypatch.setenv("HMAS_EXCHANGE_CREDENTIALS__API_SECRET", "Pl4ntedZQX")
    data: dict[str, Any] = load_settings().public_dict()
    assert "ZQX" not in str(data)
    assert data["exchange_credentials"] == {"api_key": None, "api_secret": "**********"}


def test_decision_window_is_refused_unless_its_old_default() -> None:
    """The window is anchored now: a changed decision.window would be ignored, so it is refused;
    its old default still loads (configurations stored with past signals hold it)."""
    assert load_settings(decision={"window": 600}).decision.window == 600
    with pytest.raises(ConfigError) as caught:
        load_settings(decision={"window": 1000})
    assert str(caught.value) == (
        "invalid configuration: decision.window (HMAS_DECISION__WINDOW): decision.window "
        "is no longer used: a decision reads the anchored window set by decision.segment "
        "and rationale.base_rate_lookback; remove decision.window"
    )


@pytest.mark.parametrize(
    ("key", "old", "why"),
    [
        (
            "prior_win_rate",
            0.45,
            "the win probability is shrunk toward the no-edge rate of each trade, "
            "1 / (1 + reward/risk), with mother.prior_strength",
        ),
        (
            "vote_adjustment",
            0.2,
            "the votes no longer shift the win probability (they did not improve its "
            "out-of-sample Brier score); consensus is still a check",
        ),
        (
            "neutral_probability",
            0.15,
            "expiries are measured with the base rate, at what they paid",
        ),
    ],
)
def test_mother_settings_no_longer_read_are_refused_unless_their_old_default(
    key: str, old: float, why: str
) -> None:
    """Configurations stored with past signals hold the old defaults: they load for replay;
    any other value would be silently ignored, so it is refused with what replaced it."""
    assert getattr(load_settings(mother={key: old}).mother, key) == old
    with pytest.raises(ConfigError) as caught:
        load_settings(mother={key: 0.3})
    assert str(caught.value) == (
        f"invalid configuration: mother.{key} (HMAS_MOTHER__{key.upper()}): mother.{key} is "
        f"no longer used: {why}; remove mother.{key}"
    )


@pytest.mark.parametrize(
    ("edges", "message"),
    [
        ([4.0, 3.0], "bucket edges must be strictly increasing, got [4.0, 3.0]"),
        ([3.0, 3.0], "bucket edges must be strictly increasing, got [3.0, 3.0]"),
        ([0.0, 3.0], "bucket edges must be above 0, got [0.0, 3.0]"),
        ([True, 3.0], "bucket edges must be numbers, got [True, 3.0]"),
    ],
)
def test_reward_risk_buckets_must_be_increasing_positive_numbers(
    edges: list[float], message: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(rationale={"reward_risk_buckets": edges})
    assert str(caught.value) == (
        "invalid configuration: rationale.reward_risk_buckets "
        f"(HMAS_RATIONALE__REWARD_RISK_BUCKETS): {message}"
    )


def test_reward_risk_buckets_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HMAS_RATIONALE__REWARD_RISK_BUCKETS", "[2.5, 5]")
    assert load_settings().rationale.reward_risk_buckets == [2.5, 5.0]


REPLACED = 'was replaced by risk.expiry (HMAS_RISK__EXPIRY), a duration such as "48h" (bars = '
REPLACED += "ceil(expiry / bar length))"


@pytest.mark.parametrize(
    ("section", "key"), [("paper", "expiry_bars"), ("rationale", "outcome_horizon")]
)
def test_the_old_expiry_settings_name_the_one_that_replaced_them(
    tmp_path: Path, section: str, key: str
) -> None:
    cfg = write(tmp_path / "c.toml", f"[{section}]\n{key} = 48\n")
    with pytest.raises(InvalidSettingsError) as caught:
        load_settings(cfg)
    assert (
        str(caught.value) == f"invalid configuration: setting {section}.{key} in {cfg} {REPLACED}"
    )
    variable = f"HMAS_{section.upper()}__{key.upper()}"
    assert refused(**{variable: "48"}) == (
        f"invalid configuration: setting {variable} in the environment {REPLACED}"
    )
    with pytest.raises(InvalidSettingsError) as flag:
        load_settings(**{section: {key: 48}})
    assert str(flag.value) == f"invalid configuration: {section}.{key} ({variable}): {REPLACED}"


@pytest.mark.parametrize(
    ("expiry", "timeframe", "bars"),
    [("48h", "1h", 48), ("48h", "1d", 2), ("90m", "1h", 2), ("1h", "1d", 1), ("2w", "4h", 84)],
)
def test_expiry_is_a_duration_counted_in_whole_bars(expiry: str, timeframe: str, bars: int) -> None:
    assert RiskParams(expiry=expiry).expiry_bars(timeframe) == bars


def test_a_stored_config_with_the_old_bar_counts_still_loads() -> None:
    from hmas.settings import upgrade_stored_config

    old = Settings().decision_config()
    old.pop("model")  # configs with the old bar counts were written by decision model 1
    old["risk"].pop("expiry")
    old["paper"]["expiry_bars"] = 48
    old["rationale"]["outcome_horizon"] = 48
    assert Settings.model_validate(upgrade_stored_config(old, "1h")).risk.expiry == "2d"
    assert Settings.model_validate(upgrade_stored_config(old, "5m")).risk.expiry == "4h"
    new = Settings(risk={"expiry": "3d"}).decision_config()
    assert upgrade_stored_config(new, "1h") == new


def test_the_at_par_list_from_the_environment_is_json() -> None:
    assert refused(HMAS_PAPER__AT_PAR="USDT") == (
        "invalid configuration: HMAS_PAPER__AT_PAR in the environment is not valid JSON "
        "(Expecting value: line 1 column 1 (char 0)); give a JSON list such as "
        """HMAS_PAPER__AT_PAR='["USDT", "USDC"]'"""
    )


def test_currency_codes_are_upper_cased() -> None:
    paper = Settings(paper={"account_currency": " eur ", "at_par": ["eurc"]}).paper
    assert (paper.account_currency, paper.at_par) == ("EUR", ["EURC"])
