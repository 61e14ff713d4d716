"""The stop flag of ``hmas run``: what a signal sets, the exit code it calls for, the handlers."""

from __future__ import annotations

import os
import signal

from hmas.live.stop import StopFlag, stop_on_signals


def test_a_signal_sets_the_flag_and_names_its_exit_code() -> None:
    before = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    with stop_on_signals() as stop:
        assert not stop.stopped
        os.kill(os.getpid(), signal.SIGTERM)  # handled here, between two bytecodes
        assert stop.stopped
        assert (stop.signal_name, stop.exit_code) == ("SIGTERM", 143)
        os.kill(os.getpid(), signal.SIGINT)  # no KeyboardInterrupt while the flag holds them
        assert (stop.signal_name, stop.exit_code) == ("SIGINT", 130)
    assert {s: signal.getsignal(s) for s in before} == before  # given back


def test_a_flag_set_by_hand_exits_as_an_interrupt() -> None:
    stop = StopFlag()
    stop.event.set()
    assert stop.stopped and stop.exit_code == 130
