"""The voters' agreement on the reference OHLCV files (docs/agents.md, "Independent voters").

    uv run python benchmarks/agreement.py                 # markdown tables on stdout
    uv run python benchmarks/agreement.py --json          # the same as JSON
    uv run python benchmarks/agreement.py --data DIR      # another copy of the files

Every file of ``../shared/data/ohlcv/`` (each symbol of the wide Bitstamp file) is imported
with ``hmas fetch --source file`` into a fresh store of its own (the symbols of one file side
by side, so they form each other's universe), decided bar by bar with one history pass
(``hmas.decision.history.compute_history``, the decisions a live ``decide`` takes) under the
default settings, and measured by ``hmas.decision.agreement.history_agreement``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

DATA = ROOT.parent / "shared" / "data" / "ohlcv"

#: (file, timeframe, symbols stored together; each is measured).
FILES: list[tuple[str, str, tuple[str, ...]]] = [
    ("coinbase_btc_usd_1h.csv", "1h", ("BTC-USD",)),
    ("bitstamp_btc_eth_ltc_usd_1d.csv", "1d", ("BTC-USD", "ETH-USD", "LTC-USD")),
    ("freqtrade_alt_btc_1m_gaps.json", "1m", ("ALT-BTC",)),
    ("freqtrade_eth_btc_5m.feather", "5m", ("ETH-BTC",)),
]


def _import(path: Path, symbol: str, timeframe: str, env: dict[str, str]) -> None:
    """``hmas fetch --source file`` of one symbol, the real command in its own process."""
    command = [sys.executable, "-m", "hmas", "fetch", "--source", "file", "--path", str(path)]
    command += ["-s", symbol, "-t", timeframe, "--json"]
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"hmas fetch failed on {path.name} {symbol}: {done.stderr.strip()}")


def measure(data: Path) -> list[dict[str, Any]]:
    """The agreement of every series, as JSON-able rows."""
    from hmas.decision.agreement import history_agreement
    from hmas.decision.history import compute_history, read_inputs
    from hmas.settings import load_settings
    from hmas.store import open_store
    from hmas.store.candles import CandleStore

    rows = []
    for name, timeframe, symbols in FILES:
        with tempfile.TemporaryDirectory(prefix="hmas-agreement-") as home:
            env = {k: v for k, v in os.environ.items() if not k.startswith("HMAS_")}
            env["HMAS_DATA_DIR"] = home
            # The command of this checkout, whatever hmas the environment installed.
            env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
            for symbol in symbols:
                _import(data / name, symbol, timeframe, env)
            saved = os.environ.get("HMAS_DATA_DIR")
            os.environ["HMAS_DATA_DIR"] = home
            try:
                settings = load_settings()
                engine = open_store(settings)
                try:
                    store = CandleStore(engine)
                    for symbol in symbols:
                        start = time.perf_counter()
                        inputs = read_inputs(store, settings, "file", symbol, timeframe, None, None)
                        history = compute_history(inputs, settings)
                        agreement = history_agreement(history)
                        seconds = time.perf_counter() - start
                        print(f"{name} {symbol}: {seconds:.1f} s", file=sys.stderr, flush=True)
                        rows.append(
                            {
                                "file": name,
                                "symbol": symbol,
                                "timeframe": timeframe,
                                "agreement": agreement.as_dict(),
                                "markdown": _markdown(agreement, name, symbol, timeframe),
                            }
                        )
                finally:
                    engine.dispose()
            finally:
                if saved is None:
                    os.environ.pop("HMAS_DATA_DIR", None)
                else:
                    os.environ["HMAS_DATA_DIR"] = saved
    return rows


def _markdown(agreement: Any, name: str, symbol: str, timeframe: str) -> str:
    from hmas.decision.agreement import markdown

    return markdown(agreement, f"{name}: {symbol} {timeframe}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--json", action="store_true", help="print JSON instead of markdown")
    parser.add_argument("--data", type=Path, default=DATA, help=f"the OHLCV files (default {DATA})")
    args = parser.parse_args(argv)
    if not args.data.is_dir():
        raise SystemExit(f"no OHLCV files at {args.data}; pass --data DIR")
    rows = measure(args.data)
    if args.json:
        print(json.dumps([{k: v for k, v in r.items() if k != "markdown"} for r in rows], indent=2))
    else:
        print("\n\n".join(r["markdown"] for r in rows))


if __name__ == "__main__":
    main()
