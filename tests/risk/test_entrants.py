"""A tournament's entrants: files found, names checked, each configuration validated."""

from __future__ import annotations

from pathlib import Path

import pytest

from hmas.errors import ConfigError, UsageError
from hmas.risk.entrants import load_entrants, rules_for
from hmas.settings import load_settings


def _dir(root: Path, name: str, files: dict[str, str]) -> Path:
    folder = root / name
    folder.mkdir()
    for file, text in files.items():
        (folder / file).write_text(text)
    return folder


def test_entrants_in_sorted_order_with_their_books(tmp_path: Path) -> None:
    cfgs = _dir(tmp_path, "cfgs", {"slow.toml": "", "fast.toml": "[risk]\nrisk_per_trade = 0.02\n"})
    entrants = load_entrants([cfgs])
    assert [(e.name, e.book) for e in entrants] == [("fast", "rules@fast"), ("slow", "rules@slow")]
    assert entrants[0].settings.risk.risk_per_trade == 0.02
    assert entrants[0].settings.config_hash() != entrants[1].settings.config_hash()
    # The command's flags apply to every entrant.
    llm = load_entrants([cfgs], decision={"engine": "llm"})
    assert [e.book for e in llm] == ["llm@fast", "llm@slow"]


def test_the_same_name_twice_is_refused(tmp_path: Path) -> None:
    one = _dir(tmp_path, "one", {"a.toml": ""})
    two = _dir(tmp_path, "two", {"a.toml": ""})
    with pytest.raises(UsageError) as info:
        load_entrants([one / "a.toml", two / "a.toml"])
    assert str(info.value) == (
        f"--tournament {two}/a.toml and {one}/a.toml have the same name 'a'; rename one "
        "(the name keys its paper book)"
    )


def test_a_name_that_cannot_key_a_book_is_refused(tmp_path: Path) -> None:
    cfgs = _dir(tmp_path, "cfgs", {"a.toml": "", "a b.toml": ""})
    with pytest.raises(UsageError, match=r"the name 'a b' must be 1 to 24 letters"):
        load_entrants([cfgs])
    long = _dir(tmp_path, "long", {"a.toml": "", f"{'x' * 25}.toml": ""})
    with pytest.raises(UsageError, match="rename the file"):
        load_entrants([long])


def test_an_entrant_may_not_set_the_store(tmp_path: Path) -> None:
    cfgs = _dir(tmp_path, "cfgs", {"a.toml": "", "b.toml": "db_url = 'sqlite:///x.db'\n"})
    with pytest.raises(ConfigError, match=r"b\.toml sets db_url, which is the command's"):
        load_entrants([cfgs])


@pytest.mark.parametrize(
    ("section", "problem"),
    [
        (
            {"weights": [0.5, -0.1, 0.6]},
            "tournament.weights (HMAS_TOURNAMENT__WEIGHTS): must all be above 0, not -0.1",
        ),
        ({"weights": []}, "tournament.weights (HMAS_TOURNAMENT__WEIGHTS): is empty"),
        ({"window": "0d"}, "tournament.window (HMAS_TOURNAMENT__WINDOW): must be above 0"),
    ],
)
def test_bad_tournament_settings(section: dict[str, object], problem: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(tournament=section)
    assert problem in str(info.value)


def test_rules_for_a_count(tmp_path: Path) -> None:
    settings = load_settings(tournament={"weights": [0.6, 0.4], "window": "14d", "rerank": "1d"})
    rules = rules_for(settings, 2)
    assert (rules.window_ms, rules.rerank_ms, rules.weights) == (
        14 * 86_400_000,
        86_400_000,
        (0.6, 0.4),
    )
    with pytest.raises(UsageError, match="2 weights for 3 configurations"):
        rules_for(settings, 3)


def test_a_book_name_is_at_most_32_characters() -> None:
    settings = load_settings()
    assert settings.book_name == "rules"
    assert settings.for_book("rules@x").book_name == "rules@x"
    assert settings.book_name == "rules"  # a copy: the original keeps its book
    with pytest.raises(ValueError, match="1 to 32 characters"):
        settings.for_book("x" * 33)
