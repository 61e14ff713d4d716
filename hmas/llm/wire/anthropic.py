"""Anthropic messages: ``POST {base_url}/messages`` with ``x-api-key`` and a version header."""

from __future__ import annotations

from typing import Any

from pydantic import SecretStr

from hmas.errors import LlmResponseError
from hmas.llm.core import AnswerFormat, Completion, Message, ToolCall, Usage, WireRequest
from hmas.llm.vendors import Vendor
from hmas.llm.wire import WireFormat, as_int

API_VERSION = "2023-06-01"


def _usage(block: Any) -> Usage:
    if not isinstance(block, dict):
        return Usage()
    read = as_int(block.get("cache_read_input_tokens"))
    written = as_int(block.get("cache_creation_input_tokens"))
    # Anthropic's input_tokens leaves out the cached part: the total is the three together.
    return Usage(
        as_int(block.get("input_tokens")) + read + written, as_int(block.get("output_tokens")), read
    )


class AnthropicMessages(WireFormat):
    """The messages wire format."""

    name = "anthropic"

    def build(
        self,
        vendor: Vendor,
        model: str,
        messages: list[Message],
        fmt: AnswerFormat | None,
        max_tokens: int,
        key: SecretStr | None,
    ) -> WireRequest:
        system = "\n\n".join(m.content for m in messages if m.role == "system")
        turns = [{"role": m.role, "content": m.content} for m in messages if m.role != "system"]
        body: dict[str, Any] = {"model": model, "max_tokens": max_tokens, "messages": turns}
        if system:
            body["system"] = system
        if fmt is not None and fmt.mode == "json_schema":
            body["output_config"] = {"format": {"type": "json_schema", "schema": fmt.schema}}
        headers = {
            "content-type": "application/json",
            "accept": "application/json",
            "anthropic-version": API_VERSION,
        }
        if key is not None:
            headers["x-api-key"] = key.get_secret_value()
        return WireRequest(f"{vendor.base_url}/messages", headers, body)

    def parse(self, data: dict[str, Any], vendor: str) -> Completion:
        content = data.get("content")
        if not isinstance(content, list):
            raise LlmResponseError(f"{vendor} answered without content", vendor=vendor)
        texts, calls, thinking = [], [], []
        for i, block in enumerate(content):
            if not isinstance(block, dict):
                continue
            kind = block.get("type")
            if kind == "text":
                texts.append(str(block.get("text") or ""))
            elif kind == "tool_use":
                import json

                calls.append(
                    ToolCall(
                        str(block.get("id") or f"toolu_{i}"),
                        str(block.get("name") or ""),
                        json.dumps(block.get("input") or {}),
                    )
                )
            elif kind == "thinking":
                thinking.append(str(block.get("thinking") or ""))
        return Completion(
            text="".join(texts) if texts else None,
            usage=_usage(data.get("usage")),
            model=str(data.get("model") or ""),
            finish_reason=data.get("stop_reason"),
            reasoning="".join(thinking) or None,
            tool_calls=tuple(calls),
        )
