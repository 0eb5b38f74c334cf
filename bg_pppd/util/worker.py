"""The one kind of thread the daemon starts: a Worker.

Every thread (pre-flight, reset, back to command mode after pppd, DNS and
hooks, the probe, the radio monitor, the DCD/RI watch, the relay, pppd's log reader, exit
waiter and IP-up settling timer, the background import of sh) is a Worker:

- a thread running ``body(worker)``;
- a cancel event (``cancelled``), set by ``cancel()``;
- one wake mechanism: ``wait(seconds, *fds)`` sleeps in select() on the worker's
  own wake pipe (and the fds given), and ``poke()`` or ``cancel()`` end that sleep;
- a bounded ``join(timeout)``;
- its result reported at most once, and never after cancel: ``report`` gets the
  body's return value when it ends uncancelled; a cancelled worker reports
  ``on_cancel`` instead when one is given (a stop waits for that: the thread has
  ended), and nothing when not. ``post`` (events while it runs: a radio reading, a
  ring) says nothing once cancelled.

The wake pipe is closed when the body returns, under the same lock that
``poke()`` and ``cancel()`` take, so a cancel after the worker ended by itself
never writes to a closed descriptor, or to whatever file has its number since.
Here, in util, because the link layer's watchers are Workers too.
"""

from __future__ import annotations

import contextlib
import logging
import os
import select
import threading
from collections.abc import Callable
from typing import Any

log = logging.getLogger("bg_pppd")


class Worker:
    """A thread, a cancel event, a wake pipe, a bounded join, a result reported at most once."""

    def __init__(self, name: str, body: Callable[[Worker], Any], report: Callable[[Any], None] | None = None,
                 on_cancel: Any = None, on_error: Callable[[Exception], Any] | None = None,
                 post: Callable[..., None] | None = None, start: bool = True):
        self.name = name
        self.cancelled = threading.Event()
        self._body, self._report, self._on_cancel, self._on_error = body, report, on_cancel, on_error
        self._post = post
        self._lock = threading.Lock()  # cancel() against the last report and the pipe's close
        self._reported = False
        self._wake_r, self._wake_w = os.pipe()
        self.thread = threading.Thread(target=self._main, name=name, daemon=True)
        if start:
            self.start()

    def start(self) -> None:
        """Once (start=False lets the owner keep a reference before the body can run)."""
        try:
            self.thread.start()
        except BaseException:  # no thread to spare: nothing will close the pipe but us
            self._close_pipe()
            raise

    # ----- from any thread -----------------------------------------------------------------------

    def cancel(self) -> None:
        """Ask the body to end; wakes a wait(). Safe at any time, also after the worker ended."""
        with self._lock:
            self.cancelled.set()
            self._poke_locked()

    def poke(self) -> None:
        """End the body's current wait() early (a ring, a pause): it looks at its state again."""
        with self._lock:
            self._poke_locked()

    def join(self, timeout: float | None) -> bool:
        """Wait at most ``timeout`` seconds (None: until it ends) for the thread; True when it has ended."""
        if self.thread.ident is not None and self.thread is not threading.current_thread():
            self.thread.join(timeout)
        return not self.thread.is_alive()

    def alive(self) -> bool:
        return self.thread.is_alive()

    # ----- from the body -------------------------------------------------------------------------

    def post(self, *event: Any) -> bool:
        """An event while the body runs (radio, ring); dropped once cancelled. True if posted."""
        with self._lock:
            if self.cancelled.is_set() or self._post is None:
                return False
            self._post(*event)
            return True

    def wait(self, seconds: float | None, *fds: int) -> str:
        """Sleep up to ``seconds`` (None: until poked): 'cancel', 'poke', 'data' (an fd is readable)
        or 'timeout'. Only from the worker's own thread."""
        if self.cancelled.is_set():
            return "cancel"
        woken, ready = self._select(seconds, fds)
        if woken:
            return "cancel" if self.cancelled.is_set() else "poke"
        return "data" if ready else "timeout"

    def ready(self, seconds: float | None, *fds: int) -> list[int]:
        """Like wait(), but the fds that are readable ([] on timeout, poke or cancel)."""
        if self.cancelled.is_set():
            return []
        return self._select(seconds, fds)[1]

    def sleep(self, seconds: float) -> bool:
        """Sleep the whole ``seconds`` however often poked; True when cancelled meanwhile."""
        return self.cancelled.wait(seconds)

    # ----- inside ----------------------------------------------------------------------------------

    def _select(self, seconds: float | None, fds: tuple[int, ...]) -> tuple[bool, list[int]]:
        """(woken by poke/cancel, the given fds that are readable); the wake pipe is drained."""
        got, _, _ = select.select([self._wake_r, *fds], [], [], None if seconds is None else max(0.0, seconds))
        woken = self._wake_r in got
        if woken:
            with contextlib.suppress(BlockingIOError):
                os.read(self._wake_r, 4096)
        return woken, [fd for fd in got if fd != self._wake_r]

    def _poke_locked(self) -> None:
        if self._wake_w >= 0:
            with contextlib.suppress(OSError):  # a full pipe is woken already
                os.write(self._wake_w, b"x")

    def _close_pipe(self) -> None:
        with self._lock:
            fds = (self._wake_r, self._wake_w)
            self._wake_r = self._wake_w = -1
        for fd in fds:
            if fd >= 0:
                with contextlib.suppress(OSError):
                    os.close(fd)

    def _main(self) -> None:
        result: Any = None
        failed = False
        try:
            result = self._body(self)
        except Exception as exc:  # never let a worker die silently
            if self._on_error is None:
                log.exception("worker %s crashed", self.name)
                failed = True
            else:
                result = self._on_error(exc)
        finally:
            self._close_pipe()
        self._finish(None if failed else result, failed)

    def _finish(self, result: Any, failed: bool) -> None:
        with self._lock:
            if self._reported or self._report is None:
                return
            self._reported = True
            if self.cancelled.is_set():
                if self._on_cancel is None:
                    return
                result = self._on_cancel
            elif failed:
                return
            self._report(result)
