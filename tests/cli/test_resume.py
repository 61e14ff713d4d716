"""``hmas resume``: lifts the pauses in force; bad input exits 2 with one line."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from typer.testing import Result

Run = Callable[..., Result]


def test_resume_with_nothing_paused(hmas: Run) -> None:
    result = hmas("resume", "--reason", "checked")
    assert (result.exit_code, result.stdout) == (0, "No pause in force.\n")
    data = json.loads(hmas("resume", "--json").stdout)
    assert data == {"engine": "rules", "lifted": [], "kept": []}


def test_resume_refuses_an_unknown_trigger(hmas: Run) -> None:
    result = hmas("resume", "--trigger", "nonsense")
    assert result.exit_code == 2
    assert "'nonsense'; use one of loss_streak, daily_loss, api_errors, slippage" in result.stderr


def test_a_negative_pause_threshold_is_refused(hmas: Run, tmp_path: Path) -> None:
    (tmp_path / "hmas.toml").write_text("[pause]\napi_errors = -1\n", encoding="utf-8")
    result = hmas("--config", str(tmp_path / "hmas.toml"), "resume")
    assert result.exit_code == 2, result.stderr
    assert result.stderr.startswith("Error: ")
    assert "pause.api_errors" in result.stderr
