"""The layering of docs/design.md §4 as import-linter contracts: they hold, and they bite.

CI runs ``lint-imports`` on the project; these tests show the contracts in ``pyproject.toml``
hold on the code and fail on each kind of violation they exist to stop, by running the same
contracts on a copy of ``hmas/`` with one bad import planted.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "hmas"
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"

# Directories under hmas/ that are namespace packages (no __init__.py): grimp cannot see
# them, so their imports escape the contracts. Only shrink this set.
NAMESPACE_PACKAGES_TOLERATED: set[str] = set()


def _contracts() -> dict[str, dict[str, Any]]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    return {c["id"]: c for c in config["contracts"]}


def _lint(cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache"],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _broken(report: str) -> set[str]:
    """Ids of the contracts a ``lint-imports`` report lists as broken (its sections' titles)."""
    lines = report.splitlines()
    titles = {" ".join(lines[i - 1].split()) for i, line in enumerate(lines) if set(line) == {"-"}}
    return {
        cid
        for cid, contract in _contracts().items()
        if " ".join(str(contract["name"]).split()) in titles
    }


def _top_level_modules() -> set[str]:
    names = {p.stem for p in PACKAGE.glob("*.py") if p.stem != "__init__"}
    names |= {p.name for p in PACKAGE.iterdir() if p.is_dir() and any(p.glob("*.py"))}
    return names


def test_the_contracts_hold_on_the_code() -> None:
    result = _lint(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def test_every_library_module_is_barred_from_typer_and_rich() -> None:
    barred = {m.removeprefix("hmas.") for m in _contracts()["cli-only"]["source_modules"]}
    assert barred == _top_level_modules() - {"cli", "__main__"} - NAMESPACE_PACKAGES_TOLERATED


def test_no_new_namespace_package_escapes_the_contracts() -> None:
    missing = {
        p.name
        for p in PACKAGE.iterdir()
        if p.is_dir() and any(p.glob("*.py")) and not (p / "__init__.py").exists()
    }
    assert missing <= NAMESPACE_PACKAGES_TOLERATED, (
        f"hmas/{sorted(missing - NAMESPACE_PACKAGES_TOLERATED)} need an __init__.py"
    )


@pytest.mark.parametrize(
    ("module", "planted", "broken"),
    [
        # The ground floor importing upward (the fault issue 7 found with data/market.py).
        ("market.py", "import hmas.settings", ["ground-floor", "pure-indicators"]),
        ("store/models.py", "import hmas.risk.ledger", ["layers"]),
        # Sibling use cases stay apart.
        ("report/queries.py", "import hmas.live.loop", ["layers"]),
        ("store/engine.py", "import typer", ["cli-only"]),
        ("risk/guardian.py", "from rich.console import Console", ["cli-only"]),
        ("data/files.py", "import hmas.cli.common", ["layers", "cli-only"]),
        ("indicators/features.py", "import hmas.store.candles", ["pure-indicators"]),
        ("indicators/swings.py", "import httpx", ["pure-indicators"]),
    ],
)
def test_a_planted_violation_breaks_its_contract(
    tmp_path: Path, module: str, planted: str, broken: list[str]
) -> None:
    shutil.copytree(PACKAGE, tmp_path / "hmas", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path)
    target = tmp_path / "hmas" / module
    target.write_text(target.read_text() + f"\n{planted}\n")
    result = _lint(tmp_path)
    assert result.returncode == 1, result.stdout + result.stderr
    assert _broken(result.stdout) == set(broken), result.stdout


def test_a_package_without_a_place_in_the_layers_breaks_the_contract(tmp_path: Path) -> None:
    shutil.copytree(PACKAGE, tmp_path / "hmas", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path)
    (tmp_path / "hmas" / "portfolio").mkdir()
    (tmp_path / "hmas" / "portfolio" / "__init__.py").write_text('"""Unplaced."""\n')
    result = _lint(tmp_path)
    assert result.returncode == 1
    assert "hmas.portfolio" in result.stdout
