"""``hmas run --artifacts`` and notifications during a real run: the files are what
``signals show --json`` prints, and planted secrets appear nowhere."""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import Result

from hmas.notify.messages import Event
from tests.llm.stub import Reply, StubServer

RUN = ("run", "-s", "BTC-USD", "ETH-USD", "--source", "sample", "--once")
TOKEN = "987654:PLANTED-telegram-token-zzz"
HOOK_TOKEN = "PLANTED-discord-hook-token-qqq"


def test_artifacts_hold_what_signals_show_prints(
    hmas: Callable[..., Result], tmp_path: Path
) -> None:
    out = tmp_path / "new" / "arts"
    result = hmas(*RUN, "--artifacts", str(out))
    assert result.exit_code == 0, result.stderr
    names = sorted(p.name for p in out.iterdir())
    assert len(names) == 2 and all(n.endswith(".json") and n[4] == "-" for n in names)
    for name in names:
        signal_id = name.rsplit("signal-", 1)[1].removesuffix(".json")
        shown = hmas("signals", "show", signal_id, "--json")
        assert (out / name).read_text() == shown.stdout
    assert names[0].endswith("_BTC-USD_1h_signal-1.json") and "T" in names[0]
    again = hmas(*RUN, "--artifacts", str(out))  # same bar: no new signal, no new file
    assert again.exit_code == 0 and sorted(p.name for p in out.iterdir()) == names


def test_artifacts_that_are_a_file_exit_2_before_any_work(
    hmas: Callable[..., Result], tmp_path: Path
) -> None:
    (tmp_path / "taken").write_text("x")
    for target, message in (
        ("taken", f"--artifacts {tmp_path / 'taken'} is a file, not a directory"),
        (
            "taken/sub",
            f"cannot create --artifacts {tmp_path / 'taken' / 'sub'}: a parent is a file",
        ),
    ):
        result = hmas(*RUN, "--artifacts", str(tmp_path / target))
        assert (result.exit_code, result.stdout, result.stderr) == (2, "", f"Error: {message}\n")
    assert not (tmp_path / "home" / "hmas.db").exists()


