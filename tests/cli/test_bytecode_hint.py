"""The one-line hint when an uncompiled environment would recompile its libraries per command."""

from __future__ import annotations

import importlib.machinery
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from hmas import cli


class _Terminal:
    """stderr as a terminal (or not) that writes through to the captured stream."""

    def __init__(self, tty: bool) -> None:
        self.tty = tty

    def isatty(self) -> bool:
        return self.tty

    def write(self, text: str) -> int:
        return sys.stderr.write(text)


def _fake_sys(dont_write: bool, tty: bool = True) -> SimpleNamespace:
    return SimpleNamespace(
        flags=SimpleNamespace(dont_write_bytecode=dont_write), stderr=_Terminal(tty)
    )


def _spec(tmp_path: Path, *, compiled: bool) -> importlib.machinery.ModuleSpec:
    source = tmp_path / "pandas" / "__init__.py"
    source.parent.mkdir()
    source.write_text("")
    spec = importlib.machinery.ModuleSpec("pandas", None, origin=str(source))
    cached = tmp_path / "pandas" / "__pycache__" / "__init__.cpython-312.pyc"
    if compiled:
        cached.parent.mkdir()
        cached.write_bytes(b"")
    spec.cached = str(cached)
    spec.has_location = True
    return spec


@pytest.mark.parametrize(
    ("dont_write", "compiled", "tty", "hinted"),
    [
        (True, False, True, True),
        (True, True, True, False),
        (False, False, True, False),
        (True, False, False, False),  # a pipe or a script: never
    ],
)
def test_hint_only_when_uncompiled_and_bytecode_writing_is_off(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    dont_write: bool,
    compiled: bool,
    tty: bool,
    hinted: bool,
) -> None:
    spec = _spec(tmp_path, compiled=compiled)
    monkeypatch.setattr(cli, "sys", _fake_sys(dont_write, tty))
    monkeypatch.setattr("importlib.util.find_spec", lambda name: spec)
    cli._bytecode_hint()
    err = capsys.readouterr().err
    if hinted:
        assert err == (
            "hmas: this environment has no compiled bytecode and PYTHONDONTWRITEBYTECODE is "
            "set, so every command recompiles its libraries (seconds each); run "
            "'uv sync --compile-bytecode' once to fix it\n"
        )
    else:
        assert err == ""
