"""``hmas run`` as a real process: SIGTERM finishes the current symbol and exits cleanly."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path


def test_sigterm_stops_the_loop_cleanly(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HMAS_")}
    env["HMAS_DATA_DIR"] = str(tmp_path)
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "hmas",
            "run",
            "-s",
            "BTC-USD",
            "--source",
            "sample",
            "--iterations",
            "-1",
            "--sleep-seconds",
            "60",
            "--json",
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stderr is not None
    deadline = time.monotonic() + 60
    for line in proc.stderr:  # plain log lines: stderr is not a terminal
        if " BTC-USD done " in line or time.monotonic() > deadline:
            break
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    (line,) = out.splitlines()  # stopped during the first iteration or the sleep after it
    outcome = json.loads(line)
    assert (outcome["iteration"], outcome["symbol"]) == (1, "BTC-USD")
    assert outcome["status"] == "ok"  # the current symbol was finished
    assert "SIGTERM received" in err
