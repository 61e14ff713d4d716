"""LLM providers: vendors as data, two wire formats, typed answers, retries and deadlines.

The public API (docs/llm.md):

- :func:`resolve_routes` (settings ``llm`` + agent names -> a :class:`Route` per agent) and
  :func:`require_keys` (refuses a missing key before any call, naming the variable);
- :class:`LlmClient` (``complete`` one call, ``structured`` a pydantic model with one repair,
  returning a :class:`StructuredResult`) and :func:`open_client`;
- :class:`Deadline` for a signal's calls; :class:`Prompt`; :class:`CallRecord`, one per HTTP
  call, what the call log stores; :func:`ping` and :func:`route_report` behind ``hmas llm check``.

Part 2 of the LLM engine (agents on LLMs, the call log's table, budgets, replay) builds on it.
"""

from __future__ import annotations

from hmas.llm.check import PingResult, RouteStatus, ping, route_report
from hmas.llm.client import LlmClient, StructuredResult, cost_of, open_client
from hmas.llm.core import AnswerFormat, CallRecord, Completion, Message, Prompt, ToolCall, Usage
from hmas.llm.deadline import Deadline
from hmas.llm.routing import Keys, KeySource, Route, key_sources, require_keys, resolve_routes
from hmas.llm.vendors import BUILTIN, ModelInfo, Prices, Vendor, vendor_table

__all__ = [
    "BUILTIN",
    "AnswerFormat",
    "CallRecord",
    "Completion",
    "Deadline",
    "KeySource",
    "Keys",
    "LlmClient",
    "Message",
    "ModelInfo",
    "PingResult",
    "Prices",
    "Prompt",
    "Route",
    "RouteStatus",
    "StructuredResult",
    "ToolCall",
    "Usage",
    "Vendor",
    "cost_of",
    "key_sources",
    "open_client",
    "ping",
    "require_keys",
    "resolve_routes",
    "route_report",
    "vendor_table",
]
