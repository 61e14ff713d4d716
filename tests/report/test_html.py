"""The HTML page: self-contained (no external reference), its figures inline, and opened in a
real headless Chromium (Debian's package): tables found, every image decoded, a screenshot."""

from __future__ import annotations

import base64
import os
import re
import shutil
from pathlib import Path
from typing import Any

import pytest

from hmas.report import analyst, html, plots
from hmas.report.period import Period

CHROMIUM = Path("/usr/bin/chromium")


def page(book: Any) -> tuple[str, dict[str, Any]]:
    report = analyst.build(book, "rules", Period())
    figures, skipped = plots.figures(report)
    return html.render(report, figures, skipped), report


def test_page_is_self_contained(book: Any) -> None:
    text, _ = page(book)
    assert "http://" not in text and "https://" not in text
    assert not re.search(r"<(script|link|iframe)\b", text)
    sources = re.findall(r'<img [^>]*src="([^"]+)"', text)
    assert len(sources) == 4  # equity, drawdown, reliability, costs
    for src in sources:
        assert src.startswith("data:image/png;base64,")
        assert base64.b64decode(src.split(",", 1)[1]).startswith(b"\x89PNG\r\n\x1a\n")
    assert (
        text.count("<table>") == 12
    )  # symbols, agents, guards, checks, 3 calibrations, 4 costs, runs
    assert "+0.125 R" in text and "cooldown" in text


def test_page_escapes_store_text(book: Any) -> None:
    report = analyst.build(book, "rules", Period())
    report["attribution"]["agents"][0]["agent"] = "<b>x</b>"
    text = html.render(report, {}, {})
    assert "<b>x</b>" not in text and "&lt;b&gt;x&lt;/b&gt;" in text


def test_figures_skipped_with_reasons_when_empty(tmp_path: Path) -> None:
    from hmas.store.engine import make_engine, upgrade

    engine = make_engine(f"sqlite:///{tmp_path / 'empty.db'}")
    upgrade(engine)
    report = analyst.build(engine, "rules", Period())
    engine.dispose()
    figures, skipped = plots.figures(report)
    assert figures == {}
    assert skipped == {
        "equity": "no paper account for engine rules in the store yet",
        "drawdown": "no paper account for engine rules in the store yet",
        "reliability": "no closed trade with a stated probability in the period",
        "costs": "no LLM call in the period",
    }
    text = html.render(report, figures, skipped)
    assert "<img" not in text and "No equity figure: no paper account" in text


def _browser() -> Any:
    """Playwright's sync API with Debian's Chromium, or a skip (a failure under CI)."""
    missing = None
    if not CHROMIUM.exists() and shutil.which("chromium") is None:
        missing = "no Chromium at /usr/bin/chromium (apt-get install chromium)"
    else:
        try:
            from playwright.sync_api import sync_playwright
        except ImportError:
            missing = "the playwright package is not installed (uv sync installs it)"
    if missing is not None:
        if os.environ.get("CI"):
            pytest.fail(f"{missing}; CI installs it (.ci/run)")
        pytest.skip(missing)
    return sync_playwright


def test_page_in_headless_chromium(book: Any, tmp_path: Path) -> None:
    sync_playwright = _browser()
    text, _ = page(book)
    path = tmp_path / "report.html"
    html.write(path, text)
    shot = tmp_path / "report.png"
    executable = str(CHROMIUM if CHROMIUM.exists() else shutil.which("chromium"))
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=executable, args=["--no-sandbox"])
        try:
            tab = browser.new_page(viewport={"width": 1280, "height": 900})
            requests: list[str] = []
            tab.on("request", lambda r: requests.append(r.url))
            tab.goto(path.as_uri(), wait_until="load")
            tables = tab.locator("table").count()
            images = tab.evaluate(
                "() => [...document.images].map(i => ({id: i.id, ok: i.complete, "
                "w: i.naturalWidth, h: i.naturalHeight}))"
            )
            headings = tab.locator("h2").all_inner_texts()
            win_rate = tab.locator(".card").nth(2).inner_text()
            tab.screenshot(path=str(shot), full_page=True)
        finally:
            browser.close()
    assert tables == 12
    assert [i["id"] for i in images] == [
        "fig-equity",
        "fig-drawdown",
        "fig-reliability",
        "fig-costs",
    ]
    assert all(i["ok"] and i["w"] > 100 and i["h"] > 100 for i in images), images
    assert headings[:2] == ["Signals, outcomes and the paper account", "Per-agent attribution"]
    assert "25.0%" in win_rate
    # Nothing but the page itself (and its data: URIs) was asked for.
    assert {u.split(":", 1)[0] for u in requests} <= {"file", "data"}
    data = shot.read_bytes()
    assert data.startswith(b"\x89PNG") and len(data) > 50_000
    width = int.from_bytes(data[16:20], "big")
    height = int.from_bytes(data[20:24], "big")
    assert width == 1280 and height > 1500
