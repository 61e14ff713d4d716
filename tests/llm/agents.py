"""Scripted answers of the agents' models: a stub responder and a fake model.

Each answer is made from the question itself (the schema's title names the answer model; the
quoted data gives the bar's close), so alpha proposes prices of the asset it is asked about.
``overrides`` replaces or adds fields of one agent's answer (hostile answers in tests).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

_DATA = re.compile(r"<data>\n(.*)\n</data>", re.DOTALL)


def question_of(body: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """The answer model's name and the quoted data of a request body (either wire)."""
    fmt = body.get("response_format") or {}
    schema = (fmt.get("json_schema") or {}).get("schema") or (
        (body.get("output_config") or {}).get("format") or {}
    ).get("schema")
    text = json.dumps(body.get("messages", [])) + str(body.get("system", ""))
    if schema is None:  # json mode / prompt: the schema is in the system prompt
        found = re.search(r'"title":"([A-Za-z]+Answer|Deliberation)"', text.replace("\\", ""))
        title = found.group(1) if found else ""
    else:
        title = str(schema.get("title", ""))
    messages = body.get("messages") or []
    user = next((m["content"] for m in messages if m.get("role") == "user"), "")
    if isinstance(user, list):
        user = " ".join(part.get("text", "") for part in user)
    match = _DATA.search(str(user))
    data = json.loads(match.group(1)) if match else {}
    return title, data


def default_answer(title: str, data: dict[str, Any]) -> dict[str, Any]:
    """A valid, ordinary answer of each agent."""
    rows = (data.get("candles") or {}).get("rows") or [[None, 1, 1, 1, 1, 1]]
    close = float(rows[-1][4])
    atr = float((data.get("indicators") or {}).get("atr_14") or close * 0.01)
    if title == "AlphaAnswer":
        return {
            "action": "BUY",
            "confidence": 0.8,
            "entry": close,
            "stop": round(close - 1.5 * atr, 2),
            "target": round(close + 4.5 * atr, 2),
            "setup": "trend_following",
            "evidence": ["price above its 20-bar EMA"],
            "hold_reason": None,
        }
    if title == "TechnicalAnswer":
        return {
            "bias": "bullish",
            "confidence": 0.7,
            "trend": "up",
            "support": round(close - 2 * atr, 2),
            "resistance": round(close + 5 * atr, 2),
            "fib_levels": None,
            "patterns": ["higher lows"],
            "elliott_wave": None,
            "harmonic_pattern": None,
            "wyckoff_phase": None,
        }
    if title == "SentimentAnswer":
        return {
            "bias": "bullish",
            "confidence": 0.6,
            "contrarian_bias": "neutral",
            "recommended_stance": "follow",
            "news_summary": None,
            "notes": ["momentum positive"],
        }
    if title == "MacroAnswer":
        measured = data.get("measured_by_code") or {}
        return {
            "regime": "risk_on" if measured.get("market_symbols") else "unknown",
            "volatility_regime": "normal",
            "tailwind": "long",
            "notes": ["market above its trend"],
        }
    if title == "ExecutionAnswer":
        return {"verdict": "PASS", "reasons": ["costs small against the target"]}
    if title == "RationaleAnswer":
        return {"journal": "## Setup\nA trend-following long.\n\n## Plan\nBuy at the close."}
    if title == "Deliberation":
        return {
            "conflicts": ["none of note"],
            "scenarios": [{"name": "bull", "narrative": "the trend continues"}],
            "flags": [{"flag": "volatility", "severity": "low", "detail": "normal"}],
            "reasoning": "The code's decision stands on the measured base rate.",
        }
    return {"verdict": "pong"}


Override = Callable[[dict[str, Any], dict[str, Any]], Any]


def responder(
    overrides: dict[str, dict[str, Any] | Override] | None = None,
) -> Callable[[dict[str, Any]], str]:
    """The stub's responder: each agent's default answer, with ``overrides`` by answer name
    (a dict of fields merged in, or a function of (answer, data) returning the text or dict)."""

    def respond(body: dict[str, Any]) -> str:
        title, data = question_of(body)
        answer = default_answer(title, data)
        change = (overrides or {}).get(title)
        if callable(change):
            made = change(answer, data)
            return made if isinstance(made, str) else json.dumps(made)
        if change:
            answer = {**answer, **change}
        return json.dumps(answer)

    return respond
