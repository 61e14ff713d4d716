"""Typed answers: a pydantic model's JSON schema as the answer format, and reading the answer.

The mode comes from the capability table (:mod:`hmas.llm.vendors`): ``json_schema`` (the
provider enforces the schema), ``json_mode`` (the provider guarantees a JSON object; the schema
goes in the prompt) or ``prompt`` (the schema in the prompt; the JSON is found in the text).
Whatever the mode, the answer is validated by the model here; a failure gives one repair turn.
"""

from __future__ import annotations

import functools
import json
import re
from typing import Any

from pydantic import BaseModel, ValidationError

from hmas.llm.core import AnswerFormat, Completion, Message
from hmas.settings import StructuredMode

#: Longest raw answer kept on a result (a runaway answer is cut, marked, never kept whole).
MAX_RAW_CHARS = 20_000


class InvalidAnswerError(Exception):
    """The answer is no valid instance of the model; ``reason`` says why in one line."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _closed(schema: Any) -> Any:
    """The schema with ``additionalProperties: false`` on every object (what strict modes want)."""
    if isinstance(schema, dict):
        out = {k: _closed(v) for k, v in schema.items()}
        if out.get("type") == "object" and "properties" in out:
            out.setdefault("additionalProperties", False)
        return out
    if isinstance(schema, list):
        return [_closed(v) for v in schema]
    return schema


def _all_required(schema: Any) -> bool:
    """True when every object of the schema lists all its properties as required."""
    if isinstance(schema, dict):
        if (
            schema.get("type") == "object"
            and "properties" in schema
            and set(schema.get("required", [])) != set(schema["properties"])
        ):
            return False
        return all(_all_required(v) for v in schema.values())
    if isinstance(schema, list):
        return all(_all_required(v) for v in schema)
    return True


def answer_format(model: type[BaseModel], mode: StructuredMode) -> AnswerFormat:
    """The answer format asking for an instance of ``model`` in ``mode`` (a fresh schema dict:
    the caller may change it)."""
    text, strict = _schema_of(model)
    name = re.sub(r"[^A-Za-z0-9_-]", "_", model.__name__)[:64] or "answer"
    return AnswerFormat(mode, name, json.loads(text), strict=strict)


@functools.cache
def _schema_of(model: type[BaseModel]) -> tuple[str, bool]:
    """A model's closed JSON schema as text, and whether it is strict: generated once per
    model (pydantic's generation costs ~2 ms, paid on every call of a signal otherwise)."""
    schema = _closed(model.model_json_schema())
    return json.dumps(schema), _all_required(schema)


def instructions(fmt: AnswerFormat) -> str:
    """What the system prompt adds so the model answers in JSON (empty for native schemas)."""
    schema = json.dumps(fmt.schema, separators=(",", ":"))
    if fmt.mode == "json_schema":
        return ""
    return (
        "Answer with one JSON object and nothing else (no prose, no code fence). It must "
        f"validate against this JSON schema:\n{schema}"
    )


def with_instructions(messages: list[Message], fmt: AnswerFormat | None) -> list[Message]:
    """``messages`` with the format's instructions appended to the system turn (or added)."""
    extra = instructions(fmt) if fmt is not None else ""
    if not extra:
        return messages
    if messages and messages[0].role == "system":
        first = Message("system", f"{messages[0].content}\n\n{extra}")
        return [first, *messages[1:]]
    return [Message("system", extra), *messages]


_FENCE = re.compile(r"```(?:json|JSON)?\s*(.*?)```", re.DOTALL)
_THINK = re.compile(r"<think>.*?</think>", re.DOTALL)


def extract_json(text: str) -> Any:
    """The JSON value in an answer: bare, in a code fence, or the outermost {...} in prose.

    Reasoning a local model writes inline (``<think>…</think>``) is dropped first.
    """
    body = _THINK.sub("", text).strip()
    candidates = [body]
    candidates += [m.group(1).strip() for m in _FENCE.finditer(body)]
    start, end = body.find("{"), body.rfind("}")
    if 0 <= start < end:
        candidates.append(body[start : end + 1])
    for candidate in candidates:
        try:
            return json.loads(candidate)
        except ValueError:
            continue
    raise InvalidAnswerError("the answer is not JSON" + (" (empty)" if not body else ""))


def answer_text(completion: Completion) -> str | None:
    """The text that should hold the JSON: the content, else the first tool call's arguments."""
    if completion.text is not None and completion.text.strip():
        return completion.text
    if completion.tool_calls:
        return completion.tool_calls[0].arguments
    return completion.text


def _first_error(exc: ValidationError) -> str:
    errors = exc.errors(include_url=False)
    parts = []
    for err in errors[:3]:
        loc = ".".join(str(p) for p in err["loc"]) or "(root)"
        parts.append(f"{loc}: {err['msg']}")
    more = f" (and {len(errors) - 3} more)" if len(errors) > 3 else ""
    return "; ".join(parts) + more


def parse_answer[T: BaseModel](model: type[T], completion: Completion) -> T:
    """The answer as an instance of ``model``; InvalidAnswerError with a one-line reason if not."""
    text = answer_text(completion)
    if text is None or not text.strip():
        why = f" (finish reason {completion.finish_reason})" if completion.finish_reason else ""
        raise InvalidAnswerError(f"the answer is empty{why}")
    data = extract_json(text)
    if not isinstance(data, dict):
        raise InvalidAnswerError(f"the answer is JSON but not an object ({type(data).__name__})")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise InvalidAnswerError(
            f"the answer does not fit {model.__name__}: {_first_error(exc)}"
        ) from None


def repair_turns(raw: str | None, reason: str) -> list[Message]:
    """The turns that ask for one corrected answer, carrying the validation error."""
    return [
        Message("assistant", (raw or "")[:MAX_RAW_CHARS]),
        Message(
            "user",
            f"That answer was rejected: {reason}. Answer again with one JSON object only, "
            "fixing exactly that, valid against the schema.",
        ),
    ]


def clip(raw: str | None) -> str | None:
    """A raw answer cut to MAX_RAW_CHARS (marked when cut)."""
    if raw is None or len(raw) <= MAX_RAW_CHARS:
        return raw
    return raw[:MAX_RAW_CHARS] + f"… [cut: {len(raw)} characters in all]"
