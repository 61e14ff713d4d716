"""What every agent shares: the view base model, the typed context it runs in, the signatures.

An agent is declared once, as an ``AgentSpec`` in ``hmas.agents.registry`` (docs/agents.md):
its name, layer, view model, the inputs it reads and its engines. Every engine has the same
two functions:

- ``rules(features, ctx) -> pandas.DataFrame``: **vectorised**: one call over a whole feature
  frame returns one row per bar (same index), with a column per scalar field of the view plus
  ``abstained`` (bool) and ``abstain_reason`` (str or None). A single signal takes the last
  row, a backtest every row of the same call, so the two cannot differ. Row *t* must depend
  only on rows at or before *t*. Outputs of earlier layers are read from ``ctx.upstream``;
- ``view(out, i, views) -> AgentView``: the view of row ``i`` of that frame (builds lists and
  text); ``views`` holds the views of the agents before it in the pipeline.

The LLM engine (a later addition) returns the same view models from a prompt; an agent that
fails, times out or answers out of schema abstains, on record, never silently defaulting.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from functools import cache
from typing import TYPE_CHECKING, Any, ClassVar, Self

from pydantic import BaseModel, ConfigDict, SerializerFunctionWrapHandler, model_serializer

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt
    import pandas as pd

    from hmas.settings import Settings

#: Field types copied verbatim between a frame row and a view (lists, dicts and text built
#: from several columns are the agent's own business).
_SCALARS = (str, int, float, bool)


class AgentView(BaseModel):
    """Base of every agent's output: one bar's view, never NaN or infinite.

    ``recorded`` is True when the view is a recorded answer that stood in for the agent
    (``compute(..., answers=...)``); it is left out of the JSON otherwise, so views computed
    live keep their stored form. So are the fields in ``omitted_when_null`` while they are
    null: fields added after views were first stored, so that every view stored before them
    (and the journals that quote the views) keeps its form.
    """

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    omitted_when_null: ClassVar[frozenset[str]] = frozenset()

    agent: str
    abstained: bool = False
    abstain_reason: str | None = None
    recorded: bool = False

    @model_serializer(mode="wrap")
    def _drop_live_mark(self, handler: SerializerFunctionWrapHandler) -> Any:
        data = handler(self)
        if isinstance(data, dict):
            if not data.get("recorded"):
                data.pop("recorded", None)
            for name in self.omitted_when_null:
                if name in data and data[name] is None:
                    del data[name]
        return data

    @classmethod
    def row_fields(cls) -> tuple[str, ...]:
        """The view's scalar fields: the columns its rules frame carries under the same name."""
        return _row_fields(cls)

    @classmethod
    def from_row(cls, row: Mapping[str, Any], **derived: Any) -> Self:
        """The view of one frame row: scalar fields from same-named columns (NaN -> None).

        ``derived`` gives the fields an agent builds itself (lists, text, renamed columns).
        """
        data = {
            name: none_if_nan(row[name])
            for name in cls.row_fields()
            if name in row and name not in derived
        }
        data.pop("agent", None)
        data.pop("recorded", None)
        return cls.model_validate({**data, **derived})

    def to_row(self) -> dict[str, Any]:
        """The view's scalar fields as one row of its rules frame (the mother's inputs)."""
        return {name: getattr(self, name) for name in self.row_fields()}


@cache
def _row_fields(cls: type[AgentView]) -> tuple[str, ...]:
    import typing

    names = []
    for name, info in cls.model_fields.items():
        if name == "recorded":
            continue
        annotation = info.annotation
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        origin = typing.get_origin(annotation)
        if (
            origin is typing.Literal
            or annotation in _SCALARS
            or (args and all(a in _SCALARS or typing.get_origin(a) is typing.Literal for a in args))
        ):
            names.append(name)
    return tuple(names)


@dataclass(frozen=True)
class AgentContext:
    """Everything an agent may read besides the symbol's own feature frame.

    ``universe`` holds the close prices of the other stored symbols (same exchange and
    timeframe), one column per symbol, aligned on the symbol's index by timestamp with no
    forward look (a value at *t* is that symbol's close at *t*, or NaN).
    ``benchmark`` is the feature frame of the regime benchmark (BTC) aligned the same way,
    or None when the symbol is the benchmark itself.
    ``fear_greed`` is the public index by UTC day, ``fear_greed_error`` why it is missing.
    ``upstream`` holds the rules frames of the agents of earlier layers (``alpha`` for the
    execution auditor and the rationale).
    ``equity`` is in the account currency; ``quote_rate`` converts one unit of the symbol's
    quote currency into it, per bar (NaN where no rate is known), or is None when the symbol
    is quoted in the account currency.
    """

    settings: Settings
    symbol: str
    exchange: str
    timeframe: str
    equity: float = 100_000.0
    universe: pd.DataFrame | None = None
    benchmark: pd.DataFrame | None = None
    fear_greed: pd.Series | None = None
    fear_greed_error: str | None = None
    upstream: Mapping[str, pd.DataFrame] = field(default_factory=dict)
    quote_rate: npt.NDArray[np.float64] | None = None

    def with_upstream(self, **frames: pd.DataFrame) -> AgentContext:
        """The same context also holding the given earlier-layer frames."""
        return replace(self, upstream={**self.upstream, **frames})


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
