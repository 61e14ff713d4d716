"""Notifications: the documented request formats, a loopback webhook stub, failures that never
raise, the rate limit and its summary, and secrets that appear nowhere."""

from __future__ import annotations

import logging
from typing import Any

import httpx
import pytest

from hmas.notify.messages import Event, summary
from hmas.notify.sender import Discord, Notifier, RateLimit, Telegram
from tests.llm.stub import Reply, StubServer

TOKEN = "123456:PLANTED-telegram-token-xyz"
HOOK_TOKEN = "PLANTED-discord-webhook-token-abc"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_telegram_request_is_send_message_with_chat_id_and_text() -> None:
    channel = Telegram(TOKEN, "-100123", "http://relay.example")
    request = channel.request("hello")
    assert request.url == f"http://relay.example/bot{TOKEN}/sendMessage"
    assert request.json == {"chat_id": -100123, "text": "hello"}
    assert Telegram(TOKEN, "@alerts").request("x").json["chat_id"] == "@alerts"
    assert len(channel.request("y" * 5000).json["text"]) == 4096


def test_discord_request_is_the_webhook_url_with_content() -> None:
    url = f"http://127.0.0.1:1/api/webhooks/42/{HOOK_TOKEN}"
    request = Discord(url).request("z" * 3000)
    assert request.url == url
    assert list(request.json) == ["content"] and len(request.json["content"]) == 2000


def test_messages_reach_a_loopback_telegram_and_discord(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    with StubServer() as stub:
        stub.default = Reply(body={"ok": True, "result": {"message_id": 1}})
        notifier = Notifier(
            [Telegram(TOKEN, "-1001", stub.url), Discord(f"{stub.url}/api/webhooks/1/{HOOK_TOKEN}")]
        )
        notifier.notify(Event("approved", "hmas (paper): APPROVED BUY BTC-USD"))
        notifier.close()
    assert [s.path for s in stub.seen] == [
        f"/bot{TOKEN}/sendMessage",
        f"/api/webhooks/1/{HOOK_TOKEN}",
    ]
    assert stub.seen[0].body == {"chat_id": -1001, "text": "hmas (paper): APPROVED BUY BTC-USD"}
    assert stub.seen[1].body == {"content": "hmas (paper): APPROVED BUY BTC-USD"}
    assert notifier.counts == {("telegram", "sent"): 1, ("discord", "sent"): 1}
    assert "HTTP Request" in caplog.text  # httpx logged the requests, with the secrets masked
    assert TOKEN not in caplog.text and HOOK_TOKEN not in caplog.text


@pytest.mark.parametrize(
    ("reply", "reason"),
    [
        (Reply(status=500, body={"message": "boom"}), "HTTP 500 (boom)"),
        (Reply(status=404, body={"message": "Unknown Webhook"}), "HTTP 404 (Unknown Webhook)"),
        (Reply(drop=True), "RemoteProtocolError"),
        (Reply(delay=1.0), "ReadTimeout"),
    ],
)
def test_a_failed_message_is_logged_and_counted_never_raised(
    reply: Reply, reason: str | None, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    with StubServer() as stub:
        stub.script.append(reply)
        channel = Discord(f"{stub.url}/api/webhooks/1/{HOOK_TOKEN}")
        notifier = Notifier([channel], timeout=0.3)
        notifier.notify(Event("kill_switch", "kill switch on"))
        notifier.close()
    assert notifier.counts == {("discord", "failed"): 1}
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and warnings[0].startswith("notification to discord failed: ")
    if reason is not None:
        assert reason in warnings[0]
    assert HOOK_TOKEN not in caplog.text


def test_a_telegram_answer_ok_false_is_a_failure(caplog: pytest.LogCaptureFixture) -> None:
    with StubServer() as stub:
        stub.script.append(Reply(status=400, body={"ok": False, "description": "chat not found"}))
        notifier = Notifier([Telegram(TOKEN, "1", stub.url)])
        notifier.notify(Event("approved", "x"))
        notifier.close()
    assert notifier.counts == {("telegram", "failed"): 1}
    assert "notification to telegram failed: HTTP 400 (chat not found)" in caplog.text


def test_a_name_that_does_not_resolve_is_a_failure_without_the_secret(
    caplog: pytest.LogCaptureFixture,
) -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError(f"[Errno -2] Name or service not known: {request.url}")

    client = httpx.Client(transport=httpx.MockTransport(refuse))
    notifier = Notifier([Telegram(TOKEN, "1", "https://no-such-host.invalid")], client=client)
    notifier.notify(Event("paused", "paused"))
    notifier.close()
    assert notifier.counts == {("telegram", "failed"): 1}
    assert "ConnectError: [Errno -2] Name or service not known" in caplog.text
    assert TOKEN not in caplog.text and "[redacted]" in caplog.text


def test_the_rate_limit_holds_back_and_summarises_in_the_next_message() -> None:
    clock = Clock()
    sent: list[dict[str, Any]] = []

    def answer(request: httpx.Request) -> httpx.Response:
        import json

        sent.append(json.loads(request.content))
        return httpx.Response(204)

    client = httpx.Client(transport=httpx.MockTransport(answer))
    notifier = Notifier([Discord("http://127.0.0.1:9/x")], per_minute=2, client=client, clock=clock)
    for kind in ("approved", "approved", "approved", "kill_switch", "paused"):
        notifier.notify(Event(kind, kind))  # type: ignore[arg-type]
        clock.now += 1
    assert [m["content"] for m in sent] == ["approved", "approved"]
    assert notifier.counts[("*", "held")] == 3
    clock.now += 60
    notifier.notify(Event("approved", "next"))
    assert sent[-1]["content"] == (
        "next\n(3 more held back by the rate limit: 1 approved signal, "
        "1 kill-switch refusal, 1 guardian pause)"
    )
    notifier.close()
    assert len(sent) == 3


def test_what_is_held_at_the_end_is_summarised_if_a_slot_is_free_else_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = Clock()
    sent: list[bytes] = []
    client = httpx.Client(
        transport=httpx.MockTransport(lambda r: sent.append(r.content) or httpx.Response(204))
    )
    full = Notifier([Discord("http://127.0.0.1:9/x")], per_minute=1, client=client, clock=clock)
    full.notify(Event("approved", "a"))
    full.notify(Event("approved", "b"))
    full.close()
    assert len(sent) == 1
    assert "1 notification(s) held back by the rate limit" in caplog.text
    client = httpx.Client(
        transport=httpx.MockTransport(lambda r: sent.append(r.content) or httpx.Response(204))
    )
    freed = Notifier([Discord("http://127.0.0.1:9/x")], per_minute=1, client=client, clock=clock)
    freed.notify(Event("approved", "a"))
    freed.notify(Event("paused", "b"))
    clock.now += 60
    freed.close()
    assert b"1 more held back by the rate limit: 1 guardian pause" in sent[-1]


def test_rate_limit_window_slides() -> None:
    clock = Clock()
    limit = RateLimit(2, clock)
    assert limit.allow() and limit.allow() and not limit.allow()
    clock.now += 59.9
    assert not limit.allow()
    clock.now += 0.1
    assert limit.allow()


def test_summary_names_each_kind() -> None:
    assert summary({"approved": 2}) == "2 more held back by the rate limit: 2 approved signals"
