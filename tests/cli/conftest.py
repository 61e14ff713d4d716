"""Run the real ``hmas`` command in process and capture stdout and stderr apart."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from typer.testing import CliRunner, Result

from hmas.cli import app


@pytest.fixture
def hmas() -> Callable[..., Result]:
    """``hmas("fetch", "--json", ...)`` -> the Result (exit_code, stdout, stderr)."""
    runner = CliRunner()

    def run(*args: str) -> Result:
        return runner.invoke(app, list(args), catch_exceptions=False)

    return run
