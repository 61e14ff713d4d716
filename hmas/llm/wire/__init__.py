"""The two wire formats: OpenAI-compatible chat completions and Anthropic messages.

A wire format is a class with pure functions: ``build`` a request (no I/O, testable without
HTTP), ``parse`` a 200 body into a :class:`~hmas.llm.core.Completion`, and ``error_message``
to read a provider's error body. The vendor (base URL, key variable, prices) is data.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from typing import Any

from pydantic import SecretStr

from hmas.errors import LlmResponseError
from hmas.llm.core import AnswerFormat, Completion, Message, WireRequest
from hmas.llm.vendors import Vendor


class WireFormat(ABC):
    """How one family of APIs is spoken."""

    name: str

    @abstractmethod
    def build(
        self,
        vendor: Vendor,
        model: str,
        messages: list[Message],
        fmt: AnswerFormat | None,
        max_tokens: int,
        key: SecretStr | None,
    ) -> WireRequest:
        """The request asking ``model`` for an answer to ``messages`` in ``fmt``."""

    @abstractmethod
    def parse(self, data: dict[str, Any], vendor: str) -> Completion:
        """A 200 answer's JSON as a Completion; LlmResponseError if it holds no answer."""

    def error_message(self, data: Any) -> str:
        """The provider's own error text from an error body (both families' shapes)."""
        if isinstance(data, dict):
            err = data.get("error")
            if isinstance(err, dict):
                parts = [str(err.get("message") or "").strip()]
                code = err.get("code") or err.get("type")
                if code not in (None, ""):
                    parts.append(f"({code})")
                meta = err.get("metadata")
                if isinstance(meta, dict) and meta.get("raw"):
                    parts.append(f"- {meta['raw']}")
                return " ".join(p for p in parts if p)
            if isinstance(err, str):
                return err
            if isinstance(data.get("message"), str):
                return str(data["message"])
        return ""


def load_body(raw: bytes, vendor: str) -> Any:
    """A response body as JSON: leading whitespace (OpenRouter's keep-alive padding) tolerated."""
    text = raw.decode("utf-8", errors="replace").strip()
    if not text:
        raise LlmResponseError(f"{vendor} answered with an empty body", vendor=vendor)
    try:
        return json.loads(text)
    except ValueError:
        raise LlmResponseError(
            f"{vendor} answered with a body that is not JSON ({text[:80]!r}…)", vendor=vendor
        ) from None


def wire_format(name: str) -> WireFormat:
    """The wire format called ``name`` (``openai`` or ``anthropic``)."""
    from hmas.llm.wire.anthropic import AnthropicMessages
    from hmas.llm.wire.openai import OpenAIChat

    formats: dict[str, WireFormat] = {"openai": OpenAIChat(), "anthropic": AnthropicMessages()}
    return formats[name]


def as_int(value: Any) -> int:
    """A token count from a usage block: missing, null or junk count as 0."""
    if isinstance(value, bool):
        return 0
    if isinstance(value, int):
        return max(value, 0)
    if isinstance(value, float) and value.is_integer():
        return max(int(value), 0)
    return 0
