"""Honest dependencies: only public imports, every import declared, every requirement floored.

CI runs the whole suite a second time on the lowest versions ``pyproject.toml`` allows
(``uv pip install --resolution lowest-direct``, see ``.ci/run``), so the floors are proven, not
claimed. These tests keep the declarations honest in both environments, and pin the CLI
behaviour that depends on which parts of Typer hmas uses.
"""

from __future__ import annotations

import ast
import importlib.metadata
import re
import sys
import tomllib
from pathlib import Path

import pytest
from packaging.version import Version
from typer.testing import CliRunner, Result

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "hmas"
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())


def _name(requirement: str) -> str:
    match = re.match(r"[A-Za-z0-9][A-Za-z0-9._-]*", requirement)
    assert match, requirement
    return re.sub(r"[-_.]+", "-", match.group(0)).lower()


def _requirements(*groups: str) -> list[str]:
    """The package's requirements and those of the named dependency groups (all without names)."""
    chosen = groups or tuple(PYPROJECT["dependency-groups"])
    listed = [r for g in chosen for r in PYPROJECT["dependency-groups"][g] if isinstance(r, str)]
    return [*PYPROJECT["project"]["dependencies"], *listed]


def _imports() -> dict[str, list[str]]:
    """Every absolute import under hmas/ (module name -> where), lazy ones included."""
    found: dict[str, list[str]] = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        where = str(path.relative_to(ROOT))
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
            else:
                continue
            for name in names:
                found.setdefault(name, []).append(f"{where}:{node.lineno}")
    return found


def _third_party(module: str) -> bool:
    top = module.split(".", maxsplit=1)[0]
    return top not in {"hmas", "__future__"} and top not in sys.stdlib_module_names


def test_no_private_module_of_another_package_is_imported() -> None:
    # e.g. typer._click: Typer vendors Click there since 0.26 and calls it private; it changes
    # (and once was absent) from one release to the next.
    private = {
        module: where
        for module, where in _imports().items()
        if _third_party(module) and any(part.startswith("_") for part in module.split("."))
    }
    assert private == {}


def test_every_third_party_import_is_a_declared_dependency() -> None:
    declared = {_name(r) for r in PYPROJECT["project"]["dependencies"]}
    providers = importlib.metadata.packages_distributions()
    undeclared = {}
    for module, where in _imports().items():
        top = module.split(".")[0]
        if not _third_party(module):
            continue
        dists = {_name(d) for d in providers.get(top, [top])}
        if not dists & declared:
            undeclared[module] = where
    # Click in particular: typer no longer uses it, and only the dev tools install it.
    assert undeclared == {}


def test_every_requirement_has_a_tested_lower_bound() -> None:
    # Without a floor, --resolution lowest-direct would install a release from years ago.
    unbounded = [r for r in _requirements() if ">=" not in r and "==" not in r]
    assert unbounded == []


# What every environment that runs the tests installs (the lowest-direct one has no dev tools).
@pytest.mark.parametrize("requirement", _requirements("test"), ids=_name)
def test_the_installed_version_meets_the_floor(requirement: str) -> None:
    floor = re.search(r">=\s*([0-9][^,;\s]*)", requirement)
    assert floor, requirement
    installed = importlib.metadata.version(_name(requirement))
    assert Version(installed) >= Version(floor.group(1)), f"{requirement}: {installed} installed"


# --- the CLI's behaviour that rests on Typer's public API -------------------------------------


def _hmas(*args: str) -> Result:
    from hmas.cli import app

    return CliRunner().invoke(app, list(args), catch_exceptions=False)


@pytest.mark.parametrize(
    ("args", "usage"),
    [([], "Usage: hmas [OPTIONS] COMMAND [ARGS]..."), (["db"], "Usage: hmas db [OPTIONS] COMMAND")],
)
def test_a_group_without_a_command_prints_its_help(args: list[str], usage: str) -> None:
    result = _hmas(*args)
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr.startswith(usage)
    assert "Commands:" in result.stderr and "Error" not in result.stderr


def test_a_usage_error_is_one_line_naming_the_commands_help() -> None:
    result = _hmas("signals", "list", "--limit", "many")
    assert result.exit_code == 2
    assert result.stderr == (
        "Error: Invalid value for '--limit': Input should be a valid integer, unable to parse "
        "string as an integer; see hmas signals list --help\n"
    )


class _Disposals:
    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        import hmas.store

        self.opened: list[object] = []
        self.disposed: list[object] = []
        real_open = hmas.store.open_store

        def spying_open(*args: object, **kwargs: object) -> object:
            engine = real_open(*args, **kwargs)  # type: ignore[arg-type]
            self.opened.append(engine)
            real_dispose = engine.dispose

            def dispose(*a: object, **k: object) -> None:
                self.disposed.append(engine)
                real_dispose(*a, **k)  # type: ignore[arg-type]

            engine.dispose = dispose  # type: ignore[method-assign]
            return engine

        monkeypatch.setattr(hmas.store, "open_store", spying_open)


def test_the_store_is_disposed_when_a_command_ends(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spy = _Disposals(monkeypatch)
    db = f"sqlite:///{tmp_path / 'x.db'}"
    result = _hmas("--db-url", db, "fetch", "--source", "sample", "--symbols", "BTC-USD")
    assert result.exit_code == 0, result.stderr
    assert spy.opened and spy.disposed == spy.opened


def test_the_store_is_disposed_when_a_command_fails(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spy = _Disposals(monkeypatch)
    db = f"sqlite:///{tmp_path / 'x.db'}"
    assert _hmas("--db-url", db, "db", "upgrade").exit_code == 0
    spy.opened.clear()
    spy.disposed.clear()
    result = _hmas("--db-url", db, "signals", "show", "99")
    assert result.exit_code == 2
    assert result.stderr == "Error: no signal with id 99; list them with hmas signals list\n"
    assert spy.opened and spy.disposed == spy.opened
