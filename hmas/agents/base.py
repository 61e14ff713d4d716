"""What every agent shares: the view base model, the context it runs in, the agent protocol.

An agent is a module with:

- ``NAME``: its name (``alpha``, ``technical``, …);
- a view model (a subclass of ``AgentView``): the typed output of one bar;
- ``run_rules(features, ctx) -> pandas.DataFrame``: the rules engine, **vectorised**: one call
  over a whole feature frame returns one row per bar (same index), with a column per scalar
  field of the view plus ``abstained`` (bool) and ``abstain_reason`` (str or None). A single
  signal takes the last row, a backtest every row of the same call, so the two cannot differ.
  Row *t* must depend only on rows at or before *t*;
- ``view_at(out, i) -> View``: the view of row ``i`` of that frame (builds lists and text).

The LLM engine (a later addition) returns the same view models from a prompt; an agent that
fails, times out or answers out of schema abstains, on record, never silently defaulting.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict

if TYPE_CHECKING:
    import pandas as pd

    from hmas.settings import Settings


class AgentView(BaseModel):
    """Base of every agent's output."""

    model_config = ConfigDict(extra="forbid")

    agent: str
    abstained: bool = False
    abstain_reason: str | None = None


@dataclass
class AgentContext:
    """Everything an agent may read besides the symbol's own feature frame.

    ``universe`` holds the close prices of the other stored symbols (same exchange and
    timeframe), one column per symbol, aligned on the symbol's index by timestamp with no
    forward look (a value at *t* is that symbol's close at *t*, or NaN).
    ``benchmark`` is the feature frame of the regime benchmark (BTC) aligned the same way,
    or None when the symbol is the benchmark itself.
    ``prior`` holds the rationale inputs computed by earlier layers when needed.
    """

    settings: Settings
    symbol: str
    exchange: str
    timeframe: str
    equity: float = 100_000.0
    universe: pd.DataFrame | None = None
    benchmark: pd.DataFrame | None = None
    fear_greed: pd.Series | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def none_if_nan(value: Any) -> Any:
    """``None`` for NaN/NaT/None, the value otherwise (for building views from frame rows)."""
    try:
        if value is None or value != value:  # noqa: PLR0124 - NaN check without numpy
            return None
    except (TypeError, ValueError):
        return value
    if hasattr(value, "item"):
        return value.item()
    return value
