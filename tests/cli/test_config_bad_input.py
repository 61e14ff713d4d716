"""Bad configuration as an operator writes it: every command refuses it (exit 2, one line).

Each case runs the real ``hmas`` command and asserts the exit code, the exact one-line message
on stderr, nothing on stdout (except ``config check --json``'s verdict) and that no store was
created or written.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import Result

Run = Callable[..., Result]

# Every command that reads settings, with arguments that would otherwise be valid.
COMMANDS: list[tuple[str, ...]] = [
    ("fetch", "--source", "sample", "--symbols", "BTC-USD"),
    ("analyze", "BTC-USD"),
    ("decide", "BTC-USD"),
    ("run", "--source", "sample", "--symbols", "BTC-USD", "--once"),
    ("report",),
    ("replay", "1"),
    ("candles",),
    ("kill-switch", "on"),
    ("kill-switch", "off"),
    ("kill-switch",),
    ("signals", "list"),
    ("signals", "show", "1"),
    ("config", "show"),
    ("config", "show", "--json"),
    ("config", "check"),
    ("db", "status"),
    ("db", "upgrade"),
    ("db", "check"),
    ("health",),
    ("metrics",),
    ("resume",),
]
IDS = [" ".join(c) for c in COMMANDS]

TOP_LEVEL_KEYS = (
    "db_url, data_dir, log_level, fetch, exchange_credentials, kill_switch, decision, alpha, "
    "technical, sentiment, macro, execution, rationale, mother, risk, paper, pause, llm, news, "
    "notify, run, tournament"
)


def store_files(tmp_path: Path) -> list[Path]:
    """Every SQLite file anywhere under the test's directory (the default store included)."""
    return sorted(p for p in tmp_path.rglob("*.db*"))


def assert_refused(result: Result, message: str, tmp_path: Path, *, stdout: str = "") -> None:
    assert result.exit_code == 2, result.stderr
    assert result.stderr == f"Error: {message}\n"
    assert result.stdout == stdout
    assert store_files(tmp_path) == []


# --- unknown keys: file, environment, .env, on every command -----------------------------


@pytest.mark.parametrize("args", COMMANDS, ids=IDS)
def test_unknown_key_in_a_file_section_stops_every_command(
    hmas: Run, tmp_path: Path, args: tuple[str, ...]
) -> None:
    (tmp_path / "hmas.toml").write_text("[risk]\nmax_drawdon = 0.02\n", encoding="utf-8")
    assert_refused(
        hmas(*args),
        "invalid configuration: unknown setting risk.max_drawdon in hmas.toml; "
        "did you mean risk.max_drawdown (HMAS_RISK__MAX_DRAWDOWN)?",
        tmp_path,
    )


@pytest.mark.parametrize("args", COMMANDS, ids=IDS)
def test_mistyped_nested_variable_stops_every_command(
    hmas: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, args: tuple[str, ...]
) -> None:
    monkeypatch.setenv("HMAS_RISK__MAX_DRAWDON", "0.02")
    assert_refused(
        hmas(*args),
        "invalid configuration: unknown setting HMAS_RISK__MAX_DRAWDON in the environment; "
        "did you mean HMAS_RISK__MAX_DRAWDOWN (risk.max_drawdown)?",
        tmp_path,
    )


@pytest.mark.parametrize("args", COMMANDS, ids=IDS)
def test_unknown_top_level_variable_stops_every_command(
    hmas: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, args: tuple[str, ...]
) -> None:
    monkeypatch.setenv("HMAS_KILLSWITCH", "1")
    assert_refused(
        hmas(*args),
        "invalid configuration: unknown setting HMAS_KILLSWITCH in the environment; "
        "did you mean HMAS_KILL_SWITCH (kill_switch)?",
        tmp_path,
    )


