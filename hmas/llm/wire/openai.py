"""OpenAI-compatible chat completions (OpenAI, DeepSeek, xAI, Gemini's endpoint, OpenRouter,
Ollama, vLLM, llama.cpp): ``POST {base_url}/chat/completions``."""

from __future__ import annotations

from typing import Any

from pydantic import SecretStr

from hmas.errors import LlmResponseError
from hmas.llm.core import AnswerFormat, Completion, Message, ToolCall, Usage, WireRequest
from hmas.llm.vendors import Vendor
from hmas.llm.wire import WireFormat, as_int


def _usage(block: Any) -> Usage:
    if not isinstance(block, dict):
        return Usage()
    details = block.get("prompt_tokens_details")
    cached = as_int(details.get("cached_tokens")) if isinstance(details, dict) else 0
    # DeepSeek reports its cache hits in its own field (and newer answers in both).
    cached = max(cached, as_int(block.get("prompt_cache_hit_tokens")))
    return Usage(as_int(block.get("prompt_tokens")), as_int(block.get("completion_tokens")), cached)


def _text(content: Any) -> str | None:
    if content is None or isinstance(content, str):
        return content
    if isinstance(content, list):  # content parts: [{"type": "text", "text": …}]
        return "".join(str(p.get("text", "")) for p in content if isinstance(p, dict)) or None
    return str(content)


class OpenAIChat(WireFormat):
    """The chat-completions wire format."""

    name = "openai"

    def build(
        self,
        vendor: Vendor,
        model: str,
        messages: list[Message],
        fmt: AnswerFormat | None,
        max_tokens: int,
        key: SecretStr | None,
    ) -> WireRequest:
        body: dict[str, Any] = {
            "model": model,
            "messages": [{"role": m.role, "content": m.content} for m in messages],
            "stream": False,
            vendor.max_tokens_field: max_tokens,
        }
        if fmt is not None and fmt.mode == "json_schema":
            body["response_format"] = {
                "type": "json_schema",
                "json_schema": {"name": fmt.name, "schema": fmt.schema, "strict": fmt.strict},
            }
        elif fmt is not None and fmt.mode == "json_mode":
            body["response_format"] = {"type": "json_object"}
        headers = {"content-type": "application/json", "accept": "application/json"}
        if key is not None:
            headers["authorization"] = f"Bearer {key.get_secret_value()}"
        return WireRequest(f"{vendor.base_url}/chat/completions", headers, body)

    def parse(self, data: dict[str, Any], vendor: str) -> Completion:
        choices = data.get("choices")
        if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
            raise LlmResponseError(f"{vendor} answered without a choice", vendor=vendor)
        choice = choices[0]
        found = choice.get("message")
        message: dict[str, Any] = found if isinstance(found, dict) else {}
        calls = []
        for i, call in enumerate(message.get("tool_calls") or []):
            if not isinstance(call, dict):
                continue
            fn_found = call.get("function")
            fn: dict[str, Any] = fn_found if isinstance(fn_found, dict) else {}
            args = fn.get("arguments")
            calls.append(
                ToolCall(
                    str(call.get("id") or f"call_{i}"),  # Gemini sends "id": ""
                    str(fn.get("name") or ""),
                    args if isinstance(args, str) else ("" if args is None else str(args)),
                )
            )
        reasoning = message.get("reasoning_content") or message.get("reasoning")
        usage_block = data.get("usage")
        cost = usage_block.get("cost") if isinstance(usage_block, dict) else None
        return Completion(
            text=_text(message.get("content")),
            usage=_usage(usage_block),
            model=str(data.get("model") or ""),
            finish_reason=choice.get("finish_reason"),
            reasoning=reasoning if isinstance(reasoning, str) else None,
            tool_calls=tuple(calls),
            reported_cost_usd=float(cost)
            if isinstance(cost, (int, float)) and not isinstance(cost, bool)
            else None,
        )
