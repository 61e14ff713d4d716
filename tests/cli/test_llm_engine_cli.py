"""The LLM engine end to end through the CLI, against the loopback stub provider.

``hmas --config <file routing to the stub> run --symbols BTC-USD --engine llm --once
--source sample``, then the call log, the signal's cost, ``report --costs``, an offline
replay at $0, the budgets' refusal (exit 3), a missing key (exit 2, before any call), and
keys planted through the environment, ``.env`` and the config file never coming out.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest
from typer.testing import Result

from tests.llm.agents import responder
from tests.llm.stub import StubServer

ROUTED = ("alpha", "technical", "sentiment", "macro", "execution", "rationale", "mother")
RUN = ("run", "--symbols", "BTC-USD", "--engine", "llm", "--once", "--source", "sample")


def config(
    tmp_path: Path, url: str, *, extra: str = "", vendor: str = "", routing: str = ""
) -> Path:
    routes = routing or ", ".join(f'{a} = "stub"' for a in ROUTED)
    text = f"""
[llm]
routing = {{{routes}}}
retries = 0
{extra}

[llm.vendors.stub]
wire = "openai"
base_url = "{url}/v1"
default_model = "stub-model"
key_env = ""
input_per_mtok = 1.0
output_per_mtok = 2.0
cached_input_per_mtok = 0.5
structured = "json_schema"
{vendor}
"""
    path = tmp_path / "llm.toml"
    path.write_text(text)
    return path


@pytest.fixture
def stub() -> Iterator[StubServer]:
    with StubServer(responder=responder()) as server:
        yield server


def db_rows(sql: str) -> list[tuple[Any, ...]]:
    import os
    import sqlite3

    path = Path(os.environ["HMAS_DATA_DIR"]) / "hmas.db"
    # sqlite3's own context manager ends the transaction, not the connection: close it too
    # (Python 3.13 warns about a connection left open).
    with closing(sqlite3.connect(path)) as conn:
        return list(conn.execute(sql))


def test_run_on_the_llm_engine_logs_every_call_and_replays_at_zero(
    hmas: Callable[..., Result], tmp_path: Path, stub: StubServer
) -> None:
    cfg = config(tmp_path, stub.url)
    result = hmas("--config", str(cfg), *RUN, "--json")
    assert result.exit_code == 0, result.stderr
    line = json.loads(result.stdout.splitlines()[0])
    assert line["status"] == "ok" and line["created"]
    assert line["cost_usd"] == pytest.approx(7 * (100 * 1.0 + 20 * 2.0) / 1e6)
    assert "LLM spend today (UTC): $0.0010 of the $20.00 daily budget" in result.stderr
    calls = db_rows("select agent, status, signal_id, cost_usd, prompt from llm_call order by id")
    assert sorted(c[0] for c in calls) == sorted(ROUTED)
    assert {c[1] for c in calls} == {"ok"} and {c[2] for c in calls} == {line["signal_id"]}
    assert len(stub.seen) == 7

    shown = hmas("signals", "show", str(line["signal_id"]), "--json")
    signal = json.loads(shown.stdout)
    llm = signal["rounds"]["llm"]
    assert llm["deliberation"]["status"] == "ok"
    assert llm["deliberation"]["answer"]["reasoning"].startswith("The code's decision")
    assert {v["status"] for v in llm["agents"].values()} <= {"ok", "not_asked"}
    assert signal["signal"]["cost_usd"] == pytest.approx(line["cost_usd"])

    # the same bar again: nothing new, nothing spent
    again = hmas("--config", str(cfg), *RUN, "--json")
    assert json.loads(again.stdout.splitlines()[0])["created"] is False
    assert len(stub.seen) == 7

    # replay offline: every answer from the log, no request, no row, identical
    replayed = hmas("--config", str(cfg), "replay", str(line["signal_id"]), "--json")
    assert replayed.exit_code == 0, replayed.stderr
    assert json.loads(replayed.stdout)["identical"] is True
    assert len(stub.seen) == 7
    assert len(db_rows("select id from llm_call")) == 7

    costs = hmas("report", "--costs", "--json")
    assert costs.exit_code == 0, costs.stderr
    report = json.loads(costs.stdout)
    assert report["calls"] == 7 and report["total_usd"] == pytest.approx(line["cost_usd"])
    assert {r["agent"] for r in report["by_agent"]} == set(ROUTED)
    assert report["by_model"][0]["vendor"] == "stub"
    table = hmas("report", "--costs")
    assert table.exit_code == 0 and "stub-model" in table.stdout


def test_replay_no_cache_asks_again(
    hmas: Callable[..., Result], tmp_path: Path, stub: StubServer
) -> None:
    cfg = config(tmp_path, stub.url)
    line = json.loads(hmas("--config", str(cfg), *RUN, "--json").stdout.splitlines()[0])
    replayed = hmas("--config", str(cfg), "replay", str(line["signal_id"]), "--no-cache", "--json")
    assert replayed.exit_code == 0, replayed.stderr
    assert json.loads(replayed.stdout)["identical"] is True  # the stub answers the same
    assert len(stub.seen) == 14
    assert len(db_rows("select id from llm_call")) == 14


def test_a_call_past_the_budget_is_not_made_and_the_run_exits_3(
    hmas: Callable[..., Result], tmp_path: Path, stub: StubServer
) -> None:
    cfg = config(tmp_path, stub.url, extra="daily_budget_usd = 0.001")
    result = hmas("--config", str(cfg), *RUN)
    assert result.exit_code == 3, result.stdout + result.stderr
    assert "daily LLM budget is spent" in result.stdout + result.stderr
    assert stub.seen == []  # the first call's worst case is over $0.001: nothing was sent
    assert db_rows("select count(*) from analysis") == [(0,)]


def test_the_per_signal_cap_stops_a_signal_midway(
    hmas: Callable[..., Result], tmp_path: Path, stub: StubServer
) -> None:
    # Each call's worst case is ~$0.006, reserved as the four analysts start together: the
    # cap lets three through and refuses the fourth before it is sent.
    cfg = config(tmp_path, stub.url, extra="signal_cap_usd = 0.02")
    result = hmas("--config", str(cfg), *RUN)
    assert result.exit_code == 3, result.stdout + result.stderr
    assert "per-signal LLM cap is reached" in result.stdout + result.stderr
    assert len(stub.seen) == 3
    assert db_rows("select count(*) from signal") == [(0,)]  # never a partial signal


def test_a_missing_key_is_refused_before_any_call(
    hmas: Callable[..., Result], tmp_path: Path, stub: StubServer
) -> None:
    cfg = config(tmp_path, stub.url)
    text = cfg.read_text().replace('key_env = ""', 'key_env = "STUB_TEST_KEY"')
    cfg.write_text(text)
    result = hmas("--config", str(cfg), *RUN)
    assert result.exit_code == 2
    assert result.stderr.startswith(
        "Error: missing API key: set STUB_TEST_KEY for stub (routed from alpha, execution, "
        "macro, mother, rationale, sentiment, technical)"
    )
    assert stub.seen == []
    assert not (tmp_path / "home" / "hmas.db").exists()  # refused before the store, the fetch


def test_bad_engine_value(hmas: Callable[..., Result]) -> None:
    result = hmas("run", "--symbols", "BTC-USD", "--engine", "gpt", "--once", "--source", "sample")
    assert result.exit_code == 2
    assert "expected rules or llm, got 'gpt'" in result.stderr


KEYS = {
    "env": "sk-ENVplanted0key0aaaaaaaaaaaaaaaaaaaa1",
    "dotenv": "sk-DOTENVplanted0key0bbbbbbbbbbbbbbbbb2",
    "config": "sk-CONFIGplanted0key0cccccccccccccccccc3",
}


def test_keys_from_env_dotenv_and_config_never_come_out(
    hmas: Callable[..., Result],
    tmp_path: Path,
    stub: StubServer,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    import logging

    caplog.set_level(logging.DEBUG)
    monkeypatch.setenv("STUB_ENV_KEY", KEYS["env"])
    (tmp_path / ".env").write_text(f"STUB_DOTENV_KEY={KEYS['dotenv']}\n")
    vendors = "".join(
        f"""
