"""A deadline callers pass down: every call of one signal ends by it, or is never made."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Deadline:
    """A point in time (on a monotonic clock) by which calls must have finished."""

    at: float
    clock: Callable[[], float] = field(default=time.monotonic, repr=False, compare=False)

    @classmethod
    def after(cls, seconds: float, clock: Callable[[], float] = time.monotonic) -> Deadline:
        """The deadline ``seconds`` from now."""
        return cls(clock() + seconds, clock)

    def remaining(self) -> float:
        """Seconds left (0 or less: passed)."""
        return self.at - self.clock()

    @property
    def passed(self) -> bool:
        """True once the deadline is reached."""
        return self.remaining() <= 0
