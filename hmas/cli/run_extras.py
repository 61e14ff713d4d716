"""What ``hmas run`` does beside the loop: ``/metrics``, notifications and JSON artifacts.

Kept out of ``run.py`` so the command reads as before: it starts these before the store is
opened (a bad port or artifacts directory exits 2 before any work), chains their hook after
its own, and closes them when the command ends.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from hmas.errors import HmasError

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from hmas.live.loop import EventHook, IterationResult, OutcomeHook, SymbolOutcome
    from hmas.metrics.exposition import MetricsServer
    from hmas.notify.sender import Notifier
    from hmas.settings import Settings

logger = logging.getLogger(__name__)

MetricsPortOption = Annotated[
    int | None,
    typer.Option(
        "--metrics-port",
        help="Serve Prometheus metrics on http://127.0.0.1:PORT/metrics while the loop runs "
        "(1-65535). Example: --metrics-port 9108",
    ),
]
MetricsHostOption = Annotated[
    str | None,
    typer.Option(
        "--metrics-host",
        help="Address --metrics-port listens on (default 127.0.0.1; 0.0.0.0 for every "
        "interface). Example: --metrics-host 0.0.0.0",
    ),
]
ArtifactsOption = Annotated[
    Path | None,
    typer.Option(
        "--artifacts",
        help="Write one JSON file per new signal (what signals show --json prints) into DIR, "
        "created if missing. Example: --artifacts runs/signals",
    ),
]


class RunExtras:
    """The metrics server, the notifier and the artifacts directory of one ``hmas run``."""

    def __init__(
        self,
        settings: Settings,
        *,
        metrics_port: int | None = None,
        metrics_host: str | None = None,
        artifacts: Path | None = None,
    ) -> None:
        from hmas.errors import UsageError
        from hmas.metrics.exposition import check_host, check_port

        check_port(metrics_port)
        if metrics_host is not None and metrics_port is None:
            raise UsageError("--metrics-host needs --metrics-port")
        host = check_host(metrics_host) if metrics_host is not None else "127.0.0.1"
        self.settings = settings
        self.engine: Engine | None = None
        self.server: MetricsServer | None = None
        self.notifier: Notifier | None = None
        self.artifacts: Path | None = None
        self.artifact_failures: list[str] = []
        if artifacts is not None:
            from hmas.report.artifacts import prepare

            self.artifacts = prepare(artifacts)
        if metrics_port is not None:
            from prometheus_client import CollectorRegistry

            from hmas.metrics.exposition import MetricsServer

            self.registry = CollectorRegistry()
            self.server = MetricsServer(self.registry, host, metrics_port)
        from hmas.notify.sender import Notifier

        self.notifier = Notifier.from_settings(settings.notify)

    def attach(self, engine: Engine) -> None:
        """The store is open: metrics read it from now on."""
        self.engine = engine
        if self.server is not None:
            from hmas.metrics.store import StoreCollector

            notifier = self.notifier
            self.registry.register(
                StoreCollector(
                    engine,
                    self.settings,
                    notifications=(lambda: notifier.counts) if notifier is not None else None,
                )
            )

    def hook(self, first: OutcomeHook | None) -> OutcomeHook:
        """``first`` (the command's own output), then the artifacts and notifications."""

        def on_outcome(result: IterationResult, outcome: SymbolOutcome) -> None:
            if first is not None:
                first(result, outcome)
            if not outcome.created or outcome.signal_id is None or self.engine is None:
                return
            if self.artifacts is not None:
                self._artifact(outcome.signal_id)
            if self.notifier is not None:
                self.notifier.signal(self.engine, outcome.signal_id)

        return on_outcome

    def events(self, first: EventHook) -> EventHook:
        """``first`` (the live view or the log lines), then a message for each stored pause that
        started or was lifted (the loop's ``pause_started`` / ``pause_lifted`` events)."""

        def on_event(symbol: str, stage: str, detail: dict[str, Any]) -> None:
            first(symbol, stage, detail)
            if self.notifier is None or stage not in ("pause_started", "pause_lifted"):
                return
            from hmas.notify.messages import pause_event

            event = pause_event(stage, detail)
            if event is not None:
                self.notifier.notify(event)

        return on_event

    def _artifact(self, signal_id: int) -> None:
        from hmas.report.artifacts import write

        assert self.engine is not None and self.artifacts is not None
        try:
            write(self.engine, self.artifacts, signal_id)
        except (OSError, HmasError) as exc:  # the signal is stored: the loop goes on
            reason = getattr(exc, "strerror", None) or str(exc)
            logger.error(
                "artifact of signal %d not written in %s: %s", signal_id, self.artifacts, reason
            )
            self.artifact_failures.append(f"signal {signal_id}: {reason}")

    def close(self) -> None:
        """Send what the notifier still holds, stop serving metrics."""
        if self.notifier is not None:
            self.notifier.close()
        if self.server is not None:
            self.server.close()

    def check(self) -> None:
        """Exit 1 when an artifact could not be written (each was logged as it failed)."""
        if self.artifact_failures:
            raise HmasError(
                f"{len(self.artifact_failures)} artifact(s) not written in {self.artifacts} "
                f"({self.artifact_failures[0]}); the signals are stored: "
                "hmas signals show ID --json prints them"
            )
