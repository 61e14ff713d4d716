"""Layer 2A on the LLM engine: four analysts, each answering in L seconds through the loopback
stub provider (tests/llm/stub.py), take at most 1.2 L (a sequential chain takes 4 L).

The time is ``compute``'s ``layer_2a``: the four rules frames (the base rates need them) and
the four concurrent calls, answers checked and put in. Reported as min/median/max of repeats,
beside the same layer on the rules engine alone. The stub runs in its own process, as a
provider does (in this process its request parsing would compete for the GIL).
"""

from __future__ import annotations

import contextlib
import statistics
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.common import report

REPEATS = 7


ROOT = Path(__file__).resolve().parent.parent
_SERVE = """
import sys, time
sys.path.insert(0, {root!r})
from tests.llm.agents import responder
from tests.llm.stub import StubServer
with StubServer(latency={latency!r}, responder=responder()) as stub:
    print(stub.url, flush=True)
    sys.stdin.read()  # until the benchmark closes the pipe
"""


@contextlib.contextmanager
def stub_process(latency: float) -> Iterator[str]:
    """The stub provider in a child process; yields its URL; stopped when the block ends."""
    code = _SERVE.format(root=str(ROOT), latency=latency)
    proc = subprocess.Popen(
        [sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None
        yield proc.stdout.readline().strip()
    finally:
        assert proc.stdin is not None
        proc.stdin.close()
        proc.wait(timeout=30)


def _settings(url: str) -> object:
    from hmas.settings import load_settings

    agents = ("alpha", "technical", "sentiment", "macro", "execution", "rationale", "mother")
    return load_settings(
        decision={"engine": "rules", "engines": dict.fromkeys(agents[:4], "llm")},
        llm={
            "routing": dict.fromkeys(agents, "stub"),
            "vendors": {
                "stub": {
                    "wire": "openai",
                    "base_url": f"{url}/v1",
                    "default_model": "stub-model",
                    "key_env": "",
                    "structured": "json_schema",
                }
            },
            "retries": 0,
        },
    )


def main() -> None:
    from hmas.data.sample import SampleMarket
    from hmas.decision.llm_engine import LlmAnswerer, client_factory, resolve
    from hmas.decision.pipeline import MarketInputs, compute
    from hmas.settings import load_settings

    now = 1_767_225_600_000
    hour = 3_600_000
    market = SampleMarket(now_ms=lambda: now)
    btc = market.candles("BTC-USD", "1h", now - 1000 * hour, now)
    eth = market.candles("ETH-USD", "1h", now - 1000 * hour, now)
    inputs = MarketInputs("sample", "ETH-USD", "1h", eth, "sample", btc, {"BTC-USD": btc})

    rules = load_settings()
    base = [compute(inputs, rules, decide=False).timings_ms["layer_2a"] for _ in range(REPEATS)]
    report(
        "layer 2A, rules engine (1000 bars), min/median/max",
        f"{min(base):.0f}/{statistics.median(base):.0f}/{max(base):.0f} ms",
    )
    for latency in (0.5, 1.0):
        with stub_process(latency) as url:
            settings = _settings(url)
            routes, keys = resolve(settings)
            only = {
                a: r for a, r in routes.items() if a in ("alpha", "technical", "sentiment", "macro")
            }
            seen = []
            for _ in range(REPEATS + 1):
                with LlmAnswerer(
                    settings, only, client_factory(settings, keys, None), "bench", None, 60.0
                ) as ask:
                    out = compute(inputs, settings, decide=False, ask=ask)
                calls = ask.record(out.features.index[-1])
                assert all(c["status"] == "ok" for c in calls.values()), calls
                seen.append(out.timings_ms["layer_2a"] / 1000)
            runs = seen[1:]  # the first opens the connections and warms the imports
            med = statistics.median(runs)
            report(
                f"layer 2A, 4 analysts answering in L={latency:g}s, min/median/max",
                f"{min(runs):.3f}/{med:.3f}/{max(runs):.3f} s",
            )
            report(
                "  median / L",
                f"{med / latency:.3f}",
                "<= 1.2",
                med <= 1.2 * latency,
            )


if __name__ == "__main__":
    main()
