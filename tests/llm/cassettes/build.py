# ruff: noqa: E501  (the table of recordings is paths, one a line)
"""Rebuild the LLM provider cassettes from the real recordings in ../shared/data/llm.

    uv run python tests/llm/cassettes/build.py

Each output cassette is one recording (see README.md for the table), rewritten into the
standard vcrpy httpx format so the tests need neither ``../shared`` nor a custom serializer:

- pydantic-ai's ``parsed_body`` (dialect C) becomes the JSON text again; dd-trace's legacy
  ``status_code``/``content`` response (dialect B) becomes ``status``/``body``; gzip bodies
  (``!!binary`` with ``Content-Encoding: gzip``) are kept byte for byte;
- request headers that carry a key (``authorization``, ``x-api-key``, ``x-goog-api-key``,
  ``api-key``) are removed (none was present: the upstream recorders filter them), and so are
  cookies and account identifiers, which the tests do not need;
- for a re-serialised body, ``content-length`` and ``transfer-encoding`` are dropped (they
  described the original bytes);
- the Anthropic SDK's ``?beta=true`` is cut from the URI (hmas calls the plain endpoint).

Running it twice gives identical files. It refuses to write a file holding a key-shaped string.
"""

from __future__ import annotations

import json
import re
import sys
from http import HTTPStatus
from pathlib import Path
from typing import Any

import yaml

HERE = Path(__file__).resolve().parent
SHARED = HERE.parents[2].parent / "shared" / "data" / "llm"

PA = "pydantic__pydantic-ai/tests"
DD = "DataDog__dd-trace-py/tests/contrib"
#: output name -> recording (INDEX.md number in the comment)
CHOSEN: dict[str, str] = {
    "openai_plain": f"{PA}/models/cassettes/test_openai/test_max_completion_tokens[gpt-4o-mini].yaml",  # 1
    "openai_json_schema_tools": f"{PA}/models/cassettes/test_openai/test_openai_native_output.yaml",  # 2
    "openai_json_object_tools": f"{PA}/models/cassettes/test_openai/test_openai_prompted_output.yaml",  # 3
    "openai_json_schema_strict": f"{DD}/openai/cassettes/v1/chat_completion_parse.yaml",  # 4
    "openai_cached": f"{DD}/openai/cassettes/v1/chat_completion_prompt_caching_cache_read.yaml",  # 5
    "openai_401": f"{DD}/openai/cassettes/v1/chat_completion_error.yaml",  # 7
    "openai_400": f"{PA}/models/cassettes/test_openai/test_openai_o1_mini_system_role[system].yaml",  # 8
    "openai_404": f"{PA}/cassettes/test_model_name_suggestions/test_model_name_suggestion[openai-chat].yaml",  # 9
    "deepseek_reasoner": f"{PA}/models/cassettes/test_deepseek/test_deepseek_model_thinking_part.yaml",  # 10
    "gemini_tool_call_empty_id": f"{PA}/models/cassettes/test_openai/test_compatible_api_with_tool_calls_without_id.yaml",  # 11
    "openrouter_grok": f"{PA}/models/cassettes/test_openrouter/test_openrouter_with_native_options.yaml",  # 12
    "openrouter_padded": f"{DD}/openai/cassettes/v1/chat_completion_openrouter.yaml",  # 13
    "openrouter_429": f"{PA}/models/cassettes/test_openrouter/test_openrouter_errors_raised.yaml",  # 14
    "ollama_json_schema": f"{PA}/models/cassettes/test_ollama/test_ollama_local_native_output_uses_json_schema.yaml",  # 17
    "anthropic_tool_use": f"{PA}/models/cassettes/test_anthropic/test_anthropic_tool_output.yaml",  # 21
    "anthropic_json_schema": f"{PA}/models/cassettes/test_anthropic/test_anthropic_native_output_decimal_strict.yaml",  # 22
    "anthropic_plain": f"{DD}/anthropic/cassettes/anthropic_completion.yaml",  # 23
    "anthropic_cache_read": f"{DD}/anthropic/cassettes/anthropic_completion_cache_read.yaml",  # 24
    "anthropic_401": f"{DD}/anthropic/cassettes/anthropic_completion_invalid_api_key.yaml",  # 25
    "anthropic_400": f"{DD}/anthropic/cassettes/anthropic_completion_error.yaml",  # 26
    "anthropic_400_request_id": f"{PA}/models/cassettes/test_anthropic/test_anthropic_explicit_effort_xhigh_unsupported_model_errors.yaml",  # 27
}  # fmt: skip

