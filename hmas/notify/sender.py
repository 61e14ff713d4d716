"""Sending notifications: Telegram and Discord over httpx, a rate limit, counters.

A message that cannot be sent (a timeout, a 4xx/5xx answer, a name that does not resolve) is
logged as one warning and counted; it never raises. The bot token and the webhook URL are
secrets: they appear in no log line (httpx's own request lines included), no message and no
exception text this module lets out.
"""

from __future__ import annotations

import logging
import re
import time
from collections import Counter, deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from hmas.notify.messages import Event, summary

if TYPE_CHECKING:
    import httpx
    from sqlalchemy.engine import Engine

    from hmas.settings import NotifySettings

logger = logging.getLogger(__name__)

MASK = "[redacted]"
#: The longest text each API accepts: Telegram's sendMessage ``text`` (1-4096 characters) and
#: a Discord webhook's ``content`` (up to 2000 characters).
TELEGRAM_MAX = 4096
DISCORD_MAX = 2000
WINDOW_SECONDS = 60.0


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


@dataclass(frozen=True)
class Request:
    """One HTTP request of a channel: where to POST which JSON body."""

    url: str
    json: dict[str, Any]


@dataclass(frozen=True)
class Telegram:
    """The Telegram Bot API's ``sendMessage``: ``POST {api}/bot<token>/sendMessage``."""

    token: str
    chat_id: str
    api_url: str = "https://api.telegram.org"
    name: str = "telegram"

    def request(self, text: str) -> Request:
        """The ``sendMessage`` call: JSON ``chat_id`` (an integer id, or ``@channel``) and
        ``text``."""
        chat: int | str = (
            int(self.chat_id) if re.fullmatch(r"-?\d+", self.chat_id) else self.chat_id
        )
        return Request(
            f"{self.api_url}/bot{self.token}/sendMessage",
            {"chat_id": chat, "text": _cut(text, TELEGRAM_MAX)},
        )

    def failure(self, response: httpx.Response) -> str | None:
        """Why the answer is a failure (None: sent). The API answers ``{"ok": true, …}`` or
        ``{"ok": false, "error_code": …, "description": …}``."""
        try:
            body = response.json()
        except ValueError:
            body = None
        if response.is_success and isinstance(body, dict) and body.get("ok") is True:
            return None
        described = body.get("description") if isinstance(body, dict) else None
        return f"HTTP {response.status_code}" + (f" ({described})" if described else "")

    @property
    def secrets(self) -> tuple[str, ...]:
        return (self.token,)


@dataclass(frozen=True)
class Discord:
    """A Discord webhook: ``POST <webhook URL>`` with JSON ``content``."""

    webhook_url: str
    name: str = "discord"

    def request(self, text: str) -> Request:
        """The webhook execution: JSON ``content``."""
        return Request(self.webhook_url, {"content": _cut(text, DISCORD_MAX)})

    def failure(self, response: httpx.Response) -> str | None:
        """Why the answer is a failure (None: sent; a webhook answers 204 No Content)."""
        if response.is_success:
            return None
        try:
            body = response.json()
        except ValueError:
            body = None
        described = body.get("message") if isinstance(body, dict) else None
        return f"HTTP {response.status_code}" + (f" ({described})" if described else "")

    @property
    def secrets(self) -> tuple[str, ...]:
        # The URL's last path segment is the webhook's token; the whole URL is secret too.
        return (self.webhook_url, self.webhook_url.rstrip("/").rsplit("/", 1)[-1])


Channel = Telegram | Discord


def channels_from(settings: NotifySettings) -> list[Channel]:
    """The channels the settings configure (none: notifications are off)."""
    found: list[Channel] = []
    if settings.telegram_token is not None and settings.telegram_chat_id is not None:
        found.append(
            Telegram(
                settings.telegram_token.get_secret_value(),
                settings.telegram_chat_id,
                settings.telegram_api_url,
            )
        )
    if settings.discord_webhook_url is not None:
        found.append(Discord(settings.discord_webhook_url.get_secret_value()))
    return found


