"""One rules signal from stored candles, in process (target <= 20 ms median), and
``hmas run --symbols BTC-USD --source sample --once`` as a fresh process (target <= 2.5 s)."""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from sqlmodel import Session

from benchmarks.common import median_ms, report


def _in_process(tmp: Path) -> None:
    from hmas.data.fetch import FetchRequest, fetch_candles
    from hmas.decision.service import build_analysis, decide_signal, load_inputs
    from hmas.risk import ledger
    from hmas.settings import load_settings
    from hmas.store import open_store
    from hmas.store.candles import CandleStore

    settings = load_settings(db_url=f"sqlite:///{tmp / 'bench.db'}")
    engine = open_store(settings)
    store = CandleStore(engine)
    fetch_candles(
        store,
        settings,
        FetchRequest(symbols=["BTC-USD", "ETH-USD"], timeframe="1h", source="sample", limit=2000),
    )
    with Session(engine) as session:  # the paper account, as the store's first decision made it
        ledger.get_account(session, settings, "rules")
        session.commit()

    def one_signal() -> None:
        inputs = load_inputs(engine, settings, "sample", "BTC-USD", "1h")
        analysis = build_analysis(inputs, settings)
        analysis.id = 0  # not stored: this measures the computation, not the insert
        with Session(engine) as session:
            state = ledger.guardian_state(
                session, settings, "rules", "BTC-USD", analysis.bar_ts, 3_600_000
            )
            session.rollback()
        decide_signal(analysis, settings, state)

    med = median_ms(one_signal, runs=30, warmup=3)
    bars = len(load_inputs(engine, settings, "sample", "BTC-USD", "1h").candles)
    report(
        f"one rules signal from stored candles ({bars} bars read, 2 symbols)",
        f"{med:.1f} ms",
        "<= 20 ms median",
        med <= 20,
    )
    engine.dispose()


def _fresh_process(tmp: Path) -> None:
    exe = shutil.which("hmas", path=str(Path(sys.executable).parent)) or shutil.which("hmas")
    cmd = [exe] if exe else [sys.executable, "-m", "hmas"]
    cmd += ["run", "--symbols", "BTC-USD", "--source", "sample", "--once", "--json"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("HMAS_")}
    env["HMAS_DATA_DIR"] = str(tmp / "run")
    samples = []
    for i in range(6):
        start = time.perf_counter()
        subprocess.run(cmd, capture_output=True, check=True, env=env)
        elapsed = time.perf_counter() - start
        if i == 0:
            report("hmas run --once, fresh process, empty store (first fetch)", f"{elapsed:.2f} s")
        else:
            samples.append(elapsed)
    med = statistics.median(samples)
    report(
        "hmas run --symbols BTC-USD --source sample --once (fresh process, median of 5)",
        f"{med:.2f} s",
        "<= 2.5 s",
        med <= 2.5,
    )


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        _in_process(Path(tmp))
        _fresh_process(Path(tmp))


if __name__ == "__main__":
    main()
