"""The one place calls to providers are made: timeouts, deadlines, retries, concurrency, cost.

:meth:`LlmClient.complete` makes one call (with its retries) and raises a typed
:class:`~hmas.errors.LlmError`; :meth:`LlmClient.structured` asks for a pydantic model, repairs
once, and never raises for a provider's failure: it returns a :class:`StructuredResult` that is
``ok`` or says why the agent abstains (``invalid``, ``deadline`` or ``error``), the raw answer
kept. Every HTTP call becomes a :class:`~hmas.llm.core.CallRecord` (the call log's row).
"""

from __future__ import annotations

import asyncio
import functools
import logging
import random
import ssl
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel

from hmas.errors import (
    LlmAuthError,
    LlmBadRequestError,
    LlmConnectionError,
    LlmDeadlineError,
    LlmError,
    LlmNotFoundError,
    LlmRateLimitError,
    LlmResponseError,
    LlmServerError,
    LlmTimeoutError,
)
from hmas.llm.core import AnswerFormat, CallRecord, Completion, Message, Prompt, Usage
from hmas.llm.deadline import Deadline
from hmas.llm.ledger import CallLedger, cache_key, estimate_cost
from hmas.llm.redact import redact
from hmas.llm.retry import Backoff, retry_after, should_retry
from hmas.llm.routing import Keys, Route, require_keys
from hmas.llm.structured import (
    InvalidAnswerError,
    answer_format,
    answer_text,
    clip,
    parse_answer,
    repair_turns,
    with_instructions,
)
from hmas.llm.wire import load_body, wire_format
from hmas.settings import LlmParams

if TYPE_CHECKING:
    import httpx

logger = logging.getLogger(__name__)

ResultStatus = Literal["ok", "invalid", "deadline", "error"]
#: Longest provider error text kept in a message.
MAX_ERROR_CHARS = 300


@functools.cache
def _tls_context() -> ssl.SSLContext | bool:
    """httpx's default verification, built once per process: loading the CA bundle costs
    ~0.1 s, and a signal opens a client per layer (True: httpx builds its own each time)."""
    import httpx

    make = getattr(httpx, "create_ssl_context", None)
    return make() if make is not None else True


def cost_of(route: Route, usage: Usage, reported: float | None = None) -> float | None:
    """USD of one call: the provider's own figure if it gives one, else from the price table."""
    if reported is not None:
        return reported
    prices = route.model.prices
    return None if prices is None else prices.cost(usage)


@dataclass(frozen=True)
class StructuredResult[T: BaseModel]:
    """A typed answer, or why there is none (the agent then abstains with ``reason``)."""

    agent: str
    vendor: str
    model: str
    status: ResultStatus
    value: T | None
    reason: str | None
    #: The model's last answer as text (cut to MAX_RAW_CHARS), kept when it was refused too.
    raw: str | None
    usage: Usage
    cost_usd: float | None
    latency_s: float
    calls: tuple[CallRecord, ...] = ()
    #: The LlmError class behind an ``error`` status (e.g. ``LlmRateLimitError``).
    error_type: str | None = None

    @property
    def abstained(self) -> bool:
        """True unless the answer validated."""
        return self.status != "ok"


@dataclass
class _Attempt:
    """What one HTTP attempt produced, before it is judged."""

    status: int | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""
    error: LlmError | None = None
    retryable: bool = False


