"""``hmas llm check [--json] [--ping]`` end to end, a stub provider on loopback standing in for
the vendors (pointed at by a config file), and no key ever in what the command prints."""

from __future__ import annotations

import json
from collections import deque
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from typer.testing import Result

from tests.llm.helpers import PLANTED
from tests.llm.stub import Reply, StubServer

Run = Callable[..., Result]
AGENTS = ["alpha", "technical", "sentiment", "macro", "execution", "rationale", "mother"]


@pytest.fixture
def stub() -> Iterator[StubServer]:
    with StubServer(latency=0.05, content="pong") as server:
        yield server


def stub_config(path: Path, server: StubServer, extra: str = "") -> Path:
    """Every agent to the stub: rationale through the Anthropic wire, the rest local."""
    routing = "\n".join(f'{a} = "{"anthropic" if a == "rationale" else "local"}"' for a in AGENTS)
    path.write_text(
        f"""[llm]
retries = 0
[llm.routing]
{routing}
[llm.vendors.local]
base_url = "{server.url}/v1"
default_model = "stub-small"
input_per_mtok = 1.0
output_per_mtok = 2.0
[llm.vendors.anthropic]
base_url = "{server.url}/v1"
{extra}
""",
        encoding="utf-8",
    )
    return path


def test_check_lists_routes_keys_modes_and_prices(hmas: Run, monkeypatch) -> None:
    monkeypatch.setenv("DEEPSEEK_API_KEY", PLANTED)
    for var in ("XAI_API_KEY", "ANTHROPIC_API_KEY", "GOOGLE_API_KEY"):
        monkeypatch.setenv(var, "x")
    result = hmas("llm", "check")
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "LLM routing"
    assert any(
        line.split()[:5]
        == ["alpha", "deepseek/deepseek-chat", "DEEPSEEK_API_KEY", "(env)", "json_mode"]
        for line in lines
    ), result.stdout
    assert "mother     gemini/gemini-2.5-flash" in result.stdout
    assert PLANTED not in result.stdout + result.stderr


def test_a_missing_key_exits_2_naming_the_variable(hmas: Run, monkeypatch) -> None:
    for var in ("DEEPSEEK_API_KEY", "XAI_API_KEY", "GOOGLE_API_KEY"):
        monkeypatch.setenv(var, "x")
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    result = hmas("llm", "check", "--json")
    assert result.exit_code == 2
    data = json.loads(result.stdout)
    assert data["ok"] is False and data["missing_keys"] == ["ANTHROPIC_API_KEY"]
    assert result.stderr == (
        "Error: missing API key: set ANTHROPIC_API_KEY for anthropic (routed from rationale), "
        "or route those agents elsewhere (llm.routing; docs/llm.md)\n"
    )


def test_ping_with_a_missing_key_makes_no_call(hmas: Run, stub: StubServer, tmp_path) -> None:
    cfg = stub_config(tmp_path / "llm.toml", stub)
    result = hmas("--config", str(cfg), "llm", "check", "--ping")
    assert result.exit_code == 2 and "set ANTHROPIC_API_KEY" in result.stderr
    assert stub.seen == []


def test_ping_end_to_end_through_the_stub(
    hmas: Run, stub: StubServer, tmp_path, monkeypatch
) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", PLANTED)
    cfg = stub_config(tmp_path / "llm.toml", stub)
    result = hmas("--config", str(cfg), "llm", "check", "--ping", "--json")
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    pings = {p["vendor"]: p for p in data["pings"]}
    assert set(pings) == {"local", "anthropic"} and data["ok"] is True
    local = pings["local"]
    assert local["ok"] and local["model"] == "stub-small"
    assert local["agents"] == ["alpha", "technical", "sentiment", "macro", "execution", "mother"]
    assert (local["input_tokens"], local["output_tokens"]) == (100, 20)
    assert local["cost_usd"] == pytest.approx((100 * 1.0 + 20 * 2.0) / 1e6)
    assert local["latency_s"] >= 0.05 and local["answer"] == "pong"
    assert pings["anthropic"]["cost_usd"] == pytest.approx((100 * 3 + 20 * 15) / 1e6)
    # One tiny call per vendor and model, the key only in the Anthropic request's header.
    assert sorted(s.path for s in stub.seen) == ["/v1/chat/completions", "/v1/messages"]
    sent = {s.path: s for s in stub.seen}
    assert sent["/v1/messages"].headers["x-api-key"] == PLANTED
    assert "authorization" not in sent["/v1/chat/completions"].headers
    assert PLANTED not in result.stdout + result.stderr


def test_ping_table_and_a_failed_ping(hmas: Run, stub: StubServer, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", PLANTED)
    cfg = stub_config(tmp_path / "llm.toml", stub)
    # The provider echoes the key it refuses, as OpenAI's 401 does (partly masked there).
    echo = {
        "type": "error",
        "error": {"type": "authentication_error", "message": f"bad key {PLANTED}"},
    }
    stub.by_path["/v1/messages"] = deque(
        [Reply(401, body=echo, headers={"x-should-retry": "false"})]
    )
    result = hmas("--config", str(cfg), "llm", "check", "--ping")
    output = result.stdout + result.stderr
    assert PLANTED not in output and "bad key [redacted]" in output
    assert result.exit_code == 1, output
    lines = result.stdout.splitlines()
    ping = lines[lines.index("LLM ping") + 1 :]
    assert ping[0].split() == [
        "vendor/model",
        "result",
        "latency",
        "tokens",
        "in/out",
        "cost",
        "$",
        "error",
    ]
    rows = {line.split()[0]: line.split() for line in ping[1:]}
    assert rows["local/stub-small"][1:2] == ["ok"] and rows["local/stub-small"][3] == "100/20"
    assert rows["anthropic/claude-sonnet-4-5"][1] == "FAILED"
    assert "check ANTHROPIC_API_KEY" in result.stdout
    assert "1 of 2 ping(s) failed" in result.stderr


@pytest.mark.parametrize("source", ["environment", ".env", "config file"])
def test_a_planted_key_never_reaches_the_output(
    hmas: Run, stub: StubServer, tmp_path: Path, monkeypatch, caplog, source: str
) -> None:
    extra = ""
    if source == "environment":
        monkeypatch.setenv("ANTHROPIC_API_KEY", PLANTED)
    elif source == ".env":
        (tmp_path / ".env").write_text(f"ANTHROPIC_API_KEY={PLANTED}\n")
    else:
        extra = f'api_key = "{PLANTED}"'
    cfg = stub_config(tmp_path / "llm.toml", stub, extra)
    outputs = []
    for args in (
        ["llm", "check"],
        ["llm", "check", "--json"],
        ["llm", "check", "--ping", "--json"],
        ["--log-level", "DEBUG", "llm", "check", "--ping"],
        ["config", "show"],
        ["config", "show", "--json"],
    ):
        result = hmas("--config", str(cfg), *args)
        assert result.exit_code == 0, (args, result.stderr)
        outputs.append(result.stdout + result.stderr)
    checked = hmas("--config", str(cfg), "llm", "check", "--json")
    assert json.loads(checked.stdout)["routes"][5]["key_source"] == source
    assert any(s.headers.get("x-api-key") == PLANTED for s in stub.seen)  # it was used
    assert PLANTED not in "".join(outputs) + caplog.text
