"""``analyze``/``decide --at``: exactly the bar asked for, or a refusal naming the bars stored."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import Result

from hmas.decision.service import check_bar
from hmas.errors import UsageError
from hmas.market import datetime_to_ms, parse_when
from hmas.settings import load_settings
from hmas.store import open_store
from tests.cli.test_input_bad_input import refused, store_counts

Run = Callable[..., Result]


@pytest.fixture
def hmas() -> Run:
    """The real command, run in process (as tests/cli's fixture of the same name)."""
    from typer.testing import CliRunner

    from hmas.cli import app

    runner = CliRunner()
    return lambda *args: runner.invoke(app, list(args), catch_exceptions=False)


SPAN = "ABC-USD 1h on file is stored from 2024-03-01T00:00Z to 2024-03-02T23:00Z"


def ms(text: str) -> int:
    return datetime_to_ms(parse_when(text))


@pytest.fixture
def series(hmas: Run, tmp_path: Path) -> None:
    """48 hourly ABC-USD candles on 2024-03-01..02 with 05:00 and 06:00 of the 2nd missing."""
    rows = ["ts,open,high,low,close,volume"]
    for hour in range(48):
        if hour in (29, 30):
            continue
        day, h = 1 + hour // 24, hour % 24
        price = 100 + hour
        rows.append(f"2024-03-0{day}T{h:02d}:00Z,{price},{price + 2},{price - 1},{price + 1},5")
    path = tmp_path / "abc.csv"
    path.write_text("\n".join(rows) + "\n")
    result = hmas("fetch", "--source", "file", "--path", str(path), "-s", "ABC-USD")
    assert result.exit_code == 0, result.stderr


@pytest.mark.parametrize("command", ["analyze", "decide"])
def test_decides_exactly_the_bar_asked_for(hmas: Run, series: None, command: str) -> None:
    result = hmas(command, "ABC-USD", "--at", "2024-03-02T10:00", "--json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["bar_ts"] == "2024-03-02T10:00:00+00:00"
    # The same instant written with an offset is the same bar.
    again = hmas(command, "ABC-USD", "--at", "2024-03-02T12:00+02:00", "--json")
    assert json.loads(again.stdout)["bar_ts"] == "2024-03-02T10:00:00+00:00"


CASES = [
    (
        "2024-03-02T12:30",
        f"--at 2024-03-02T12:30Z is not on a 1h bar boundary; {SPAN}; "
        "nearest stored bars: 2024-03-02T12:00Z and 2024-03-02T13:00Z",
    ),
    (
        "2024-03-02T12:00:30",
        f"--at 2024-03-02T12:00:30Z is not on a 1h bar boundary; {SPAN}; "
        "nearest stored bars: 2024-03-02T12:00Z and 2024-03-02T13:00Z",
    ),
    (
        "2024-03-02T05:00",
        f"--at 2024-03-02T05:00Z falls in a gap of the stored candles; {SPAN}; "
        "nearest stored bars: 2024-03-02T04:00Z and 2024-03-02T07:00Z",
    ),
    ("2024-02-01", f"--at 2024-02-01T00:00Z is before the first stored bar; {SPAN}"),
    (
        "2024-03-05T00:00",
        f"--at 2024-03-05T00:00Z is after the last stored bar; fetch newer candles first; {SPAN}",
    ),
]


@pytest.mark.parametrize(("at", "message"), CASES)
@pytest.mark.parametrize("command", ["analyze", "decide"])
def test_refuses_other_bars(hmas: Run, series: None, command: str, at: str, message: str) -> None:
    refused(hmas, [command, "ABC-USD", "--at", at], message)


@pytest.mark.parametrize("command", ["analyze", "decide"])
def test_refuses_the_future_and_the_open_bar(hmas: Run, series: None, command: str) -> None:
    from hmas.market import last_closed_open_ms, ms_to_datetime

    before = store_counts()
    future = hmas(command, "ABC-USD", "--at", "2999-01-01")
    assert future.exit_code == 2
    assert future.stderr.startswith("Error: --at 2999-01-01T00:00Z is in the future (now is ")
    assert future.stderr.endswith(f"); {SPAN}\n")
    open_bar = last_closed_open_ms("1h") + 3_600_000
    text = ms_to_datetime(open_bar).strftime("%Y-%m-%dT%H:%M")
    still_open = hmas(command, "ABC-USD", "--at", text)
    assert still_open.exit_code == 2
    assert still_open.stderr.startswith(f"Error: --at {text}Z is a 1h bar not closed yet (it ")
    assert store_counts() == before


def test_check_bar_with_a_fixed_clock(hmas: Run, series: None) -> None:
    engine = open_store(load_settings())
    now = ms("2024-03-02T23:40")  # the 23:00 bar is still open
    check_bar(engine, "file", "ABC-USD", "1h", ms("2024-03-02T22:00"), now=now)
    with pytest.raises(UsageError) as info:
        check_bar(engine, "file", "ABC-USD", "1h", ms("2024-03-02T23:00"), now=now)
    assert str(info.value) == (
        "--at 2024-03-02T23:00Z is a 1h bar not closed yet (it closes at 2024-03-03T00:00Z); "
        f"{SPAN}"
    )
    with pytest.raises(UsageError) as info:
        check_bar(engine, "file", "ABC-USD", "1h", ms("2024-03-03T00:00"), now=now)
    assert (
        str(info.value)
        == f"--at 2024-03-03T00:00Z is in the future (now is 2024-03-02T23:40Z); {SPAN}"
    )
    engine.dispose()
