"""SIGINT/SIGTERM for ``hmas run``: a flag the loop reads, set from the first moment of the command.

Light on purpose (no store, no pandas): ``hmas run`` installs the handlers before it loads
settings, opens the store or migrates it, so a signal at any point after that stops the command
cleanly (the step under way, a migration included, runs to its end; nothing is cut) and the
command exits 128 + the signal's number, the shell's convention: 130 for SIGINT, 143 for SIGTERM.
"""

from __future__ import annotations

import logging
import signal as signals
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

logger = logging.getLogger(__name__)

#: The signals that stop a run.
STOP_SIGNALS = (signals.SIGINT, signals.SIGTERM)


class StopFlag:
    """Set by SIGINT/SIGTERM: the loop finishes the current symbol and stops."""

    def __init__(self) -> None:
        self.event = threading.Event()
        self.signal_name: str | None = None
        self.signum: int | None = None

    def __call__(self, signum: int, _frame: Any) -> None:
        self.signum = signum
        self.signal_name = signals.Signals(signum).name
        logger.warning("%s received: finishing the current step, then stopping", self.signal_name)
        self.event.set()

    @property
    def stopped(self) -> bool:
        """True once a stop was asked for."""
        return self.event.is_set()

    @property
    def exit_code(self) -> int:
        """128 + the signal's number (130 SIGINT, 143 SIGTERM); 130 when set by hand."""
        return 128 + (self.signum if self.signum is not None else int(signals.SIGINT))


@contextmanager
def stop_on_signals(stop: StopFlag | None = None) -> Iterator[StopFlag]:
    """Route SIGINT and SIGTERM to a ``StopFlag`` for the block; the old handlers come back after.

    Outside the main thread (signals can only be handled there) the flag is returned unwired.
    """
    stop = stop or StopFlag()
    previous: dict[signals.Signals, Any] = {}
    if threading.current_thread() is threading.main_thread():
        for sig in STOP_SIGNALS:
            previous[sig] = signals.signal(sig, stop)
    try:
        yield stop
    finally:
        for sig, handler in previous.items():
            signals.signal(sig, handler)
