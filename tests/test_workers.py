"""The one worker type: cancel, wake, bounded join, a result at most once and never after cancel.

Real threads and real pipes; nothing here waits on the wall clock beyond a bounded join.
"""

from __future__ import annotations

import contextlib
import os
import select
import threading

import pytest

from bg_pppd.link import radio_monitor
from bg_pppd.link.radio_monitor import EscapeMonitor
from bg_pppd.link.relay import LinkLost
from bg_pppd.profile import model as profile_mod
from bg_pppd.util.worker import Worker


def test_the_result_is_reported_once():
    got: list = []
    w = Worker("t", lambda w: 42, got.append)
    assert w.join(5) and got == [42]
    w.cancel()  # after the end: nothing more
    assert got == [42]


def test_a_cancelled_worker_reports_its_cancel_marker_never_its_result():
    release = threading.Event()
    got: list = []

    def body(w):
        release.wait(5)
        return "finished after all"
    w = Worker("t", body, got.append, on_cancel="cancelled")
    w.cancel()
    release.set()
    assert w.join(5) and got == ["cancelled"]


def test_a_cancelled_worker_without_marker_reports_nothing():
    release = threading.Event()
    got: list = []
    w = Worker("t", lambda w: release.wait(5) and "late", got.append)
    w.cancel()
    release.set()
    assert w.join(5) and got == []


def test_post_says_nothing_once_cancelled():
    posted: list = []
    step = threading.Event()
    go_on = threading.Event()

    def body(w):
        w.post("radio", 1)
        step.set()
        go_on.wait(5)
        return w.post("radio", 2)
    results: list = []
    w = Worker("t", body, results.append, post=lambda *e: posted.append(e), on_cancel="c")
    assert step.wait(5)
    w.cancel()
    go_on.set()
    assert w.join(5)
    assert posted == [("radio", 1)] and results == ["c"]


def test_cancel_wakes_a_wait_at_once_and_poke_only_ends_the_current_one():
    seen: list = []
    first = threading.Event()

    def body(w):
        seen.append(w.wait(None))
        first.set()
        seen.append(w.wait(None))
    w = Worker("t", body)
    w.poke()  # before or during the first wait: that wait ends, the next one sleeps
    assert first.wait(5)
    w.cancel()
    assert w.join(5) and seen == ["poke", "cancel"]


def test_wait_reports_a_readable_fd():
    r, wr = os.pipe()
    try:
        os.write(wr, b"x")
        seen: list = []
        w = Worker("t", lambda w: seen.append(w.wait(5, r)))
        assert w.join(5) and seen == ["data"]
    finally:
        os.close(r)
        os.close(wr)


def test_a_crashing_body_is_logged_and_reports_its_error_value(caplog):
    def body(w):
        raise RuntimeError("boom")
    got: list = []
    w = Worker("t", body, got.append, on_error=lambda exc: f"failed: {exc}")
    assert w.join(5) and got == ["failed: boom"]
    w2 = Worker("t2", body, got.append)
    assert w2.join(5) and got == ["failed: boom"] and "worker t2 crashed" in caplog.text


def test_join_is_bounded():
    release = threading.Event()
    w = Worker("t", lambda w: release.wait(10))
    assert not w.join(0.05)
    release.set()
    assert w.join(5)


def test_defect3_cancel_after_the_end_never_writes_to_a_reused_fd():
    worker = Worker("t", lambda w: None)
    assert worker.join(5)

    def cancel_later():
        r, w = os.pipe()  # takes the numbers the wake pipe had
        try:
            worker.cancel()
            worker.poke()
            return select.select([r], [], [], 0)[0]
        finally:
            os.close(r)
            os.close(w)
    assert not cancel_later()


class DeadRelay:
    """A relay whose +++/ATO round finds the data call gone: the monitor ends by itself."""

    def __init__(self):
        self.rounds = 0

    @contextlib.contextmanager
    def command_mode(self, timeout):
        self.rounds += 1
        raise LinkLost("ATO answered NO CARRIER: the data call is gone")
        yield  # pragma: no cover


@pytest.fixture
def escape_profile(write_profile):
    return profile_mod.load(write_profile(
        "modem:\n  port: /dev/ttyS1\nnetwork:\n  apn: internet\n"
        "ppp:\n  lcp_echo_interval: 10\nmonitor:\n  interval: 60\n  escape: false\n  read_urcs: true\n"))


def test_defect3_the_monitor_ended_by_itself_then_cancelled_writes_nowhere(escape_profile, monkeypatch):
    """The escape monitor's round finds the link dead and returns; the supervisor's cancel comes
    later, when another file has the wake pipe's numbers: it must not get the monitor's byte."""
    monkeypatch.setattr(radio_monitor, "MIN_DATA_MODE", 0.0)
    dead: list = []
    mon = EscapeMonitor(escape_profile, DeadRelay(), lambda r: None, lambda u: None, dead.append,
                        lambda text: None)
    mon.ring()
    mon.thread.join(5)
    assert dead and not mon.thread.is_alive()
    r, w = os.pipe()  # the numbers the monitor's wake pipe had
    try:
        mon.cancel()
        assert not select.select([r], [], [], 0)[0], "cancel() wrote to a descriptor the monitor had closed"
    finally:
        os.close(r)
        os.close(w)