@pytest.mark.parametrize("args", COMMANDS, ids=IDS)
def test_a_100_percent_limit_stops_every_command(
    hmas: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, args: tuple[str, ...]
) -> None:
    monkeypatch.setenv("HMAS_RISK__DAILY_LOSS_LIMIT", "1")
    assert_refused(
        hmas(*args),
        "invalid configuration: risk.daily_loss_limit (HMAS_RISK__DAILY_LOSS_LIMIT): must be a "
        "fraction of equity above 0 and below 1 (0.05 = 5%), got 1.0; 1 or more would switch "
        "the check off",
        tmp_path,
    )


@pytest.mark.parametrize("args", COMMANDS, ids=IDS)
def test_bad_json_in_a_variable_stops_every_command(
    hmas: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, args: tuple[str, ...]
) -> None:
    monkeypatch.setenv("HMAS_EXECUTION__TAKER_BPS", "{bad")
    assert_refused(
        hmas(*args),
        "invalid configuration: HMAS_EXECUTION__TAKER_BPS in the environment is not valid JSON "
        "(Expecting property name enclosed in double quotes: line 1 column 2 (char 1)); give a "
        """JSON object such as HMAS_EXECUTION__TAKER_BPS='{"coinbase": 60}' or set one key as """
        "HMAS_EXECUTION__TAKER_BPS__COINBASE=60",
        tmp_path,
    )


@pytest.mark.parametrize("args", COMMANDS, ids=IDS)
def test_binary_config_file_stops_every_command(
    hmas: Run, tmp_path: Path, args: tuple[str, ...]
) -> None:
    (tmp_path / "hmas.toml").write_bytes(b"\x88\xff\x00SQLite format 3\x00\x01")
    assert_refused(
        hmas(*args),
        "config file hmas.toml is not UTF-8 text (binary?); pass a TOML file such as "
        "examples/hmas.toml",
        tmp_path,
    )


def test_unknown_top_level_key_in_the_file(hmas: Run, tmp_path: Path) -> None:
    cfg = tmp_path / "prod.toml"
    cfg.write_text("kill_swich = true\ncolour = 'blue'\n", encoding="utf-8")
    assert_refused(
        hmas("--config", str(cfg), "config", "check"),
        f"invalid configuration: unknown setting kill_swich in {cfg}; did you mean kill_switch "
        f"(HMAS_KILL_SWITCH)?; unknown setting colour in {cfg}; valid keys at the top level: "
        f"{TOP_LEVEL_KEYS}",
        tmp_path,
    )


def test_misspelt_section_in_the_file(hmas: Run, tmp_path: Path) -> None:
    (tmp_path / "hmas.toml").write_text("[rsik]\nmax_drawdown = 0.02\n", encoding="utf-8")
    assert_refused(
        hmas("config", "check"),
        "invalid configuration: unknown setting rsik in hmas.toml; did you mean risk (HMAS_RISK)?",
        tmp_path,
    )


def test_unknown_keys_in_dotenv(hmas: Run, tmp_path: Path) -> None:
    (tmp_path / ".env").write_text(
        "OTHER_TOOL=1\nHMAS_FETCH__RETRIS=2\nHMAS_NOPE=x\n", encoding="utf-8"
    )
    assert_refused(
        hmas("config", "check"),
        "invalid configuration: unknown setting HMAS_FETCH__RETRIS in .env; did you mean "
        "HMAS_FETCH__RETRIES (fetch.retries)?; unknown setting HMAS_NOPE in .env; remove it "
        "(every HMAS_* variable is read as a setting; hmas config show lists them)",
        tmp_path,
    )


