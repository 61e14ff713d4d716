"""Every table and panel at 80 columns on a terminal and in a pipe: nothing cut, times in ISO.

Terminal runs set TTY_COMPATIBLE=1 and COLUMNS=80 (Rich honours both), pipe runs set
TTY_COMPATIBLE=0; both run the real command in process. One real pseudo-terminal run checks the
environment variables stand for a real terminal.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator

import pytest
from typer.testing import CliRunner

from hmas.cli import app
from hmas.cli.render import Col, iso, price_digits, table_lines

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07]*\x07")
BOX = re.compile(r"[│╭╮╰╯─━┃┏┓┗┛]")
LOOSE = {
    "HMAS_MOTHER__MIN_EXPECTED_VALUE_R": "-100",
    "HMAS_MOTHER__MIN_CONSENSUS": "0",
    "HMAS_MOTHER__MIN_CONFIDENCE": "0",
    "HMAS_EXECUTION__MAX_COST_R": "100",
    "HMAS_EXECUTION__MAX_COST_TO_TARGET": "100",
    "HMAS_MACRO__HIGH_VOL_PCT": "1",
}


def invoke(args: list[str], *, terminal: bool) -> tuple[int, str, str]:
    env = {"TTY_COMPATIBLE": "1" if terminal else "0", "COLUMNS": "80", "NO_COLOR": "1"}
    result = CliRunner().invoke(app, args, env=env, catch_exceptions=False)
    return result.exit_code, ANSI.sub("", result.stdout), ANSI.sub("", result.stderr)


def norm(text: str) -> str:
    """Text with borders and line breaks gone: wrapped lines read as one."""
    return " ".join(BOX.sub(" ", text).split())


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, object]]:
    """A sample store with approved, rejected and closed signals, and a file series with a gap."""
    from sqlalchemy import text

    from hmas.decision.service import load_inputs
    from hmas.market import ms_to_datetime
    from hmas.settings import load_settings
    from hmas.store.engine import make_engine
    from tests.decision.conftest import setup_bars

    tmp = tmp_path_factory.mktemp("out")
    url = f"sqlite:///{tmp / 'out.db'}"
    db = ["--db-url", url]
    with pytest.MonkeyPatch.context() as mp:
        for key in list(os.environ):
            if key.startswith("HMAS_"):
                mp.delenv(key)
        mp.setenv("HMAS_DATA_DIR", str(tmp))
        for key, value in LOOSE.items():
            mp.setenv(key, value)
        runner = CliRunner()
        fetched = runner.invoke(
            app, [*db, "fetch", "--source", "sample", "-s", "ETH-USD", "BTC-USD", "--limit", "1500"]
        )
        assert fetched.exit_code == 0, fetched.stderr
        engine = make_engine(url)
        settings = load_settings()
        found = setup_bars(load_inputs(engine, settings, "sample", "ETH-USD", "1h"), settings, 25)
        bars, later = found[:4], found[4:]
        ids = []
        for bar in bars:
            res = runner.invoke(
                app, [*db, "decide", "ETH-USD", "--at", ms_to_datetime(bar).isoformat(), "--json"]
            )
            ids.append(json.loads(res.stdout))
        # Those past bars are historical (no position). A live approval: make a setup bar the
        # latest stored one, decide it, then store the later candles again so it settles.
        live_id = None
        for bar in reversed(later):
            with engine.begin() as conn:
                conn.execute(
                    text("DELETE FROM candle WHERE symbol = 'ETH-USD' AND ts > :t"), {"t": bar}
                )
            live = json.loads(runner.invoke(app, [*db, "decide", "ETH-USD", "--json"]).stdout)
            if live["decision"] == "APPROVED":
                live_id = live["id"]
                break
        engine.dispose()
        assert live_id is not None, "no live approval on the sample"
        refetched = runner.invoke(
            app, [*db, "fetch", "--source", "sample", "-s", "ETH-USD", "--limit", "1500"]
        )
        assert refetched.exit_code == 0, refetched.stderr
        ran = runner.invoke(
            app, [*db, "run", "-s", "ETH-USD", "BTC-USD", "--source", "sample", "--once"]
        )
        assert ran.exit_code == 0, ran.stderr
        csv = tmp / "abc.csv"
        csv.write_text(
            "ts,open,high,low,close,volume\n"
            "2024-03-01T00:00Z,1,2,0.5,1.5,3\n2024-03-01T01:00Z,1,2,0.5,1.5,3\n"
            "2024-03-01T04:00Z,1,2,0.5,1.5,3\n"
        )
        filed = runner.invoke(
            app, [*db, "fetch", "--source", "file", "--path", str(csv), "-s", "ABC-USD"]
        )
        assert filed.exit_code == 0, filed.stderr
        strict = tmp / "strict.toml"
        strict.write_text("[mother]\nmin_consensus = 0.99\n")
        signals = json.loads(
            runner.invoke(app, [*db, "signals", "list", "--json", "--limit", "100"]).stdout
        )
    approved = next(s for s in signals if s["id"] == live_id)
    rejected = [s for s in signals if s["decision"] == "REJECTED"]
    yield {
        "db": db,
        "approved": approved,
        "rejected": rejected,
        "strict": str(strict),
        "signals": signals,
    }


def commands(store: dict[str, object]) -> dict[str, list[str]]:
    approved = store["approved"]
    rejected = store["rejected"]
    assert isinstance(approved, dict) and isinstance(rejected, list)
    return {
        "fetch summary": ["fetch", "--source", "sample", "-s", "ETH-USD", "BTC-USD"],
        "candles": ["candles", "ETH-USD", "-e", "sample", "--tail", "5"],
        "gaps": ["candles", "ABC-USD", "-e", "file", "--gaps"],
        "series": ["candles"],
        "config": ["config", "show"],
        "key_values": ["db", "status"],
        "analysis panels": ["analyze", "ETH-USD", "-e", "sample"],
        "signal panel": ["decide", "--analysis", str(approved["analysis_id"])],
        "signals table": ["signals", "list", "--limit", "100"],
        "signal detail (approved)": ["signals", "show", str(approved["id"])],
        "signal detail (rejected)": ["signals", "show", str(rejected[0]["id"])],
        "replay result": [
            "--config",
            str(store["strict"]),
            "replay",
            str(approved["id"]),
        ],
        "report": ["report"],
        "run summary": ["run", "-s", "ETH-USD", "BTC-USD", "--source", "sample", "--once"],
    }


NAMES = [
    "fetch summary",
    "candles",
    "gaps",
    "series",
    "config",
    "key_values",
    "analysis panels",
    "signal panel",
    "signals table",
    "signal detail (approved)",
    "signal detail (rejected)",
    "replay result",
    "report",
    "run summary",
]
SAMPLE_SHOWN = set(NAMES) - {"gaps", "config", "key_values", "replay result"}


def check_common(name: str, out: str) -> None:
    assert out.strip(), name
    assert "NoneR" not in out and "None" not in out.replace("news_summary", ""), out
    assert not re.search(r"\b1\d{12}\b", out), f"{name}: epoch milliseconds in {out}"
    if name != "config":  # settings show exactly as configured
        assert not re.search(r"\d\.\d{9,}", out), f"{name}: float with 9+ digits in {out}"
    assert not re.search(
        r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00", out.split("trade journal", maxsplit=1)[0]
    )
    if name in SAMPLE_SHOWN:
        assert "SAMPLE DATA" in out, f"{name}: sample data not marked"


@pytest.mark.parametrize("name", NAMES)
def test_at_80_columns_on_a_terminal(store: dict[str, object], name: str) -> None:
    args = commands(store)[name]
    code, out, _ = invoke([*store["db"], *args], terminal=True)  # type: ignore[misc]
    assert code == 0, out
    too_wide = [line for line in out.splitlines() if len(line) > 80]
    assert too_wide == [], f"{name}: lines over 80 columns"
    check_common(name, out)
    assert "…" not in out, f"{name}: a field was cut"
    if name == "signals table":
        for sig in store["signals"]:  # type: ignore[attr-defined]
            if sig["rejection_reason"]:
                assert norm(sig["rejection_reason"]) in norm(out)
        assert not any(len(line.split()) == 1 and len(line) < 6 for line in out.splitlines())
    if name == "signal detail (approved)":
        approved = store["approved"]
        assert isinstance(approved, dict)
        assert f"entry  {approved['entry']:.2f}" in norm(out).replace("entry ", "entry  ")


@pytest.mark.parametrize("name", NAMES)
def test_in_a_pipe(store: dict[str, object], name: str) -> None:
    args = commands(store)[name]
    code, out, _ = invoke([*store["db"], *args], terminal=False)  # type: ignore[misc]
    assert code == 0, out
    check_common(name, out)
    assert "…" not in out and "\x1b" not in out and "╭" not in out, f"{name}: {out}"


def test_signals_list_in_a_pipe_keeps_full_reasons_in_stable_columns(
    store: dict[str, object],
) -> None:
    db: list[str] = store["db"]  # type: ignore[assignment]
    code, out, _ = invoke([*db, "signals", "list", "--limit", "100"], terminal=False)
    assert code == 0
    signals = json.loads(
        invoke([*db, "signals", "list", "--limit", "100", "--json"], terminal=False)[1]
    )
    assert {s["decision"] for s in signals} == {"APPROVED", "REJECTED"}
    lines = out.splitlines()
    header = lines[1]
    assert header.split()[:3] == ["id", "bar", "(UTC)"]
    rows = lines[2 : 2 + len(signals)]
    for sig, line in zip(signals, rows, strict=True):
        reason = sig["rejection_reason"] or "—"
        assert line.endswith(reason), line  # the whole reason, on the row's one line
        assert line.index(reason) == header.index("reason")  # every row's columns line up
        assert line[header.index("bar") :].startswith(iso(sig["bar_ts"]))
        if sig["decision"] == "APPROVED":
            digits = price_digits(sig["entry"])
            assert f"{sig['entry']:.{digits}f}" in line


def test_run_in_a_pipe_marks_sample_data_in_its_log_and_table(store: dict[str, object]) -> None:
    code, out, err = invoke(
        [*store["db"], "run", "-s", "BTC-USD", "--source", "sample", "--once"],
        terminal=False,  # type: ignore[misc]
    )
    assert code == 0
    assert out.splitlines()[0].endswith("[SAMPLE DATA]")
    assert all(line.endswith("[SAMPLE DATA]") for line in err.splitlines() if " BTC-USD " in line)


def test_live_run_view_fits_80_columns(store: dict[str, object]) -> None:
    code, _, err = invoke(
        [*store["db"], "run", "-s", "ETH-USD", "BTC-USD", "--source", "sample", "--once"],  # type: ignore[misc]
        terminal=True,
    )
    assert code == 0
    assert "hmas run  [SAMPLE DATA]" in err
    assert all(len(line) <= 80 for line in err.splitlines())


def test_json_times_have_iso_fields_beside_milliseconds(store: dict[str, object]) -> None:
    approved = store["approved"]
    assert isinstance(approved, dict)
    code, out, _ = invoke(
        [*store["db"], "signals", "show", str(approved["id"]), "--json"], terminal=False
    )  # type: ignore[misc]
    assert code == 0
    detail = json.loads(out)
    result, snapshot = detail["result"], detail["snapshot"]
    assert isinstance(result["fill_ts"], int)  # the existing keys stay as they were
    assert result["fill_ts_iso"] == iso_full(result["fill_ts"])
    assert snapshot["window_last_ts_iso"] == iso_full(snapshot["window_last_ts"])
    assert detail["position"]["opened_bar_ts_iso"] == iso_full(detail["position"]["opened_bar_ts"])
    assert isinstance(detail["signal"]["entry"], float)  # full precision in JSON


def iso_full(ms: int) -> str:
    from hmas.market import ms_to_datetime

    return ms_to_datetime(ms).isoformat()


def test_real_pseudo_terminal_at_80_columns(store: dict[str, object]) -> None:
    import fcntl
    import struct
    import subprocess
    import sys
    import termios

    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 50, 80, 0, 0))
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "TTY_COMPATIBLE")}
    env["TERM"] = "xterm"
    proc = subprocess.Popen(
        [sys.executable, "-m", "hmas", *store["db"], "signals", "list", "--limit", "100"],  # type: ignore[misc]
        stdout=slave,
        stderr=slave,
        env=env,
    )
    os.close(slave)
    chunks = []
    while True:
        try:
            data = os.read(master, 65536)
        except OSError:
            break
        if not data:
            break
        chunks.append(data)
    assert proc.wait(timeout=60) == 0
    os.close(master)
    out = ANSI.sub("", b"".join(chunks).decode()).replace("\r", "")
    assert "─" in out  # laid out for a terminal
    assert max(len(line) for line in out.splitlines()) <= 80
    assert "reason: " in out and "…" not in out


# --- the writer itself ---------------------------------------------------------------------


COLS = [Col("id", right=True), Col("price", right=True, detail=True), Col("why", text=True)]
ROWS = [["1", "33195.65", "a long reason " * 12], ["22", "—", "short"]]


def test_pipe_keeps_every_cell_whole() -> None:
    lines = [line for line, _ in table_lines(COLS, ROWS, None)]
    assert lines[0] == "id     price  why"
    assert lines[1] == " 1  33195.65  " + ("a long reason " * 12).rstrip()
    assert lines[2] == "22         —  short"


def test_terminal_wraps_text_in_its_column_when_wide_enough() -> None:
    lines = [line for line, _ in table_lines(COLS, ROWS, 60)]
    assert all(len(line) <= 60 for line in lines)
    assert lines[2].startswith(" 1  33195.65  a long reason")
    assert lines[3].startswith(" " * 14 + "long reason")  # continuation under its column


def test_terminal_moves_details_and_text_under_the_row_when_narrow() -> None:
    lines = [line for line, _ in table_lines(COLS, ROWS, 11)]
    assert lines[:3] == ["id", "──", " 1"]
    assert lines[3:5] == ["    price", "    33195.65"]  # wrapped, never cut
    assert lines[5:7] == ["    why: a", "    long"]
    assert "    price —" not in lines  # an empty detail line is left out


def test_terminal_last_resort_cuts_with_an_ellipsis() -> None:
    lines = [line for line, _ in table_lines([Col("a"), Col("b")], [["x" * 50, "y" * 50]], 40)]
    assert all(len(line) <= 40 for line in lines)
    assert lines[2].count("…") == 2


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (1707051600000, "2024-02-04T13:00Z"),
        (1707051601000, "2024-02-04T13:00:01Z"),
        ("2024-02-04T13:00:00+00:00", "2024-02-04T13:00Z"),
        ("2024-02-04T13:00:00.5", "2024-02-04T13:00:00Z"),
        (None, "—"),
    ],
)
def test_iso(value: object, text: str) -> None:
    assert iso(value) == text  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("price", "digits"),
    [(33195.65, 2), (3291.3, 2), (150.12, 2), (5.23, 4), (0.5, 5), (0.00001234, 9), (None, 2)],
)
def test_price_digits(price: float | None, digits: int) -> None:
    assert price_digits(price) == digits


def test_root_help_lists_only_commands_that_exist() -> None:
    from tests.cli.test_cli import all_commands

    result = CliRunner().invoke(app, ["--help"])
    assert result.exit_code == 0
    rows = result.stdout.split("Commands:")[1].splitlines()
    # A command's row starts two spaces in; wrapped help text is indented further.
    listed = {line.split()[0] for line in rows if line[:2] == "  " and line[2:3] not in " "}
    assert listed == {path[0] for path in all_commands()}
    assert "backtest" in listed
