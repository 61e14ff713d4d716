"""Calibration of the stated numbers on every file in ``../shared/data/ohlcv``.

    uv run --no-sync python benchmarks/calibration.py [--json FILE] [--only NAME]

Each file is imported as ``hmas fetch --source file`` does (each symbol of the wide Bitstamp
file, with the file's other symbols stored beside it as its universe), one history pass
(``compute_history``, the live decision at every bar) runs over it with the default
settings, and every proposal is followed by the one simulator (``hmas.decision.measure``).
Printed per series: proposals, approvals, expectancy in R net of the auditor's costs with its
95% interval (all proposals, approved ones), the Brier score of the stated win probability
against a constant; then, pooled over the series, whether a shift of the probability by the
votes, the macro regime or the conviction improves the Brier score out of sample (fitted on
the earlier half of each series' resolved proposals, scored on the later half).

Nothing is tuned here: the settings are the defaults.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

OHLCV = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "ohlcv"

#: (file, symbol, timeframe, the other symbols of the same file stored beside it).
SERIES = [
    ("coinbase_btc_usd_1h.csv", "BTC-USD", "1h", ()),
    ("bitstamp_btc_eth_ltc_usd_1d.csv", "BTC-USD", "1d", ("ETH-USD", "LTC-USD")),
    ("bitstamp_btc_eth_ltc_usd_1d.csv", "ETH-USD", "1d", ("BTC-USD", "LTC-USD")),
    ("bitstamp_btc_eth_ltc_usd_1d.csv", "LTC-USD", "1d", ("BTC-USD", "ETH-USD")),
    ("freqtrade_alt_btc_1m_gaps.json", "ALT-BTC", "1m", ()),
    ("freqtrade_eth_btc_5m.feather", "ETH-BTC", "5m", ()),
]


def run_series(
    directory: Path, name: str, symbol: str, timeframe: str, others: tuple[str, ...]
) -> tuple[Any, Any]:
    """Import one file into a fresh store, run the history pass, follow every proposal."""
    from hmas.data.fetch import FetchRequest, fetch_candles
    from hmas.decision.history import compute_history, read_inputs
    from hmas.decision.measure import follow_proposals, measure
    from hmas.settings import load_settings
    from hmas.store import open_store
    from hmas.store.candles import CandleStore

    # A pair quoted in BTC is measured with the account in BTC (10 BTC, about the default
    # USD 100,000 at the 2019 price of roughly USD 10,000 a BTC): the R multiples and the
    # probabilities do not depend on the account's currency, only sizes and money do.
    quote = symbol.split("-")[1]
    paper: dict[str, Any] = {}
    if quote not in ("USD", "USDT", "USDC"):
        paper = {"paper": {"account_currency": quote, "starting_equity": 10.0}}
    settings = load_settings(db_url=f"sqlite:///{directory / 'store.db'}", **paper)
    engine = open_store(settings)
    try:
        store = CandleStore(engine)
        for sym in (symbol, *others):
            request = FetchRequest([sym], timeframe, source="file", path=OHLCV / name)
            fetch_candles(store, settings, request)
        inputs = read_inputs(store, settings, "file", symbol, timeframe, None, None)
        history = compute_history(inputs, settings)
        followed = follow_proposals(history, settings)
        label = f"{name} {symbol} {timeframe}"
        return measure(label, len(history), followed), followed
    finally:
        engine.dispose()


def _r(ci: Any) -> str:
    if ci.mean is None:
        return "n/a (0)"
    if ci.low is None:
        return f"{ci.mean:+.2f} (n={ci.count})"
    return f"{ci.mean:+.2f} [{ci.low:+.2f}, {ci.high:+.2f}] (n={ci.count})"


def _gain(ci: Any) -> str:
    if ci is None or ci.low is None:
        return "n/a"
    return f"{ci.mean:+.5f} [{ci.low:+.5f}, {ci.high:+.5f}]"


def _history(m: Any) -> str:
    if m.history_median is None:
        return "n/a"
    return f"{m.history_median:g}; {m.no_history}"


def _b(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def main(argv: list[str] | None = None) -> None:
    from hmas.decision.measure import adjustment_tests, fixed_shift_test

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", type=Path, help="also write every figure to this file")
    parser.add_argument("--only", help="only the series whose file name contains this")
    args = parser.parse_args(argv)
    if not OHLCV.is_dir():
        raise SystemExit(f"needs the reference data in {OHLCV}")
    measured, parts = [], []
    for name, symbol, timeframe, others in SERIES:
        if args.only and args.only not in name:
            continue
        started = time.perf_counter()
        with tempfile.TemporaryDirectory() as tmp:
            m, followed = run_series(Path(tmp), name, symbol, timeframe, others)
        seconds = time.perf_counter() - started
        print(f"{m.series}: {m.bars} bars in {seconds:.1f} s", file=sys.stderr, flush=True)
        measured.append(m)
        parts.append(followed)

    print(
        "| series | bars | proposals | history (median; none) "
        "| resolved (win/loss/expired) | approvals "
        "| expectancy R, proposals [95% CI] | before costs | expectancy R, approvals "
        "| Brier stated | Brier constant | Brier base rate |"
    )
    print("|---|---:|---:|---|---|---:|---|---|---|---:|---:|---:|")
    for m in measured:
        base = m.calibration_base.brier if m.calibration_base is not None else None
        print(
            f"| {m.series} | {m.bars} | {m.proposals} | {_history(m)} | {m.resolved} "
            f"({m.wins}/{m.losses}/{m.expired}) | {m.approvals} | {_r(m.expectancy)} "
            f"| {_r(m.expectancy_gross)} "
            f"| {_r(m.expectancy_approved)} | {_b(m.calibration.brier)} "
            f"| {_b(m.calibration.brier_constant)} | {_b(base)} |"
        )
    # The vote shift as the mother applied it before (0.2 · (2 · consensus − 1)), then every
    # candidate shift fitted on the earlier halves and scored on the later ones.
    tests = [fixed_shift_test(parts, "votes", 0.2), *adjustment_tests(parts)]
    print(
        "\nShifts of the probability (fixed: as the mother applied it before, on every "
        "resolved proposal; the others fitted on the earlier halves, scored on the later):"
    )
    print(
        "| shift | train | test | coefficient | Brier without | Brier with "
        "| gain [95% CI] | improves |"
    )
    print("|---|---:|---:|---:|---:|---:|---|---|")
    for t in tests:
        coefficient = "n/a" if t.coefficient is None else f"{t.coefficient:+.4f}"
        print(
            f"| {t.name} | {t.train} | {t.test} | {coefficient} | {_b(t.brier_without)} "
            f"| {_b(t.brier_with)} | {_gain(t.gain)} | {t.improves} |"
        )
    if args.json:
        payload = {
            "series": [m.as_dict() for m in measured],
            "shifts": [t.as_dict() for t in tests],
        }
        args.json.write_text(json.dumps(payload, indent=1) + "\n")


if __name__ == "__main__":
    main()
