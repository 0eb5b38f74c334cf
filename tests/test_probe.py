"""The probe's policy (targets, data budget, idle-only probing) and a real TCP probe on loopback."""

from __future__ import annotations

import socket
import threading
import time

import pytest

from bg_pppd.link.probe import COST, Prober, probe_cost, probe_once, spacing
from bg_pppd.profile.probe_target import parse_target


@pytest.mark.parametrize("target, expect", [
    ("10.64.64.1", ("10.64.64.1", None)),
    ("example.net:443", ("example.net", 443)),
    ("[2001:db8::1]:80", ("2001:db8::1", 80)),
    ("2001:db8::1", ("2001:db8::1", None)),
])
def test_targets(target, expect):
    assert parse_target(target) == expect


@pytest.mark.parametrize("target", ["host:0", "host:70000", "host:http", "[::1]x", ":80"])
def test_bad_targets(target):
    with pytest.raises(ValueError):
        parse_target(target)


def test_budget_stretches_the_interval():
    assert probe_cost("10.0.0.1") == COST["ping"] == 88
    assert spacing(60, 0, 88) == 60, "no budget: the profile's interval"
    assert spacing(60, 10_000_000, 88) == 60, "a budget that fits leaves it"
    # 100 kB a day of 88-byte probes: 1136 probes, one every 76 s
    assert spacing(60, 100_000, 88) == pytest.approx(86400 * 88 / 100_000)
    assert 86400 / spacing(60, 100_000, 88) * 88 == pytest.approx(100_000)


class Counter:
    """The interface's received-bytes counter, driven by the test."""

    def __init__(self):
        self.value = 1000

    def __call__(self, interface):
        return self.value


def run_prober(results, counter, *, when_idle=True, budget=0, interval=0.02, failures=3):
    dead, logs = [], []
    calls = []
    lock = threading.Lock()

    def probe(target, interface, timeout):
        with lock:
            calls.append(time.monotonic())
            ok = results.pop(0) if results else True
        if ok:
            counter.value += 88  # the reply itself
        return ok, "" if ok else "no echo reply"
    prober = Prober("10.0.0.1", "ppp0", interval, failures, 1, dead.append, logs.append, budget=budget,
                    when_idle=when_idle, probe=probe, received=counter)
    return prober, calls, dead, logs


def test_three_misses_in_a_row_declare_the_link_dead():
    prober, calls, dead, logs = run_prober([False, False, True, False, False, False], Counter())
    prober.thread.join(3)
    assert dead == ["probe: 10.0.0.1 unreachable 3 times in a row (no echo reply)"]
    assert len(calls) == 6, "a success in between starts the count again"
    assert len(logs) == 5


def test_no_probe_while_traffic_arrives():
    counter = Counter()
    prober, calls, dead, _ = run_prober([], counter, interval=0.1)
    for _ in range(40):
        counter.value += 1500  # the application is receiving data, faster than the probe looks
        time.sleep(0.02)
    busy = len(calls)
    time.sleep(0.6)  # now idle: probes start (their own replies do not count as traffic)
    prober.cancel()
    prober.thread.join(1)
    assert busy <= 2, f"{busy} probes sent while data flowed"
    assert len(calls) - busy >= 3 and not dead


def test_traffic_ends_a_run_of_misses():
    counter = Counter()
    prober, calls, dead, _ = run_prober([False, False], counter, interval=0.05)
    while len(calls) < 2:
        time.sleep(0.01)
    counter.value += 500  # a packet came in after all
    time.sleep(0.3)
    prober.cancel()
    prober.thread.join(1)
    assert not dead


def test_budget_spaces_the_probes_out():
    # 86400 s * 88 B / 0.2 s = 38 MB a day; give half that: one probe every 0.4 s
    budget = int(86400 * 88 / 0.4)
    prober, calls, _, logs = run_prober([], Counter(), when_idle=False, budget=budget, interval=0.2)
    time.sleep(1.3)
    prober.cancel()
    prober.thread.join(1)
    assert prober.interval == pytest.approx(0.4)
    assert 2 <= len(calls) <= 3
    assert logs and "instead of 0.2 s" in logs[0]


def test_tcp_probe_on_loopback():
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        port = server.getsockname()[1]
        assert probe_once(f"127.0.0.1:{port}", "", 2) == (True, "")
    # the listener is gone: a refused connection still proves that packets pass
    assert probe_once(f"127.0.0.1:{port}", "", 2) == (True, "")
