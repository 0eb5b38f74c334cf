"""Cancelling a worker that blocks on a clock and sleeps: the daemon is stopping."""

from __future__ import annotations

import threading
import time


class Cancelled(Exception):
    """The daemon is stopping."""


class Cancellable:
    """A clock and a sleep that raise Cancelled once ``event`` is set.

    The AT channel reads the clock in every wait loop, so a stop reaches a worker
    within one read timeout, wherever it is.
    """

    def __init__(self, event: threading.Event):
        self.event = event

    def clock(self) -> float:
        if self.event.is_set():
            raise Cancelled()
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        if self.event.wait(seconds):
            raise Cancelled()