def test_variables_that_are_not_settings_by_design_are_accepted(
    hmas: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HMAS_TEST_ANYTHING", "1")
    monkeypatch.setenv("HMAS_CI_PGPORT", "55432")
    (tmp_path / ".env").write_text("OTHER_TOOL=1\nHMAS_TEST_X=2\n", encoding="utf-8")
    cfg = tmp_path / "c.toml"
    cfg.write_text("", encoding="utf-8")
    monkeypatch.setenv("HMAS_CONFIG", str(cfg))
    result = hmas("config", "check")
    assert (result.exit_code, result.stderr) == (0, "")
    assert result.stdout == f"Configuration is valid (file: {cfg}).\n"


# --- empty variables, JSON, files ------------------------------------------------------------


def test_empty_kill_switch_variable_is_unset(
    hmas: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HMAS_KILL_SWITCH", "")
    monkeypatch.setenv("HMAS_FETCH__TIMEFRAME", "")
    result = hmas("config", "show", "--json")
    assert (result.exit_code, result.stderr) == (0, "")
    data = json.loads(result.stdout)
    assert data["kill_switch"] is False
    assert data["fetch"]["timeframe"] == "1h"
    assert hmas("kill-switch", "on").exit_code == 0
    status = hmas("kill-switch")
    assert status.exit_code == 0, status.stderr


def test_bad_json_for_a_whole_section(
    hmas: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HMAS_RISK", "{")
    assert_refused(
        hmas("config", "check"),
        "invalid configuration: HMAS_RISK in the environment is not valid JSON (Expecting "
        "property name enclosed in double quotes: line 1 column 2 (char 1)); set one key as "
        "HMAS_RISK__<KEY>=value, or give a JSON object",
        tmp_path,
    )


def test_json_that_is_not_an_object(
    hmas: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HMAS_RISK", "5")
    assert_refused(
        hmas("config", "check"),
        "invalid configuration: risk (HMAS_RISK): Input should be a valid dictionary or "
        "instance of RiskParams",
        tmp_path,
    )


def test_toml_syntax_error(hmas: Run, tmp_path: Path) -> None:
    (tmp_path / "hmas.toml").write_text("[fetch]\ntimeframe = 1h\n", encoding="utf-8")
    assert_refused(
        hmas("config", "check"),
        "config file hmas.toml is not valid TOML: Expected newline or end of document after a "
        "statement (at line 2, column 14); fix "
        'that line (TOML strings need quotes: timeframe = "1h")',
        tmp_path,
    )


def test_config_path_that_is_a_directory(hmas: Run, tmp_path: Path) -> None:
    result = hmas("--config", str(tmp_path), "config", "check")
    assert result.exit_code == 2
    assert result.stderr.splitlines()[-1] == (
        f"Error: Invalid value for '--config' (env var: 'HMAS_CONFIG'): file '{tmp_path}' is a "
        "directory; see hmas --help"
    )
    assert result.stdout == ""
    assert store_files(tmp_path) == []


def test_config_path_that_does_not_exist(hmas: Run, tmp_path: Path) -> None:
    assert_refused(
        hmas("--config", "nope.toml", "fetch", "--source", "sample", "--symbols", "BTC-USD"),
        "config file not found: nope.toml; pass an existing TOML file",
        tmp_path,
    )


def test_empty_config_file_means_defaults(hmas: Run, tmp_path: Path) -> None:
    (tmp_path / "hmas.toml").write_text("", encoding="utf-8")
    result = hmas("config", "check")
    assert (result.exit_code, result.stdout) == (0, "Configuration is valid (file: hmas.toml).\n")


# --- config check --json -----------------------------------------------------------------------


def test_config_check_json_on_a_bad_config(
    hmas: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HMAS_RISK__MAX_DRAWDON", "0.02")
    monkeypatch.setenv("HMAS_FETCH__RETRIES", "-1")  # not reached: unknown keys come first
    result = hmas("config", "check", "--json")
    problem = (
        "unknown setting HMAS_RISK__MAX_DRAWDON in the environment; did you mean "
        "HMAS_RISK__MAX_DRAWDOWN (risk.max_drawdown)?"
    )
    assert result.exit_code == 2
    assert result.stderr == f"Error: invalid configuration: {problem}\n"
    assert json.loads(result.stdout) == {"valid": False, "errors": [problem]}
    assert store_files(tmp_path) == []


def test_config_check_json_lists_every_invalid_value(
    hmas: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HMAS_FETCH__RETRIES", "-1")
    monkeypatch.setenv("HMAS_KILL_SWITCH", "maybe")
    result = hmas("config", "check", "--json")
    errors = [
        "fetch.retries (HMAS_FETCH__RETRIES): Input should be greater than or equal to 0",
        "kill_switch (HMAS_KILL_SWITCH): Input should be a valid boolean, unable to interpret "
        "input",
    ]
    assert result.exit_code == 2
    assert result.stderr == "Error: invalid configuration: " + "; ".join(errors) + "\n"
    assert json.loads(result.stdout) == {"valid": False, "errors": errors}


def test_config_check_json_on_a_missing_file(hmas: Run, tmp_path: Path) -> None:
    result = hmas("--config", "gone.toml", "config", "check", "--json")
    message = "config file not found: gone.toml; pass an existing TOML file"
    assert result.exit_code == 2
    assert result.stderr == f"Error: {message}\n"
    assert json.loads(result.stdout) == {"valid": False, "errors": [message]}


def test_config_check_json_on_a_good_config(hmas: Run) -> None:
    result = hmas("config", "check", "--json")
    assert result.exit_code == 0
    assert json.loads(result.stdout) == {"valid": True, "errors": [], "config_file": None}


# --- the preset and explicit limits, as the guardian sees them -----------------------------


def test_explicit_limit_in_the_file_wins_over_the_preset(hmas: Run, tmp_path: Path) -> None:
    (tmp_path / "hmas.toml").write_text(
        '[risk]\npreset = "ftmo"\ndaily_loss_limit = 0.01\n', encoding="utf-8"
    )
    data = json.loads(hmas("config", "show", "--json").stdout)
    assert data["risk"]["preset"] == "ftmo"
    assert data["risk"]["daily_loss_limit"] == 0.01  # explicit
    assert data["risk"]["max_drawdown"] == 0.10  # from the preset


def test_explicit_limit_in_the_environment_wins_over_the_preset(
    hmas: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "hmas.toml").write_text('[risk]\npreset = "strict"\n', encoding="utf-8")
    monkeypatch.setenv("HMAS_RISK__MAX_DRAWDOWN", "0.03")
    data = json.loads(hmas("config", "show", "--json").stdout)
    assert (data["risk"]["daily_loss_limit"], data["risk"]["max_drawdown"]) == (0.045, 0.03)


# --- planted secrets ---------------------------------------------------------------------------

PASSWORDS = ["Pl4nted@ZQX", "Pl4nted:ZQX", "Pl4nted/ZQX", "Pl4nted%ZQX", "Pl4nted@:/%#?ZQX"]
URL_FORMS = [
    "postgresql://hmas:{pw}@db.example/hmas",
    "postgresql+psycopg://hmas:{pw}@db.example:5432/hmas",
    "postgres://hmas:{pw}@127.0.0.1:1/hmas?sslmode=disable",
    "postgresql://:{pw}@db.example/hmas",
    "postgresql://hmas:{pw}@/hmas?host=/var/run/postgresql",
    "mysql+pymysql://hmas:{pw}@db.example/hmas",
    "hmas:{pw}@db.example/hmas",  # no scheme: not a URL at all
]


def _secret_parts(password: str) -> list[str]:
    # The planted marker and both halves around any special character must never appear.
    return ["Pl4nted", "ZQX", *[p for p in re.split(r"[@:/%#?]", password) if len(p) > 2]]


def _refused_url(url: str) -> str | None:
    """The db_url error settings give for ``url``, or None when the URL is accepted."""
    if "://" not in url:
        return (
            "is not a database URL; use e.g. sqlite:///path/hmas.db or "
            "postgresql://user:pass@host/db"
        )
    if url.count("@") > 1:
        return (
            "has a raw '@' in its user name or password; percent-encode it as %40 "
            "(postgresql://user:p%40ss@host/db)"
        )
    return None


@pytest.mark.parametrize("form", URL_FORMS)
@pytest.mark.parametrize("password", PASSWORDS)
def test_planted_database_password_never_appears(
    hmas: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, form: str, password: str
) -> None:
    url = form.format(pw=password)
    monkeypatch.setenv("HMAS_DB_URL", url)
    monkeypatch.setenv("HMAS_EXCHANGE_CREDENTIALS__API_KEY", "Pl4ntedKEYZQX")
    monkeypatch.setenv("HMAS_EXCHANGE_CREDENTIALS__API_SECRET", "Pl4ntedSECRETZQX")
    outputs = [
        hmas("config", "show"),
        hmas("config", "show", "--json"),
        hmas("config", "check"),
        hmas("config", "check", "--json"),
    ]
    # And a failing command: a setting error alongside the planted URL.
    monkeypatch.setenv("HMAS_FETCH__RETRIES", "-1")
    outputs.append(hmas("fetch", "--source", "sample", "--symbols", "BTC-USD"))
    outputs.append(hmas("config", "check", "--json"))
    everything = "".join(r.stdout + r.stderr for r in outputs)
    for part in _secret_parts(password):
        assert part not in everything
    refused = _refused_url(url)
    if refused is None:
        assert [r.exit_code for r in outputs] == [0, 0, 0, 0, 2, 2]
        shown = json.loads(outputs[1].stdout)
        assert "***" in shown["db_url"]
        assert shown["exchange_credentials"] == {
            "api_key": "**********",
            "api_secret": "**********",
        }
    else:
        # A URL that would connect somewhere else than meant is refused, without quoting it.
        assert [r.exit_code for r in outputs] == [2] * 6
        assert outputs[2].stderr == (
            f"Error: invalid configuration: db_url (HMAS_DB_URL): {refused}\n"
        )
    assert store_files(tmp_path) == []


@pytest.mark.parametrize("password", [p for p in PASSWORDS if "@" not in p])
def test_planted_password_never_appears_when_the_server_is_down(
    hmas: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, password: str
) -> None:
    monkeypatch.setenv("HMAS_DB_URL", f"postgresql://hmas:{password}@127.0.0.1:1/hmas")
    outputs = [hmas("db", "status"), hmas("db", "status", "--json"), hmas("signals", "list")]
    for result in outputs:
        assert result.exit_code == 2
        assert result.stderr.startswith(
            "Error: cannot open database postgresql+psycopg://hmas:***@"
        )
    everything = "".join(r.stdout + r.stderr for r in outputs)
    for part in _secret_parts(password):
        assert part not in everything


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("postgresql://hmas:pw@127.0.0.1:x/hmas", "has an invalid port"),
        ("postgresql://hmas:pw@127.0.0.1:99999/hmas", "has an invalid port"),
        ("postgresql://hmas:pw@127.0.0.1:/hmas", "has an invalid port"),
        ("127.0.0.1/hmas", "is not a database URL"),
        ("hmas.db", "is not a database URL"),
    ],
)
def test_malformed_database_url_is_a_configuration_error(
    hmas: Run, tmp_path: Path, url: str, problem: str
) -> None:
    for args in (("--db-url", url, "signals", "list"), ("--db-url", url, "db", "status")):
        result = hmas(*args)
        assert result.exit_code == 2
        assert result.stderr.startswith(
            f"Error: invalid configuration: db_url (HMAS_DB_URL): {problem}"
        )
        assert result.stderr.count("\n") == 1
        assert result.stdout == ""
    assert store_files(tmp_path) == []


def test_planted_secret_in_a_bad_file_value_never_appears(hmas: Run, tmp_path: Path) -> None:
    (tmp_path / "hmas.toml").write_text(
        '[exchange_credentials]\napi_key = 12345\napi_secrt = "Pl4ntedZQX"\n', encoding="utf-8"
    )
    result = hmas("config", "check", "--json")
    assert result.exit_code == 2
    assert "Pl4ntedZQX" not in result.stdout + result.stderr
    assert result.stderr == (
        "Error: invalid configuration: unknown setting exchange_credentials.api_secrt in "
        "hmas.toml; did you mean exchange_credentials.api_secret "
        "(HMAS_EXCHANGE_CREDENTIALS__API_SECRET)?\n"
    )