class LlmClient:
    """Calls providers for routed agents; use as ``async with LlmClient(...) as client``.

    ``http`` is the seam for tests (any ``httpx.AsyncClient``); ``sleep`` and ``rng`` make
    retries deterministic in tests. The keys are held in :class:`~hmas.llm.routing.Keys`,
    whose ``repr`` never shows them, and only ever go into request headers.
    """

    def __init__(
        self,
        params: LlmParams,
        keys: Keys,
        *,
        http: httpx.AsyncClient | None = None,
        sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
        rng: Callable[[], float] = random.random,
        clock: Callable[[], float] = time.monotonic,
        ledger: CallLedger | None = None,
        offline: bool = False,
    ) -> None:
        self.params = params
        self.ledger = ledger
        #: Answer from the ledger's cache only, never over HTTP (an offline replay).
        self.offline = offline
        self._keys = keys
        self._http = http
        self._own_http = http is None
        self._sleep = sleep
        self._clock = clock
        self._backoff = Backoff(params.backoff_seconds, params.max_backoff_seconds, rng)
        self._slots: dict[str, asyncio.Semaphore] = {}

    def __repr__(self) -> str:
        return f"LlmClient(retries={self.params.retries}, vendors={sorted(self._slots)})"

    async def __aenter__(self) -> LlmClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the HTTP client if this object made it."""
        if self._http is not None and self._own_http:
            await self._http.aclose()
            self._http = None

    def _client(self) -> httpx.AsyncClient:
        if self._http is None:
            import httpx

            timeout = httpx.Timeout(
                self.params.call_timeout_seconds, connect=self.params.connect_timeout_seconds
            )
            self._http = httpx.AsyncClient(
                timeout=timeout, follow_redirects=False, verify=_tls_context()
            )
        return self._http

    def _slot(self, route: Route) -> asyncio.Semaphore:
        name = route.vendor.name
        if name not in self._slots:
            limit = route.vendor.concurrency or self.params.concurrency
            self._slots[name] = asyncio.Semaphore(limit)
        return self._slots[name]

    def _redact(self, text: str) -> str:
        return redact(text, self._keys.secrets())

    # --- one call ---------------------------------------------------------------------------

    async def complete(
        self,
        route: Route,
        messages: list[Message],
        *,
        fmt: AnswerFormat | None = None,
        deadline: Deadline | None = None,
        max_tokens: int | None = None,
        records: list[CallRecord] | None = None,
        key: str | None = None,
    ) -> Completion:
        """One answer from ``route``'s model, retried on transient failures; LlmError if none.

        A call that cannot start before ``deadline`` is not made, one still running at it is
        cancelled: both raise LlmDeadlineError. Every attempt is appended to ``records`` and
        handed to the ledger, which first reserves it (BudgetExceededError: not made).
        """
        vendor, model = route.vendor, route.model.name
        wire = wire_format(vendor.wire)
        cap = max_tokens or self.params.max_output_tokens
        request = wire.build(
            vendor,
            model,
            with_instructions(messages, fmt),
            fmt,
            cap,
            self._keys.get(vendor.name),
        )
        log = records if records is not None else []
        ledger = self.ledger
        retries = self.params.retries
        for attempt in range(retries + 1):
            started = self._clock()
            tickets: list[Any] = [None]

            def record(
                status: Literal["ok", "error", "deadline"],
                *,
                http_status: int | None = None,
                text: str | None = None,
                usage: Usage | None = None,
                cost: float | None = None,
                error: str | None = None,
                _started: float = started,
                _attempt: int = attempt,
                _tickets: list[Any] = tickets,
            ) -> None:
                log.append(
                    CallRecord(
                        agent=route.agent,
                        vendor=vendor.name,
                        model=model,
                        attempt=_attempt + 1,
                        request=request.body,
                        response_text=clip(self._redact(text)) if text is not None else None,
                        usage=usage or Usage(),
                        cost_usd=cost,
                        latency_s=self._clock() - _started,
                        status=status,
                        http_status=http_status,
                        error=error,
                        cache_key=key,
                    )
                )
                if ledger is not None:
                    ledger.record(_tickets[0], log[-1])

            if deadline is not None and deadline.passed:
                late = LlmDeadlineError(
                    f"{vendor.name}: the deadline passed before the call was made",
                    vendor=vendor.name,
                )
                record("deadline", error=str(late))
                raise late
            if ledger is not None:  # BudgetExceededError here: the call is not made
                tickets[0] = ledger.reserve(
                    route, request.body, estimate_cost(route, request.body, cap), key
                )
            try:
                outcome = await self._attempt(route, request, deadline)
            except BaseException:  # cancelled from outside: the reservation must not linger
                record("error", error="the call was cancelled")
                raise
            if outcome.error is not None and isinstance(outcome.error, LlmDeadlineError):
                record("deadline", error=str(outcome.error))
                raise outcome.error
            text = outcome.body.decode("utf-8", errors="replace") if outcome.body else None
            if outcome.status is not None and 200 <= outcome.status < 300:
                try:
                    completion = wire.parse(load_body(outcome.body, vendor.name), vendor.name)
                except LlmResponseError as exc:
                    record("error", http_status=outcome.status, text=text, error=str(exc))
                    raise
                cost = cost_of(route, completion.usage, completion.reported_cost_usd)
                record(
                    "ok",
                    http_status=outcome.status,
                    text=text,
                    usage=completion.usage,
                    cost=cost,
                )
                logger.debug(
                    "%s %s: %s in %.2fs", vendor.name, model, outcome.status, log[-1].latency_s
                )
                return completion
            error = outcome.error or self._http_error(route, outcome, attempt + 1)
            record("error", http_status=outcome.status, text=text, error=str(error))
            logger.info("%s %s attempt %d failed: %s", vendor.name, model, attempt + 1, error)
            if not outcome.retryable or attempt >= retries:
                raise error
            asked = retry_after(outcome.headers)
            if asked is not None and asked > self.params.max_backoff_seconds:
                raise type(error)(
                    f"{error}; the server asks to wait {asked:.0f}s, beyond "
                    f"llm.max_backoff_seconds ({self.params.max_backoff_seconds:g}s)",
                    vendor=vendor.name,
                    status=outcome.status,
                )
            wait = self._backoff.delay(attempt, asked)
            if deadline is not None and wait >= deadline.remaining():
                raise LlmDeadlineError(
                    f"{error}; the retry in {wait:.1f}s would miss the deadline",
                    vendor=vendor.name,
                    status=outcome.status,
                )
            await self._sleep(wait)
        raise AssertionError("unreachable")  # pragma: no cover

    async def _attempt(self, route: Route, request: Any, deadline: Deadline | None) -> _Attempt:
        """One HTTP exchange within the per-call timeout and the deadline; never raises LlmError
        except by returning it (a deadline error included)."""
        import httpx

        name = route.vendor.name
        slot = self._slot(route)
        try:
            if deadline is None:
                await slot.acquire()
            else:
                async with asyncio.timeout(max(deadline.remaining(), 0)):
                    await slot.acquire()
        except TimeoutError:
            return _Attempt(
                error=LlmDeadlineError(
                    f"{name}: the deadline passed while waiting for a free slot (llm.concurrency)",
                    vendor=name,
                )
            )
        budget = self.params.call_timeout_seconds
        by_deadline = deadline is not None and deadline.remaining() < budget
        if deadline is not None:
            budget = min(budget, max(deadline.remaining(), 0))
        try:
            async with asyncio.timeout(budget):
                response = await self._client().post(
                    request.url, headers=request.headers, json=request.body
                )
            return _Attempt(response.status_code, response.headers, response.content)
        except (TimeoutError, httpx.TimeoutException):
            if by_deadline:
                return _Attempt(
                    error=LlmDeadlineError(
                        f"{name}: the call was cancelled at the deadline", vendor=name
                    )
                )
            return _Attempt(
                error=LlmTimeoutError(
                    f"{name}: no answer within llm.call_timeout_seconds "
                    f"({self.params.call_timeout_seconds:g}s)",
                    vendor=name,
                ),
                retryable=True,
            )
        except httpx.TransportError as exc:
            what = self._redact(str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
            return _Attempt(
                error=LlmConnectionError(
                    f"{name}: cannot reach {route.vendor.base_url} ({what}); check the network "
                    f"or llm.vendors.{name}.base_url",
                    vendor=name,
                ),
                retryable=True,
            )
        finally:
            slot.release()

    def _http_error(self, route: Route, outcome: _Attempt, attempts: int) -> LlmError:
        """The typed error of a non-2xx answer, its message one line naming the fix."""
        vendor, status = route.vendor, outcome.status or 0
        outcome.retryable = should_retry(status, outcome.headers)
        wire = wire_format(vendor.wire)
        try:
            detail = wire.error_message(load_body(outcome.body, vendor.name))
        except LlmResponseError:
            detail = ""
        detail = " ".join(self._redact(detail).split())[:MAX_ERROR_CHARS] or "no detail"
        name = vendor.name
        tries = f" after {attempts} attempt(s)" if attempts > 1 else ""
        if status in (401, 403):
            var = vendor.key_env or f"llm.vendors.{name}.key_env"
            return LlmAuthError(
                f"{name} refused the API key ({status}: {detail}); check {var}",
                vendor=name,
                status=status,
            )
        if status == 404:
            return LlmNotFoundError(
                f"{name} has no model {route.model.name!r} or no such endpoint (404: {detail}); "
                f"check llm.routing.{route.agent} and llm.vendors.{name}.base_url",
                vendor=name,
                status=status,
            )
        if status == 429:
            return LlmRateLimitError(
                f"{name} rate-limited the call (429: {detail}){tries}; lower "
                "llm.concurrency or try later",
                vendor=name,
                status=status,
            )
        if status >= 500:
            return LlmServerError(
                f"{name} failed ({status}: {detail}){tries}; try later or route the agent "
                "elsewhere",
                vendor=name,
                status=status,
            )
        return LlmBadRequestError(
            f"{name} refused the request ({status}: {detail}); check the model name and its "
            f"structured mode (llm.vendors.{name}.structured)",
            vendor=name,
            status=status,
        )

    # --- a typed answer ---------------------------------------------------------------------

    async def structured[T: BaseModel](
        self,
        route: Route,
        prompt: Prompt,
        model: type[T],
        *,
        deadline: Deadline | None = None,
        max_tokens: int | None = None,
    ) -> StructuredResult[T]:
        """An instance of ``model`` from ``route``, one repair turn allowed; never raises for a
        provider's failure (the result says why the agent abstains)."""
        fmt = answer_format(model, route.model.structured)
        messages = prompt.messages()
        records: list[CallRecord] = []
        started = self._clock()
        key = cache_key(route, prompt, fmt)
        raw: str | None = None
        reason = ""

        def result(
            status: ResultStatus,
            value: T | None = None,
            why: str | None = None,
            kind: str | None = None,
        ) -> StructuredResult[T]:
            usage = sum((r.usage for r in records), Usage())
            costs = [r.cost_usd for r in records if r.status == "ok"]
            return StructuredResult(
                agent=route.agent,
                vendor=route.vendor.name,
                model=route.model.name,
                status=status,
                value=value,
                reason=why,
                raw=clip(raw),
                usage=usage,
                cost_usd=None if any(c is None for c in costs) else sum(c or 0.0 for c in costs),
                latency_s=self._clock() - started,
                calls=tuple(records),
                error_type=kind,
            )

        hit = self._from_cache(route, model, key)
        if hit is not None:
            raw, value, record = hit
            records.append(record)
            return result("ok", value)
        if self.offline:
            return result(
                "error",
                why="no answer to this question in the call log (offline; a replay with "
                "--no-cache asks the provider)",
                kind="CacheMissError",
            )
        for turn in range(2):  # the answer, then one repair carrying the validation error
            try:
                completion = await self.complete(
                    route,
                    messages,
                    fmt=fmt,
                    deadline=deadline,
                    max_tokens=max_tokens,
                    records=records,
                    key=key,
                )
            except LlmDeadlineError as exc:
                return result("deadline", why=str(exc), kind=type(exc).__name__)
            except LlmError as exc:
                return result("error", why=str(exc), kind=type(exc).__name__)
            raw = answer_text(completion)
            try:
                return result("ok", parse_answer(model, completion))
            except InvalidAnswerError as exc:
                reason = exc.reason
                if turn == 0:
                    messages = [*messages, *repair_turns(raw, reason)]
        return result("invalid", why=f"{reason} (after one repair)")

    def _from_cache[T: BaseModel](
        self, route: Route, model: type[T], key: str
    ) -> tuple[str, T, CallRecord] | None:
        """A valid answer to the same question from the call log, recorded as ``cached``."""
        ledger = self.ledger
        if ledger is None or not ledger.use_cache:
            return None
        wire = wire_format(route.vendor.wire)
        for body in ledger.cached(key):
            try:
                completion = wire.parse(
                    load_body(body.encode(), route.vendor.name), route.vendor.name
                )
                value = parse_answer(model, completion)
            except (LlmError, InvalidAnswerError):
                continue  # an answer that was refused (or cut when logged): not a cached one
            record = CallRecord(
                agent=route.agent,
                vendor=route.vendor.name,
                model=route.model.name,
                attempt=1,
                request={},
                response_text=body,
                usage=Usage(),
                cost_usd=0.0,
                latency_s=0.0,
                status="cached",
                cache_key=key,
            )
            ledger.record(None, record)
            return answer_text(completion) or "", value, record
        return None


def open_client(
    params: LlmParams,
    routes: Mapping[str, Route],
    *,
    http: httpx.AsyncClient | None = None,
    environ: Mapping[str, str] | None = None,
    ledger: CallLedger | None = None,
) -> LlmClient:
    """A client for ``routes``; LlmKeyMissingError before any call if a key is missing."""
    return LlmClient(params, require_keys(routes, environ), http=http, ledger=ledger)
