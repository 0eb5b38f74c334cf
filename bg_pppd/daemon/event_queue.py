"""The supervisor's one event queue: posted to from threads and signal handlers, read by one loop.

Not queue.Queue, for two reasons that both left a SIGTERM unanswered:

- Python runs signal handlers in the main thread only, between bytecodes. When
  the kernel hands SIGTERM to another thread (pppd's log reader, the line
  watcher), a main thread blocked in Queue.get() is not woken: the stop waited
  for the get's timeout, and for ever once the link was stable and nothing
  else was due. Here get() waits in select() on a pipe that set_wakeup_fd()
  also writes to, so a signal on any thread wakes it and its handler runs.
- Queue.put() takes the lock that get() holds for a moment; a handler that
  posts while the main thread holds it waits for itself. put() here takes no
  lock: a deque append and a write to a non-blocking pipe.
"""

from __future__ import annotations

import os
import select
import signal
import time
import weakref
from collections import deque
from typing import Generic, TypeVar

T = TypeVar("T")


class EventQueue(Generic[T]):
    def __init__(self) -> None:
        self._items: deque[T] = deque()
        self._r, self._w = os.pipe()
        for fd in (self._r, self._w):
            os.set_blocking(fd, False)
        weakref.finalize(self, _close, self._r, self._w)

    def put(self, item: T) -> None:
        """From any thread or a signal handler."""
        self._items.append(item)
        try:
            os.write(self._w, b"\0")
        except BlockingIOError:
            pass  # the pipe is full of wake-ups already

    def get(self, timeout: float | None = None) -> T | None:
        """The oldest item, waiting up to ``timeout`` seconds (None: until one comes); None if none came."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            try:
                return self._items.popleft()
            except IndexError:
                pass
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                return None
            if select.select([self._r], [], [], remaining)[0]:
                self._drain()

    def _drain(self) -> None:
        try:
            while os.read(self._r, 4096):
                pass
        except BlockingIOError:
            pass

    def wake_on_signals(self, on: bool = True) -> None:
        """Signals arriving on any thread wake get() (on=False: no more). From the main thread."""
        signal.set_wakeup_fd(self._w if on else -1, warn_on_full_buffer=False)


def _close(*fds: int) -> None:
    for fd in fds:
        os.close(fd)