[llm.vendors.{name}]
wire = "openai"
base_url = "{stub.url}/v1"
default_model = "stub-model"
input_per_mtok = 1.0
output_per_mtok = 2.0
{line}
"""
        for name, line in (
            ("stub-env", 'key_env = "STUB_ENV_KEY"'),
            ("stub-dotenv", 'key_env = "STUB_DOTENV_KEY"'),
            ("stub-config", f'key_env = "STUB_CONFIG_KEY"\napi_key = "{KEYS["config"]}"'),
        )
    )
    routing = (
        'alpha = "stub-env", technical = "stub-dotenv", sentiment = "stub-config", '
        'macro = "stub-env", execution = "stub-dotenv", rationale = "stub-config", '
        'mother = "stub-config"'
    )
    cfg = config(tmp_path, stub.url, routing=routing)
    cfg.write_text(cfg.read_text() + vendors)
    # An error that echoes the key back: the provider refuses one call with the key in it.
    outputs = []
    run = hmas("--config", str(cfg), *RUN, "--json")
    assert run.exit_code == 0, run.stderr
    outputs += [run.stdout, run.stderr]
    sid = json.loads(run.stdout.splitlines()[0])["signal_id"]
    for args in (
        ("signals", "show", str(sid), "--json"),
        ("report", "--costs", "--json"),
        ("--config", str(cfg), "replay", str(sid)),
        ("--config", str(cfg), "llm", "check"),
        ("--config", str(cfg), "config", "show"),
    ):
        shown = hmas(*args)
        outputs += [shown.stdout, shown.stderr]
    sent = {s.headers.get("authorization") for s in stub.seen}
    assert {f"Bearer {k}" for k in KEYS.values()} <= sent  # each key was used
    import os

    db = (Path(os.environ["HMAS_DATA_DIR"]) / "hmas.db").read_bytes()
    wal = Path(os.environ["HMAS_DATA_DIR"]) / "hmas.db-wal"
    db += wal.read_bytes() if wal.exists() else b""
    for key in KEYS.values():
        assert key.encode() not in db
        assert key[3:20].encode() not in db
        for text in outputs:
            assert key not in text
        assert key not in caplog.text


def test_backtest_on_the_llm_engine(
    hmas: Callable[..., Result], tmp_path: Path, stub: StubServer
) -> None:
    cfg = config(tmp_path, stub.url)
    base = ("--config", str(cfg), "backtest", "--symbols", "BTC-USD", "--source", "sample")
    span = ("--timerange", "20251231-20260101")
    refused = hmas(*base, *span, "--engine", "llm")
    assert refused.exit_code == 2
    assert "give --max-cost USD" in refused.stderr
    assert stub.seen == []
    first = hmas(*base, *span, "--engine", "llm", "--max-cost", "1", "--json")
    assert first.exit_code == 0, first.stderr
    assert "LLM backtest: 24 bars x 6 agents = 144 calls; estimated cost at most $" in " ".join(
        first.stderr.split()
    )
    run = json.loads(first.stdout)
    assert run["engine"] == "llm"
    llm = run["metrics"]["llm"]
    made = len(stub.seen)
    assert llm["calls"] == made and llm["cached"] == 0
    assert llm["answers"].get("ok", 0) + llm["answers"].get("not_asked", 0) == 144
    assert llm["spend_usd"] == pytest.approx(made * (100 * 1.0 + 20 * 2.0) / 1e6)
    # the same range again: every answer from the call log, $0, the same trades
    again = hmas(*base, *span, "--engine", "llm", "--max-cost", "1", "--json")
    second = json.loads(again.stdout)
    assert len(stub.seen) == made
    assert second["metrics"]["llm"]["spend_usd"] == 0 and second["metrics"]["llm"]["calls"] == 0
    assert second["trades"] == run["trades"]
    # a cap below one bar's calls stops the run: nothing past it is sent
    capped = hmas(*base, *span, "--engine", "llm", "--max-cost", "0.01", "--no-cache")
    assert capped.exit_code == 3, capped.stderr
    assert "the backtest's --max-cost is reached" in capped.stderr
    assert len(stub.seen) - made <= 2


OLLAMA_PORT = 11434


def test_the_shipped_local_config_runs_against_a_server_at_ollamas_address(
    hmas: Callable[..., Result],
) -> None:
    """``examples/llm-local.toml`` as shipped, unchanged: every agent asks the OpenAI-compatible
    server at Ollama's default address (here the loopback stub, in the wire format recorded
    from real servers), with the model it names and a JSON schema; no key is needed."""
    import socket

    try:
        with socket.create_server(("127.0.0.1", OLLAMA_PORT)):
            pass
    except OSError:
        pytest.skip(f"port {OLLAMA_PORT} is in use here (a real Ollama?); the test needs it free")
    example = Path(__file__).resolve().parents[2] / "examples" / "llm-local.toml"
    with StubServer(responder=responder(), port=OLLAMA_PORT) as server:
        result = hmas("--config", str(example), *RUN, "--json")
    assert result.exit_code == 0, result.stderr
    line = json.loads(result.stdout.splitlines()[0])
    assert line["status"] == "ok" and line["created"]
    assert line["cost_usd"] == 0  # a local model: no price, no cost
    assert {seen.path for seen in server.seen} == {"/v1/chat/completions"}
    assert len(server.seen) == len(ROUTED)
    for seen in server.seen:
        assert seen.body["model"] == "qwen3:0.6b"
        assert seen.body["response_format"]["type"] == "json_schema"
        assert "authorization" not in seen.headers