SECRET_HEADERS = {"authorization", "x-api-key", "x-goog-api-key", "api-key", "proxy-authorization"}
DROPPED_HEADERS = {"cookie", "set-cookie", "openai-organization", "openai-project",
                   "anthropic-organization-id"}  # fmt: skip
REWRITTEN_BODY_HEADERS = {"content-length", "transfer-encoding", "content-encoding"}
KEY_SHAPES = re.compile(rb"(sk-(ant-)?[A-Za-z0-9]{16,}|AIza[0-9A-Za-z_-]{20,}|gsk_[A-Za-z0-9]{20,}|xai-[A-Za-z0-9]{20,}|Bearer [A-Za-z0-9._-]{16,})")  # fmt: skip


def _headers(headers: dict[str, list[str]] | None, rewritten: bool) -> dict[str, list[str]]:
    out = {}
    for name, values in sorted((headers or {}).items(), key=lambda kv: kv[0].lower()):
        low = name.lower()
        if low in SECRET_HEADERS or low in DROPPED_HEADERS:
            continue
        if rewritten and low in REWRITTEN_BODY_HEADERS:
            continue
        out[name] = values
    return out


def _interaction(item: dict[str, Any]) -> dict[str, Any]:
    req, resp = item["request"], item["response"]
    req_rewritten = "parsed_body" in req
    req_body = json.dumps(req["parsed_body"]) if req_rewritten else req.get("body")
    uri = str(req["uri"]).replace("?beta=true", "")
    request = {
        "body": req_body,
        "headers": _headers(req.get("headers"), req_rewritten),
        "method": req["method"],
        "uri": uri,
    }
    if "status_code" in resp:  # dialect B (vcrpy < 6)
        code = int(resp["status_code"])
        status = {"code": code, "message": HTTPStatus(code).phrase}
        body: Any = resp["content"]
        rewritten = True
    elif "parsed_body" in resp:  # dialect C (pydantic-ai)
        status = resp["status"]
        body = json.dumps(resp["parsed_body"])
        rewritten = True
    else:  # dialect A
        status = resp["status"]
        body = resp["body"]["string"]
        rewritten = False
    response = {
        "body": {"string": body},
        "headers": _headers(resp.get("headers"), rewritten),
        "status": status,
    }
    return {"request": request, "response": response}


def build(name: str, source: Path) -> str:
    data = yaml.safe_load(source.read_text(encoding="utf-8"))
    cassette = {"interactions": [_interaction(i) for i in data["interactions"]], "version": 1}
    text = yaml.dump(cassette, Dumper=yaml.SafeDumper, sort_keys=True, allow_unicode=True)
    blob = text.encode()
    for it in cassette["interactions"]:
        body = it["response"]["body"]["string"]
        if isinstance(body, bytes):
            import gzip

            blob += gzip.decompress(body)
    if KEY_SHAPES.search(blob):
        raise SystemExit(f"{name}: a key-shaped string is in the output; not written")
    return text


def main() -> None:
    if not SHARED.is_dir():
        sys.exit(f"needs the recordings in {SHARED}")
    for name, rel in CHOSEN.items():
        text = build(name, SHARED / rel)
        (HERE / f"{name}.yaml").write_text(
            f"# Built by build.py from ../shared/data/llm/{rel}\n{text}", encoding="utf-8"
        )
        print(f"{name}.yaml <- {rel}")


if __name__ == "__main__":
    main()
