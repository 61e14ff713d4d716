"""Build ``signals_model<N>.json``: analyses and signals stored by decision model N.

Run once per decision model from the repository root
(``uv run python -m tests.decision.snapshot.build``); the JSON is committed and
``tests/decision/test_snapshot.py`` checks that today's code reproduces every stored view,
round and guardian record of today's model, and that ``replay`` says identical. The snapshot of
an earlier model (``signals_v1.json``, model 1) stays: its records must still load, render and
replay, and replay must say which model decided them.

The store: the sample market's BTC-USD and ETH-USD hourly candles (1500 bars before a fixed
"now"), with three ETH-USD candles deleted so the missing-candles rule has bars to refuse.
Decisions are taken in time order through ``service.decide`` (so the guardian sees the paper
positions earlier approvals opened), under default and permissive settings, then with the kill
switch on.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
V1 = HERE / "signals_v1.json"


def snapshot_path(model: int) -> Path:
    """The snapshot of decision ``model`` (model 1's predates the naming)."""
    return V1 if model == 1 else HERE / f"signals_model{model}.json"


HOUR = 3_600_000
#: ETH-USD bars deleted from the store (offsets from the first bar), to create a gap, and
#: the approvable bars after it decided with the gap inside their lookback.
GAP = (1450, 1451, 1452)
GAP_DECISIONS = (1456, 1457, 1458)
PERMISSIVE: dict[str, Any] = {
    "mother": {"min_expected_value_r": -100.0, "min_consensus": 0.0, "min_confidence": 0.0},
    "execution": {"max_cost_r": 100.0, "max_cost_to_target": 100.0},
    "macro": {"high_vol_pct": 1.0},
}


def libraries() -> dict[str, str]:
    """The numeric libraries' versions and the CPU's numerics: computed views (and the sample
    market's candles) are bit-identical only under the same."""
    import numpy
    import pandas
    import talib

    return {
        "numpy": numpy.__version__,
        "pandas": pandas.__version__,
        "ta-lib": talib.__version__,
        "numerics": numerics(),
    }


def numerics() -> str:
    """A fingerprint of numpy's float64 ``exp``, ``log``, ``log1p``, ``expm1`` and ``power``.

    numpy picks their implementation by the CPU's instruction set (AVX-512 has its own), and
    the implementations differ in the last bit of some results: the sample market's prices, and
    every log return and volatility computed from them, then differ in their last bits too.
    """
    import hashlib

    import numpy as np

    x = np.linspace(-30.0, 30.0, 20_001)
    y = np.abs(x) + 1e-3
    digest = hashlib.sha256()
    for values in (np.exp(x), np.log(y), np.log1p(y), np.expm1(x), np.power(y, 0.37)):
        digest.update(np.ascontiguousarray(values).tobytes())
    return digest.hexdigest()[:16]


def build_store(url: str) -> Any:
    """A migrated store holding the sample candles with the gap; returns the engine."""
    from hmas.market import index_to_ms
    from hmas.store.candles import CandleStore
    from hmas.store.engine import make_engine, upgrade
    from tests.decision.conftest import sample_frame

    engine = make_engine(url)
    upgrade(engine)
    store = CandleStore(engine)
    for symbol in ("BTC-USD", "ETH-USD"):
        frame = sample_frame(symbol)
        rows = [
            [t, *v]
            for t, v in zip(index_to_ms(frame.index), frame.to_numpy().tolist(), strict=True)
        ]
        if symbol == "ETH-USD":
            rows = [r for i, r in enumerate(rows) if i not in GAP]
        store.upsert("sample", symbol, "1h", rows, source="sample")
    return engine


def row_json(row: Any) -> dict[str, Any]:
    """Every column of an ORM row, JSON-able (``created_at`` dropped: it is the clock's)."""
    data: dict[str, Any] = row.model_dump(mode="json")
    data.pop("created_at", None)
    return data


def cases() -> list[tuple[str, dict[str, Any], str, int]]:
    """(label, settings overrides, symbol, bar offset) of every decision."""
    from hmas.decision.history import compute_history
    from hmas.decision.pipeline import MarketInputs
    from hmas.settings import load_settings
    from tests.decision.conftest import sample_frame

    supermajority = {
        **PERMISSIVE,
        "mother": {**PERMISSIVE["mother"], "consensus_policy": "supermajority"},
    }
    out: list[tuple[str, dict[str, Any], str, int]] = []
    for symbol in ("BTC-USD", "ETH-USD"):
        others = {s: sample_frame(s) for s in ("BTC-USD", "ETH-USD") if s != symbol}
        inputs = MarketInputs(
            "sample",
            symbol,
            "1h",
            sample_frame(symbol),
            "sample",
            others.get("BTC-USD"),
            others,
        )
        # The decisions a live ``decide`` takes at each bar (anchored windows).
        full = compute_history(inputs, load_settings(**PERMISSIVE))
        alpha, decided = full.frames["alpha"], full.decided
        assert decided is not None
        proposals = [
            i
            for i in range(600, len(alpha))
            if alpha["action"].iloc[i] != "HOLD" and not alpha["abstained"].iloc[i]
        ]
        approved = [i for i in proposals if decided["approved"].iloc[i] and i < GAP[0] - 10]
        picks = sorted(set(proposals[:: max(1, len(proposals) // 6)][:6]) | set(approved[:-2]))
        out += [("permissive", PERMISSIVE, symbol, i) for i in picks]
        out += [("default", {}, symbol, i) for i in (700, 1000, 1300, *picks[:2])]
        out += [("supermajority", supermajority, symbol, i) for i in picks[2:5]]
        if symbol == "ETH-USD":  # the symbol the sample market gives approvals on
            kill = {**PERMISSIVE, "kill_switch": True}
            out += [("permissive-kill", kill, symbol, i) for i in approved[-2:]]
    out += [("permissive-gap", PERMISSIVE, "ETH-USD", i) for i in GAP_DECISIONS]
    return out


def main() -> None:
    from sqlmodel import Session

    from hmas.decision import service
    from hmas.risk import ledger
    from hmas.settings import load_settings
    from hmas.store.models import Analysis, Signal
    from tests.decision.conftest import BARS, NOW

    first = NOW - BARS * HOUR
    records = []
    with tempfile.TemporaryDirectory() as tmp:
        engine = build_store(f"sqlite:///{Path(tmp) / 'store.db'}")
        todo = sorted(cases(), key=lambda c: (c[3], c[2], c[0]))
        for label, overrides, symbol, offset in todo:
            settings = load_settings(**overrides)
            at = first + offset * HOUR
            try:
                analysis = service.analyze(engine, settings, symbol, "1h", at_ms=at).analysis
            except Exception as exc:  # a bar in the gap
                print("skip", label, symbol, offset, exc)
                continue
            ledger.update_positions(engine, settings, settings.decision.engine, symbol=symbol)
            record = service.decide(engine, settings, analysis)
            if not record.created:  # the same bar and config decided by an earlier case
                continue
            records.append((label, overrides, record.signal.id))
        with Session(engine) as session:
            out = []
            for label, overrides, signal_id in records:
                signal = session.get(Signal, signal_id)
                analysis = session.get(Analysis, signal.analysis_id)
                out.append(
                    {
                        "label": label,
                        "settings": overrides,
                        "analysis": row_json(analysis),
                        "signal": row_json(signal),
                    }
                )
        engine.dispose()
    from hmas.settings import DECISION_MODEL

    meta = {
        "record_version": 2,
        "model": DECISION_MODEL,
        "written_by": f"hmas, decision model {DECISION_MODEL}",
        "store": {"now_ms": NOW, "bars": BARS, "eth_gap_offsets": list(GAP)},
        "libraries": libraries(),
    }
    snapshot_path(DECISION_MODEL).write_text(
        json.dumps({"meta": meta, "cases": out}, indent=1, sort_keys=True) + "\n"
    )
    decisions = [c["signal"]["decision"] for c in out]
    reasons = [c["signal"]["rejection_reason"] or "" for c in out]
    print(
        len(out),
        "signals;",
        decisions.count("APPROVED"),
        "approved;",
        sum(r.startswith("guardian") for r in reasons),
        "guardian;",
        sum(r.startswith("data quality") for r in reasons),
        "data quality",
    )


if __name__ == "__main__":
    main()