def test_notifications_of_a_run_go_out_and_no_secret_leaks(
    hmas: Callable[..., Result],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Which bar the sample market shows depends on the clock: every new signal is made an
    # event, so the run sends whatever it decides.
    monkeypatch.setattr(
        "hmas.notify.messages.events_for",
        lambda s: [Event("approved", f"hmas (paper): {s.decision} {s.symbol}")],
    )
    caplog.set_level(logging.DEBUG)
    with StubServer() as stub:
        stub.default = Reply(body={"ok": True, "result": {}})
        stub.by_path[f"/api/webhooks/1/{HOOK_TOKEN}"] = deque(
            [Reply(status=500, body={"message": "boom"})]
        )
        monkeypatch.setenv("HMAS_NOTIFY__TELEGRAM_TOKEN", TOKEN)
        monkeypatch.setenv("HMAS_NOTIFY__TELEGRAM_CHAT_ID", "-1001")
        monkeypatch.setenv("HMAS_NOTIFY__TELEGRAM_API_URL", stub.url)
        monkeypatch.setenv(
            "HMAS_NOTIFY__DISCORD_WEBHOOK_URL", f"{stub.url}/api/webhooks/1/{HOOK_TOKEN}"
        )
        monkeypatch.setenv("HMAS_NOTIFY__MAX_PER_MINUTE", "1")
        result = hmas("--log-level", "DEBUG", *RUN, "--artifacts", "arts", "--json")
        shown = [hmas("config", "show"), hmas("config", "show", "--json"), hmas("config", "check")]
    assert result.exit_code == 0, result.stderr
    # One message within the limit (Telegram sent, Discord failed), one held back and logged.
    assert [s.path for s in stub.seen] == [
        f"/bot{TOKEN}/sendMessage",
        f"/api/webhooks/1/{HOOK_TOKEN}",
    ]
    assert stub.seen[0].body == {"chat_id": -1001, "text": "hmas (paper): REJECTED BTC-USD"}
    assert "notification to discord failed: HTTP 500 (boom)" in caplog.text
    assert "1 notification(s) held back by the rate limit" in caplog.text
    texts = [result.stdout, result.stderr, caplog.text]
    texts += [r.stdout + r.stderr for r in shown]
    texts += [p.read_text() for p in (tmp_path / "arts").iterdir()]
    stored = b"".join(p.read_bytes() for p in (tmp_path / "home").glob("hmas.db*"))
    for secret in (TOKEN, HOOK_TOKEN):
        assert all(secret not in text for text in texts)
        assert secret.encode() not in stored


def test_a_pause_that_starts_or_is_lifted_during_a_run_is_notified(
    hmas: Callable[..., Result], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A pause stored while ``hmas run`` loops (by this runner's guardian, another runner or
    an operator) is sent when it starts and when it is lifted."""
    from datetime import timedelta

    from sqlmodel import Session

    from hmas.live import loop
    from hmas.store import pauses
    from hmas.store.models import utcnow

    real = loop._one_symbol
    calls: list[int] = []

    def one_symbol(engine: object, *args: object, **kwargs: object) -> object:
        outcome = real(engine, *args, **kwargs)  # type: ignore[arg-type]
        calls.append(1)
        with Session(engine) as session:  # type: ignore[call-overload]
            now = utcnow()
            if len(calls) == 1:
                pauses.start(
                    session,
                    "rules",
                    "api_errors",
                    "12 errors in 15 minutes (limit 10)",
                    now,
                    expires_at=now + timedelta(minutes=30),
                )
            else:
                pauses.lift(session, "rules", now, by="ops@desk", reason="exchange is back")
            session.commit()
        return outcome

    monkeypatch.setattr(loop, "_one_symbol", one_symbol)
    with StubServer() as stub:
        stub.default = Reply(body={})
        monkeypatch.setenv(
            "HMAS_NOTIFY__DISCORD_WEBHOOK_URL", f"{stub.url}/api/webhooks/1/{HOOK_TOKEN}"
        )
        result = hmas(
            "run",
            "-s",
            "BTC-USD",
            "--source",
            "sample",
            "--iterations",
            "2",
            "--sleep-seconds",
            "0",
            "--json",
        )
    assert result.exit_code == 0, result.stderr
    texts = [s.body["content"] for s in stub.seen]
    started = [t for t in texts if "guardian paused trading: pause #" in t]
    lifted = [t for t in texts if "lifted by hmas resume: exchange is back" in t]
    assert len(started) == 1 and "(api_errors, every symbol) until " in started[0]
    assert "12 errors in 15 minutes (limit 10)" in started[0]
    assert len(lifted) == 1
    assert "pause_started" in result.stderr and "pause_lifted" in result.stderr  # the log lines


def test_turning_the_kill_switch_on_or_off_is_notified_and_a_failure_is_not_fatal(
    hmas: Callable[..., Result], monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    with StubServer() as stub:
        stub.default = Reply(body={})
        stub.script.extend([Reply(body={}), Reply(body={}), Reply(status=500, body={})])
        monkeypatch.setenv(
            "HMAS_NOTIFY__DISCORD_WEBHOOK_URL", f"{stub.url}/api/webhooks/1/{HOOK_TOKEN}"
        )
        on = hmas("kill-switch", "on")
        status = hmas("kill-switch")  # only a change is sent
        off = hmas("kill-switch", "off")
        failed = hmas("kill-switch", "on")  # the webhook answers 500
    assert (on.exit_code, status.exit_code, off.exit_code, failed.exit_code) == (0, 0, 0, 0)
    texts = [s.body["content"] for s in stub.seen]
    assert len(texts) == 3
    assert texts[0].startswith("hmas (paper): kill switch turned ON by ")
    assert texts[1].startswith("hmas (paper): kill switch turned off by ")
    assert "Kill switch is ON" in failed.stdout
    assert "notification to discord failed: HTTP 500" in caplog.text
