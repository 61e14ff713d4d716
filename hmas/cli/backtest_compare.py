"""``hmas backtest --compare / --ablate / --walk-forward``: options checked, library called."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from hmas.errors import UsageError

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from hmas.backtest.compare import Candidate
    from hmas.backtest.run import BacktestRequest, LlmBudget
    from hmas.settings import Settings

#: ``--compare`` words that mean this configuration on an engine.
ENGINES = ("rules", "llm")


def split_words(words: list[str], compare: list[str] | None) -> tuple[list[str], list[str] | None]:
    """With --compare, the words after it that name configurations (a .toml file, rules, llm)
    join it (``--compare a.toml b.toml``); the others stay symbols."""
    if not compare:
        return words, compare
    named = [w for w in words if w.lower().endswith(".toml") or w.strip().lower() in ENGINES]
    return [w for w in words if w not in named], [*compare, *named]


def chosen(
    compare: list[str] | None,
    ablate: list[str] | None,
    walk_forward: int | None,
    lookahead: bool,
    export: Path | None,
    plot: Path | None,
) -> str | None:
    """Which of the three runs was asked (None: an ordinary backtest); UsageError for a mix."""
    asked = [
        flag
        for flag, given in (
            ("--compare", bool(compare)),
            ("--ablate", bool(ablate)),
            ("--walk-forward", walk_forward is not None),
        )
        if given
    ]
    if not asked:
        return None
    if len(asked) > 1:
        raise UsageError(f"{' and '.join(asked)} are separate runs: give one of them")
    for flag, given in (
        ("--check-lookahead", lookahead),
        ("--export", export is not None),
        ("--plot", plot is not None),
    ):
        if given:
            raise UsageError(f"{asked[0]} prints a table of several runs; drop {flag}")
    return asked[0]


def candidates(
    ctx: typer.Context, settings: Settings, words: list[str], max_cost: float | None
) -> list[Candidate]:
    """The configurations of ``--compare``: TOML files, or rules / llm (this configuration on
    that engine). A bad file is a ConfigError naming it (exit 2)."""
    from hmas.backtest.compare import Candidate, changed
    from hmas.errors import ConfigError
    from hmas.settings import load_settings

    items = [w.strip() for word in words for w in word.split(",") if w.strip()]
    if len(items) < 2:
        raise UsageError(
            "--compare needs at least two configurations (TOML files, rules or llm), "
            "e.g. --compare rules strict.toml"
        )
    obj = ctx.find_root().obj or {}
    out: list[Candidate] = []
    seen: dict[str, int] = {}
    for item in items:
        if item.lower() in ENGINES:
            engine = item.lower()
            each = changed(settings, "decision", engine=engine, engines={})
            label, source = engine, f"this configuration on the {engine} engine"
        else:
            path = Path(item)
            try:
                each = load_settings(path, db_url=obj.get("db_url"))
            except ConfigError as exc:
                raise ConfigError(f"--compare {item}: {exc}") from None
            label, source = path.stem, str(path)
        seen[label] = seen.get(label, 0) + 1
        if seen[label] > 1:
            label = f"{label}#{seen[label]}"
        out.append(Candidate(label, each, source, _budget(each, max_cost)))
    if max_cost is not None and not any(c.llm for c in out):
        raise UsageError("--max-cost applies when a compared configuration runs on llm")
    return out


def _budget(settings: Settings, max_cost: float | None) -> LlmBudget | None:
    """An LLM configuration's limits in a comparison: from the call log only, unless
    --max-cost allows calls."""
    import math

    from hmas.backtest.run import LlmBudget

    if not settings.uses_llm():
        return None
    if max_cost is None:
        return LlmBudget(0.0, offline=True)
    if not (max_cost > 0 and math.isfinite(max_cost)):
        raise typer.BadParameter(
            f"expected a cost above 0, got {max_cost}", param_hint="--max-cost"
        )
    from hmas.decision.llm_engine import resolve

    resolve(settings)
    return LlmBudget(max_cost)


def run(
    ctx: typer.Context,
    which: str,
    engine: Engine,
    settings: Settings,
    request: BacktestRequest,
    *,
    compare: list[str],
    ablate: list[str],
    windows: int | None,
    engine_name: str | None,
    llm: LlmBudget | None,
    max_cost: float | None,
    json_out: bool,
) -> None:
    """Run the comparison, ablation or walk-forward asked for and print it."""
    from hmas.cli import backtest_compare_view as view
    from hmas.cli import render

    data: dict[str, Any]
    if which == "--compare":
        if engine_name is not None:
            raise UsageError(
                "--engine sets the engine of one run; in a comparison name the engines, "
                "e.g. --compare rules llm"
            )
        from hmas.backtest.compare import compare as run_compare

        chosen = candidates(ctx, settings, compare, max_cost)
        with render.stage_progress(enabled=not json_out) as progress:
            data = run_compare(
                engine, chosen, request, progress=progress, on_estimate=render.note
            ).as_dict()
        show = view.comparison
    elif which == "--ablate":
        from hmas.backtest.ablation import ablate as run_ablate
        from hmas.backtest.ablation import agents_of

        agents = agents_of(ablate)
        with render.stage_progress(enabled=not json_out) as progress:
            data = run_ablate(
                engine,
                settings,
                request,
                agents,
                progress=progress,
                llm=llm,
                on_estimate=render.note,
            ).as_dict()
        show = view.ablation
    else:
        from hmas.backtest.walkforward import walk_forward

        assert windows is not None
        with render.stage_progress(enabled=not json_out) as progress:
            data = walk_forward(engine, settings, request, windows, progress=progress).as_dict()
        show = view.walk_forward
    if json_out:
        render.print_json(data)
    else:
        show(data)
