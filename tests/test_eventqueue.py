"""The supervisor's event queue: order, timeouts, wake-ups from threads and from signals."""

from __future__ import annotations

import signal
import threading
import time

import pytest

from bg_pppd.daemon.event_queue import EventQueue


def test_fifo_and_timeouts():
    q: EventQueue[int] = EventQueue()
    assert q.get(0) is None
    start = time.monotonic()
    assert q.get(0.2) is None
    assert time.monotonic() - start >= 0.2
    for i in range(3):
        q.put(i)
    assert [q.get(0), q.get(0), q.get(0), q.get(0)] == [0, 1, 2, None]


def test_many_puts_never_block():
    """More wake-ups than the pipe holds: put() must not block, and nothing is lost."""
    q: EventQueue[int] = EventQueue()
    for i in range(200_000):
        q.put(i)
    got = [q.get(0) for _ in range(200_000)]
    assert got == list(range(200_000)) and q.get(0) is None


def test_put_from_a_thread_wakes_an_untimed_get():
    q: EventQueue[str] = EventQueue()
    threading.Timer(0.2, q.put, args=("pppd exited",)).start()
    start = time.monotonic()
    result: list = []
    reader = threading.Thread(target=lambda: result.append(q.get()), daemon=True)
    reader.start()
    reader.join(10)
    assert result == ["pppd exited"] and time.monotonic() - start < 5


@pytest.mark.parametrize("timeout", [30.0, None])
def test_a_signal_on_another_thread_wakes_the_main_thread(timeout):
    """The SIGTERM that went unanswered: the kernel handed it to a worker thread while the
    main thread waited (queue.Queue answered it only when its wait ended: never, untimed)."""
    assert threading.current_thread() is threading.main_thread()
    q: EventQueue[str] = EventQueue()
    old = signal.signal(signal.SIGUSR1, lambda *_: q.put("stop"))
    q.wake_on_signals()
    try:
        def worker() -> None:
            time.sleep(0.2)
            signal.pthread_kill(threading.get_ident(), signal.SIGUSR1)  # to this thread, not main
        threading.Thread(target=worker, daemon=True).start()
        if timeout is None:  # an untimed get that never wakes would hang the suite: a watchdog ends it
            guard = threading.Timer(20, q.put, args=("guard",))
            guard.start()
        start = time.monotonic()
        assert q.get(timeout) == "stop"
        assert time.monotonic() - start < 10
        if timeout is None:
            guard.cancel()
    finally:
        q.wake_on_signals(False)
        signal.signal(signal.SIGUSR1, old)
