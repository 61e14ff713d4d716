"""``hmas run --metrics-port`` scraped on loopback while it runs; ``hmas metrics --textfile``;
every bad input refused with one line and exit 2."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from typer.testing import Result

from hmas.report.queries import summary
from hmas.store.engine import make_engine

RUN = ("run", "-s", "BTC-USD", "ETH-USD", "--source", "sample")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def values(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_a_scrape_during_the_run_agrees_with_the_store(tmp_path: Path) -> None:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("HMAS_")}
    env["HMAS_DATA_DIR"] = str(tmp_path)
    proc = subprocess.Popen(
        [sys.executable, "-m", "hmas", *RUN, "--iterations", "2", "--sleep-seconds", "3",
         "--metrics-port", str(port)],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    scraped = None
    deadline = time.monotonic() + 90
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=2).text
            except httpx.TransportError:
                time.sleep(0.1)
                continue
            # The first iteration is over (the run is sleeping): what the store holds now.
            if 'hmas_runs_total{status="ok"}' in text:
                scraped = values(text)
                break
            time.sleep(0.1)
    finally:
        _, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert scraped is not None, "no scrape while the run was going"
    engine = make_engine(f"sqlite:///{tmp_path / 'hmas.db'}")
    try:
        stored = summary(engine, "rules")
    finally:
        engine.dispose()
    for symbol, decisions in stored["signals"].items():
        for decision, n in decisions.items():
            key = ("hmas_signals_total", (("decision", decision), ("symbol", symbol)))
            assert scraped.get(key, 0) == n
    account = (("currency", "USD"), ("engine", "rules"))
    assert scraped[("hmas_paper_equity", account)] == stored["account"]["equity"]
    assert scraped[("hmas_paper_open_positions", account)] == len(stored["open_positions"])
    assert scraped[("hmas_kill_switch", ())] == 0
    assert scraped[("hmas_runs_total", (("status", "ok"),))] == 1
    assert scraped[("hmas_last_run_duration_seconds", ())] > 0
    # The port is free again once the run has ended (connections may linger in TIME_WAIT).
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", port))
        s.listen()


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (("--metrics-port", "0"), "--metrics-port must be between 1 and 65535, got 0"),
        (("--metrics-port", "65536"), "--metrics-port must be between 1 and 65535, got 65536"),
        (
            ("--metrics-port", "9108", "--metrics-host", "example.org"),
            "--metrics-host must be an IP address such as 127.0.0.1 or 0.0.0.0, got 'example.org'",
        ),
        (("--metrics-host", "0.0.0.0"), "--metrics-host needs --metrics-port"),
    ],
)
def test_a_bad_metrics_option_is_refused_before_any_work(
    hmas: Callable[..., Result], tmp_path: Path, extra: tuple[str, ...], message: str
) -> None:
    result = hmas(*RUN, "--once", *extra)
    assert (result.exit_code, result.stdout, result.stderr) == (2, "", f"Error: {message}\n")
    assert not (tmp_path / "home" / "hmas.db").exists()


def test_a_port_in_use_is_refused_before_any_work(
    hmas: Callable[..., Result], tmp_path: Path
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = hmas(*RUN, "--once", "--metrics-port", str(port))
    assert result.exit_code == 2
    assert result.stderr == (
        f"Error: cannot serve metrics on 127.0.0.1:{port}: the port is in use; "
        "choose another --metrics-port\n"
    )
    assert not (tmp_path / "home" / "hmas.db").exists()


def test_metrics_textfile_is_written_whole(hmas: Callable[..., Result], tmp_path: Path) -> None:
    assert hmas(*RUN, "--once").exit_code == 0
    out = tmp_path / "textfile"
    out.mkdir()
    (out / "hmas.prom").write_text("old\n")
    result = hmas("metrics", "--textfile", str(out / "hmas.prom"))
    assert (result.exit_code, result.stdout, result.stderr) == (0, "", "")
    assert [p.name for p in out.iterdir()] == ["hmas.prom"]  # no temporary file left
    written = values((out / "hmas.prom").read_text())
    printed = hmas("metrics")
    assert printed.exit_code == 0 and values(printed.stdout).keys() == written.keys()
    assert written[("hmas_signals_total", (("decision", "REJECTED"), ("symbol", "BTC-USD")))] == 1


@pytest.mark.parametrize(
    ("target", "message"),
    [
        ("missing/hmas.prom", "--textfile {p}: the directory {d} does not exist; create it first"),
        ("adir", "--textfile {p} is a directory; name a file such as {p}/hmas.prom"),
        ("hmas.txt", "--textfile {p} does not end in .prom; node-exporter's textfile collector "
         "reads only *.prom files"),
        ("afile/hmas.prom", "--textfile {p}: the directory {d} is not a directory; create it "
         "first"),
    ],
)  # fmt: skip
def test_a_bad_textfile_is_refused_before_the_store_is_read(
    hmas: Callable[..., Result], tmp_path: Path, target: str, message: str
) -> None:
    (tmp_path / "adir").mkdir()
    (tmp_path / "afile").write_text("x")
    path = tmp_path / target
    result = hmas("metrics", "--textfile", str(path))
    expected = message.format(p=path, d=path.parent)
    assert (result.exit_code, result.stdout, result.stderr) == (2, "", f"Error: {expected}\n")


def test_metrics_textfile_and_json_together_are_refused(hmas: Callable[..., Result]) -> None:
    result = hmas("metrics", "--textfile", "x.prom", "--json")
    assert (result.exit_code, result.stderr) == (
        2,
        "Error: use either --textfile or --json, not both\n",
    )


def test_metrics_of_no_store_exits_2(hmas: Callable[..., Result]) -> None:
    result = hmas("metrics", "--json")
    assert result.exit_code == 2 and result.stderr.startswith("Error: ")
