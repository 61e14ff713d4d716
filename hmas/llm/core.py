"""The values that cross the LLM layer: prompts, answer formats, usage, completions, records."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from hmas.settings import StructuredMode

Role = Literal["system", "user", "assistant"]


@dataclass(frozen=True)
class Message:
    """One turn of a conversation."""

    role: Role
    content: str


@dataclass(frozen=True)
class Prompt:
    """What an agent asks: a system instruction and the user turn (the data, quoted)."""

    system: str
    user: str

    def messages(self) -> list[Message]:
        """The prompt as the first two turns."""
        return [Message("system", self.system), Message("user", self.user)]


@dataclass(frozen=True)
class AnswerFormat:
    """How the answer must be shaped: ``mode`` and the JSON schema (``name`` names it)."""

    mode: StructuredMode
    name: str
    schema: dict[str, Any]
    #: OpenAI's strict schema mode: only when every object lists all its properties as required.
    strict: bool = False


@dataclass(frozen=True)
class Usage:
    """Tokens of one or more calls.

    ``input_tokens`` counts every prompt token, the cached ones included (OpenAI's
    ``prompt_tokens``; Anthropic's ``input_tokens`` plus its cache reads and writes);
    ``cached_input_tokens`` is the part read from the provider's prompt cache.
    """

    input_tokens: int = 0
    output_tokens: int = 0
    cached_input_tokens: int = 0

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            self.input_tokens + other.input_tokens,
            self.output_tokens + other.output_tokens,
            self.cached_input_tokens + other.cached_input_tokens,
        )


@dataclass(frozen=True)
class ToolCall:
    """A tool call in an answer; ``id`` is never empty (Gemini sends ``""``: a stand-in is made)."""

    id: str
    name: str
    arguments: str


@dataclass(frozen=True)
class Completion:
    """One parsed answer of a provider (a 200 response)."""

    text: str | None
    usage: Usage
    model: str
    finish_reason: str | None = None
    reasoning: str | None = None
    tool_calls: tuple[ToolCall, ...] = ()
    #: The cost the provider itself reported (OpenRouter's ``usage.cost``), if any.
    reported_cost_usd: float | None = None


@dataclass(frozen=True)
class WireRequest:
    """An HTTP request to make: the headers hold the key and are never logged or stored."""

    url: str
    headers: dict[str, str] = field(repr=False)
    body: dict[str, Any]


#: ``cached``: no HTTP call; the answer was taken from the call log (cost 0).
CallStatus = Literal["ok", "error", "deadline", "cached"]


@dataclass(frozen=True)
class CallRecord:
    """One HTTP call as the call log keeps it: the request body (never its headers), the answer."""

    agent: str
    vendor: str
    model: str
    attempt: int
    request: dict[str, Any]
    response_text: str | None
    usage: Usage
    cost_usd: float | None
    latency_s: float
    status: CallStatus
    http_status: int | None = None
    error: str | None = None
    #: The hash of (vendor, model, prompt, schema) of the typed answer this call was part of.
    cache_key: str | None = None