class RateLimit:
    """At most ``per_minute`` messages in any 60 seconds (a sliding window)."""

    def __init__(self, per_minute: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.per_minute = per_minute
        self.clock = clock
        self.sent: deque[float] = deque()

    def allow(self) -> bool:
        """Take a slot if one is free."""
        now = self.clock()
        while self.sent and now - self.sent[0] >= WINDOW_SECONDS:
            self.sent.popleft()
        if len(self.sent) < self.per_minute:
            self.sent.append(now)
            return True
        return False


class _Redact(logging.Filter):
    """Masks the secrets in every record of a logger (httpx logs each request's URL)."""

    def __init__(self, secrets: Iterable[str]) -> None:
        super().__init__()
        self.secrets = sorted({s for s in secrets if s}, key=len, reverse=True)

    def clean(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, MASK)
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = self.clean(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True


#: Loggers that may print a request's URL.
_HTTP_LOGGERS = ("httpx", "httpcore")


class Notifier:
    """Sends events to every configured channel under one rate limit; never raises.

    ``counts`` holds, per (channel, outcome), the messages ``sent`` and ``failed``, and under
    channel ``*`` the events ``held`` back by the rate limit.
    """

    def __init__(
        self,
        channels: list[Channel],
        *,
        per_minute: int = 10,
        timeout: float = 5.0,
        client: httpx.Client | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        import httpx

        self.channels = channels
        self.limit = RateLimit(per_minute, clock)
        self.client = client or httpx.Client(timeout=timeout, follow_redirects=False)
        self._own_client = client is None
        self.counts: Counter[tuple[str, str]] = Counter()
        self.held: Counter[str] = Counter()
        self._redact = _Redact(s for c in channels for s in c.secrets)
        for name in _HTTP_LOGGERS:
            logging.getLogger(name).addFilter(self._redact)

    @classmethod
    def from_settings(
        cls, settings: NotifySettings, client: httpx.Client | None = None
    ) -> Notifier | None:
        """A notifier for the configured channels; None when none is configured."""
        channels = channels_from(settings)
        if not channels:
            return None
        return cls(
            channels,
            per_minute=settings.max_per_minute,
            timeout=settings.timeout_seconds,
            client=client,
        )

    def signal(self, engine: Engine, signal_id: int) -> None:
        """Notify the events of a newly stored signal (an approval, a pause, the kill switch)."""
        from hmas.notify.messages import events_for
        from hmas.store.records import get_signal

        try:
            events = events_for(get_signal(engine, signal_id))
        except Exception as exc:  # a notification never fails the run
            logger.warning("notification of signal %s skipped: %s", signal_id, exc)
            return
        for event in events:
            self.notify(event)

    def notify(self, event: Event) -> None:
        """Send ``event`` now, or hold it back (counted) when the rate limit is reached."""
        if not self.limit.allow():
            self.held[event.kind] += 1
            self.counts[("*", "held")] += 1
            return
        text = event.text
        if self.held:
            text += f"\n({summary(dict(self.held))})"
            self.held.clear()
        self._send(text)

    def close(self) -> None:
        """Send the summary of what is still held back if the limit allows, then let go."""
        try:
            if self.held:
                if self.limit.allow():
                    self._send(f"hmas (paper): {summary(dict(self.held))}")
                else:
                    logger.warning(
                        "%d notification(s) held back by the rate limit (notify.max_per_minute "
                        "= %d) were not summarised before the run ended",
                        sum(self.held.values()),
                        self.limit.per_minute,
                    )
                self.held.clear()
        finally:
            if self._own_client:
                self.client.close()
            for name in _HTTP_LOGGERS:
                logging.getLogger(name).removeFilter(self._redact)

    def _send(self, text: str) -> None:
        for channel in self.channels:
            request = channel.request(text)
            try:
                response = self.client.post(request.url, json=request.json)
                problem = channel.failure(response)
            except Exception as exc:  # timeout, DNS, refused, TLS…: never fails the run
                problem = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            if problem is None:
                self.counts[(channel.name, "sent")] += 1
            else:
                self.counts[(channel.name, "failed")] += 1
                logger.warning(
                    "notification to %s failed: %s", channel.name, self._redact.clean(problem)
                )
