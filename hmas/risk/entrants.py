"""A tournament's entrants: the configuration files given to ``--tournament``, each validated.

``--tournament cfgs/`` takes every ``*.toml`` file of the directory, sorted by name; several
files may be given instead. Each is loaded as ``--config`` loads one (the environment and the
command's flags over it) and validated before anything runs; a bad one is named. An entrant's
name is its file's stem; its paper book in the store is ``<engine>@<name>`` (``rules@fast``).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hmas.errors import ConfigError, HmasError, UsageError

if TYPE_CHECKING:
    from hmas.risk.tournament import Rules
    from hmas.settings import Settings

#: An entrant's name: it becomes part of a store key (``account.engine``, 32 characters).
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,23}")
#: Settings that belong to the whole command, not to one entrant.
NOT_PER_ENTRANT = ("tournament", "db_url", "data_dir")


@dataclass(frozen=True)
class Entrant:
    """One configuration of a tournament: its name (file stem), file and settings."""

    name: str
    path: Path
    settings: Settings

    @property
    def book(self) -> str:
        """The key of its paper book in the store: ``<engine>@<name>``."""
        return f"{self.settings.decision.engine}@{self.name}"


def config_files(paths: Sequence[Path]) -> list[Path]:
    """The configuration files of ``--tournament``: a directory's ``*.toml`` (sorted) or files."""
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            inside = sorted(p for p in path.iterdir() if not p.name.startswith("."))
            others = [p for p in inside if p.suffix.lower() != ".toml" or not p.is_file()]
            if others:
                raise UsageError(
                    f"--tournament {path}: {others[0]} is not a .toml file; the directory "
                    "must hold only the configurations (one .toml file each)"
                )
            if not inside:
                raise UsageError(
                    f"--tournament {path} has no .toml file; put one configuration per "
                    "file in it (e.g. fast.toml, slow.toml)"
                )
            files += inside
        elif path.is_file():
            if path.suffix.lower() != ".toml":
                raise UsageError(
                    f"--tournament {path} is not a .toml file; give a directory of .toml "
                    "configurations or .toml files"
                )
            files.append(path)
        else:
            raise UsageError(
                f"--tournament {path}: no such file or directory; give a directory of .toml "
                "configurations"
            )
    return files


def load_entrants(paths: Sequence[Path], **overrides: Any) -> list[Entrant]:
    """Every configuration of ``--tournament`` loaded and validated; at least two.

    UsageError/ConfigError (exit 2) naming the file for a bad one, a duplicate or bad name,
    a setting that is the command's (``[tournament]``, ``db_url``, ``data_dir``).
    """
    from hmas.settings import load_settings, read_config_file

    files = config_files(paths)
    if len(files) < 2:
        names = ", ".join(str(f) for f in files)
        raise UsageError(
            f"a tournament needs at least 2 configurations, got {len(files)} ({names}); "
            "add another .toml file"
        )
    out: list[Entrant] = []
    seen: dict[str, Path] = {}
    for path in files:
        name = path.stem
        if not NAME.fullmatch(name):
            raise UsageError(
                f"--tournament {path}: the name {name!r} must be 1 to 24 letters, digits, "
                "'_', '-' or '.' (it names the paper book); rename the file"
            )
        if name in seen:
            raise UsageError(
                f"--tournament {path} and {seen[name]} have the same name {name!r}; "
                "rename one (the name keys its paper book)"
            )
        seen[name] = path
        data = read_config_file(path)
        own = [key for key in NOT_PER_ENTRANT if key in data]
        if own:
            raise ConfigError(
                f"--tournament {path} sets {own[0]}, which is the command's, not one "
                "configuration's; move it to the main configuration (--config)"
            )
        try:
            settings = load_settings(path, **overrides)
        except HmasError as exc:
            raise ConfigError(f"--tournament {path}: {exc}") from None
        out.append(Entrant(name, path, settings))
    first = out[0].settings.paper
    for entrant in out[1:]:
        paper = entrant.settings.paper
        if (paper.starting_equity, paper.account_currency) != (
            first.starting_equity,
            first.account_currency,
        ):
            raise UsageError(
                f"--tournament {entrant.path} starts its paper book with "
                f"{paper.starting_equity:g} {paper.account_currency}, {out[0].path} with "
                f"{first.starting_equity:g} {first.account_currency}; the books are ranked by "
                "P&L in money, so give every configuration the same [paper] starting_equity "
                "and account_currency"
            )
    return out


def rules_for(settings: Settings, count: int) -> Rules:
    """The ranking rules of ``[tournament]`` for ``count`` entrants; UsageError if they misfit."""
    from hmas.risk.tournament import Rules

    rules = Rules.of(settings.tournament)
    try:
        rules.weights_for(count)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    return rules
