"""Cancelling a worker that blocks on a clock and sleeps: the daemon is stopping."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


class Cancelled(Exception):
    """The daemon is stopping (or the work's deadline has passed)."""


class Cancellable:
    """A clock and a sleep that raise Cancelled once ``event`` is set or ``deadline`` has passed.

    The AT channel reads the clock in every wait loop, so a stop reaches a worker
    within one read timeout, wherever it is. ``clock`` and ``wait`` (a sleep that
    returns True when cancelled; the event's wait by default) are injectable for tests.
    """

    def __init__(self, event: threading.Event | None = None, deadline: float | None = None,
                 clock: Callable[[], float] = time.monotonic, wait: Callable[[float], bool] | None = None):
        self.event = event or threading.Event()
        self.deadline, self._clock = deadline, clock
        self._wait = wait or self.event.wait

    def clock(self) -> float:
        now = self._clock()
        if self.event.is_set() or (self.deadline is not None and now >= self.deadline):
            raise Cancelled()
        return now

    def sleep(self, seconds: float) -> None:
        if self.deadline is not None:
            seconds = min(seconds, max(0.0, self.deadline - self._clock()))
        if self._wait(seconds):
            raise Cancelled()
        if self.deadline is not None:
            self.clock()  # the deadline passed during the sleep
