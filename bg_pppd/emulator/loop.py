"""A small single-threaded event loop: readers, writers, timers, and calls from other threads.

The emulator needs precise timers (guard times, boot silences) and several
file descriptors; asyncio would do, but this keeps the model synchronous and
lets tests call into a running emulator from their own thread. The clock is
injected: the timers (``TimerQueue``) run as well on a virtual clock, without
the selector, which is how the model's unit tests drive them.
"""

from __future__ import annotations

import heapq
import itertools
import os
import selectors
import threading
import time
from collections.abc import Callable


class TimerHandle:
    def __init__(self, when: float, fn: Callable[[], None]):
        self.when, self.fn, self.cancelled = when, fn, False

    def cancel(self) -> None:
        self.cancelled = True


class TimerQueue:
    """Timers on an injected clock, apart from any I/O, so a virtual clock can drive the model."""

    def __init__(self, clock: Callable[[], float] = time.monotonic):
        self.clock = clock
        self._timers: list[tuple[float, int, TimerHandle]] = []
        self._seq = itertools.count()

    def call_later(self, delay: float, fn: Callable[[], None]) -> TimerHandle:
        handle = TimerHandle(self.clock() + max(0.0, delay), fn)
        heapq.heappush(self._timers, (handle.when, next(self._seq), handle))
        return handle

    def next_due(self) -> float | None:
        """When the earliest timer is due (cancelled ones count: they are dropped when due)."""
        return self._timers[0][0] if self._timers else None

    def run_due(self, now: float) -> None:
        """Run every timer due by ``now``, earliest first (ties in the order they were set)."""
        while self._timers and self._timers[0][0] <= now:
            _, _, handle = heapq.heappop(self._timers)
            if not handle.cancelled:
                handle.fn()


class Loop:
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.sel = selectors.DefaultSelector()
        self.timers = TimerQueue(clock)
        self._calls: list[Callable[[], None]] = []
        self._lock = threading.Lock()
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_r, False)
        os.set_blocking(self._wake_w, False)
        self.sel.register(self._wake_r, selectors.EVENT_READ, ("r", self._drain_wake))
        self._stopping = False
        self._closed = False  # the wake pipe is closed (run() has ended): under _lock
        self.thread: threading.Thread | None = None

    def now(self) -> float:
        return self.timers.clock()

    def call_later(self, delay: float, fn: Callable[[], None]) -> TimerHandle:
        return self.timers.call_later(delay, fn)

    def post(self, fn: Callable[[], None]) -> None:
        """Run ``fn`` on the loop's thread (safe from any thread). The wake byte is written under
        the lock that run() closes the pipe under: a post racing the loop's end (stop() from
        another thread) must not meet a half-closed pipe (EPIPE), nor a closed fd's reused number."""
        with self._lock:
            self._calls.append(fn)
            if self._closed:
                return
            try:
                os.write(self._wake_w, b"x")
            except BlockingIOError:
                pass

    def call(self, fn: Callable[[], object], timeout: float = 10.0) -> object:
        """Run ``fn`` on the loop and return its result (from another thread)."""
        if threading.current_thread() is self.thread:
            return fn()
        done, box = threading.Event(), {}

        def run() -> None:
            try:
                box["value"] = fn()
            except BaseException as exc:  # handed back to the caller
                box["error"] = exc
            done.set()
        self.post(run)
        if not done.wait(timeout):
            raise TimeoutError("emulator loop did not answer")
        if "error" in box:
            raise box["error"]
        return box.get("value")

    def _drain_wake(self) -> None:
        try:
            while os.read(self._wake_r, 512):
                pass
        except BlockingIOError:
            pass

    def add_reader(self, fd: int, fn: Callable[[], None]) -> None:
        self.sel.register(fd, selectors.EVENT_READ, ("r", fn))

    def remove(self, fd: int) -> None:
        try:
            self.sel.unregister(fd)
        except (KeyError, ValueError):
            pass

    def set_writer(self, fd: int, read_fn: Callable[[], None] | None, write_fn: Callable[[], None] | None):
        """Watch ``fd`` for reading, writing or both."""
        self.remove(fd)
        events = (selectors.EVENT_READ if read_fn else 0) | (selectors.EVENT_WRITE if write_fn else 0)
        if events:
            self.sel.register(fd, events, (read_fn, write_fn))

    def stop(self) -> None:
        """End ``run()``; stopping a loop that already ended does nothing."""
        if self._stopping:
            return
        self._stopping = True
        self.post(lambda: None)

    def run(self) -> None:
        self.thread = threading.current_thread()
        while not self._stopping:
            with self._lock:
                calls, self._calls = self._calls, []
            for fn in calls:
                fn()
            self.timers.run_due(self.now())
            if self._stopping:
                break
            timeout = None
            due = self.timers.next_due()
            if due is not None:
                timeout = max(0.0, due - self.now())
            with self._lock:
                if self._calls:
                    timeout = 0
            for key, mask in self.sel.select(timeout):
                if self.sel.get_map().get(key.fd) is not key:
                    continue  # unregistered by an earlier callback in this round
                data = key.data
                if data[0] == "r":
                    data[1]()
                    continue
                read_fn, write_fn = data
                if mask & selectors.EVENT_WRITE and write_fn:
                    write_fn()
                if mask & selectors.EVENT_READ and read_fn:
                    read_fn()
        with self._lock:
            self._closed = True
            for fd in (self._wake_r, self._wake_w):
                os.close(fd)
        self.sel.close()
