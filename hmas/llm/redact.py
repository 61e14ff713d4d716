"""Keys never leave the library: headers that carry them, and any text that might echo them."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

#: Request headers that carry a key: never logged, stored, shown or recorded.
SECRET_HEADERS = frozenset({"authorization", "x-api-key", "x-goog-api-key", "api-key"})
MASK = "[redacted]"

# Key-shaped strings (OpenAI/DeepSeek sk-…, Anthropic sk-ant-…, xAI xai-…, Google AIza…,
# Groq gsk_…, a bearer token), even partly masked by the provider ("sk-abc***wxyz").
_KEY_SHAPES = re.compile(
    r"(?:\bBearer\s+[A-Za-z0-9._~+/=*-]{8,})|"
    r"(?:\b(?:sk|xai|gsk|sk-ant|sk-or)-[A-Za-z0-9_*.-]{6,})|"
    r"(?:\bAIza[A-Za-z0-9_*-]{10,})"
)


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """``text`` with every given secret and anything shaped like a key replaced by a mask."""
    for secret in sorted({s for s in secrets if s}, key=len, reverse=True):
        text = text.replace(secret, MASK)
    return _KEY_SHAPES.sub(MASK, text)


def safe_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """Headers fit to show: the key-carrying ones masked."""
    return {k: (MASK if k.lower() in SECRET_HEADERS else v) for k, v in headers.items()}
