"""Guest side of tests/test_connected_uml.py: while connected, the probe, DNS, routes, lines, monitor.

Each function runs in the UML guest (``lab.call``); ``work`` is the test's tmp dir, the profile
texts are templates with ``{work}`` (and ``{python}``: the guest's Python).
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from tests.uml_guest import (
    PY,
    control,
    emulator,
    emulator_commands,
    ns,
    profile,
    record,
    status,
    stop,
    up,
    wait_new_pppd,
    wait_state,
)


def blackhole_then_redial(work: Path, profile_text: str) -> None:
    """Connected past stable_after, then the network side forwards nothing; wait for a new link, ping."""
    link = emulator()
    p = profile(profile_text.format(work=work))
    proc = up(p)
    first = wait_state("connected", 30)
    time.sleep(3.5)
    control(link, "blackhole")
    second = wait_new_pppd(first, 60)
    record(first=first, second=second, ping=ns("ping", "-c", "1", "-W", "2", "10.64.64.1").returncode,
           rc=stop(proc))


def dns_file_and_routes(work: Path, profile_text: str) -> None:
    """WORK/resolv.conf and the client's routes while connected and after the stop."""
    (work / "resolv.conf").write_text("nameserver 192.0.2.53\n")
    emulator()
    p = profile(profile_text.format(work=work))
    proc = up(p)
    wait_state("connected", 30)
    time.sleep(0.5)
    record(during=(work / "resolv.conf").read_text(), routes=ns("ip", "route").stdout)
    record(rc=stop(proc), after=(work / "resolv.conf").read_text(), routes_after=ns("ip", "route").stdout)


def routes_while_connected(work: Path, profile_text: str) -> None:
    """The client's routes once connected."""
    emulator()
    p = profile(profile_text.format(work=work))
    proc = up(p)
    wait_state("connected", 30)
    record(routes=ns("ip", "route").stdout, rc=stop(proc))


def ring_then_drop(work: Path, profile_text: str) -> None:
    """An RI pulse (an SMS), then past stable_after the call drops (DCD); how long the redial took."""
    link = emulator()
    p = profile(profile_text.format(work=work, python=PY))
    proc = up(p)
    first = wait_state("connected", 30)
    control(link, "ring", "sms")
    time.sleep(1)
    time.sleep(2.5)  # past stable_after
    t0 = time.monotonic()
    control(link, "drop")
    second = wait_new_pppd(first, 40)
    record(first=first, second=second, took=time.monotonic() - t0, rc=stop(proc))


def over_an_ethernet_default_route(work: Path, profile_text: str) -> None:
    """A dummy eth9 with the default route via 192.0.2.1 first; the routes before and while connected."""
    release = subprocess.run(["uname", "-r"], capture_output=True, text=True).stdout.strip()
    subprocess.run(["insmod", f"/usr/lib/uml/modules/{release}/kernel/drivers/net/dummy.ko"])
    for cmd in ("ip link add eth9 type dummy", "ip addr add 192.0.2.2/24 dev eth9", "ip link set eth9 up",
                "ip route add default via 192.0.2.1"):
        ns(*cmd.split())
    before = ns("ip", "route").stdout
    emulator()
    p = profile(profile_text.format(work=work))
    proc = up(p)
    wait_state("connected", 30)
    record(before=before, during=ns("ip", "route").stdout, rc=stop(proc))


def radio_status_refreshed(work: Path, profile_text: str) -> None:
    """A USB module (AT port beside the modem port); status until the monitor refreshed it twice."""
    emulator({"rssi": 12}, at_port=True)
    p = profile(profile_text.format(work=work))
    proc = up(p)
    first = wait_state("connected", 30)
    refreshed = {first.get("radio_at")}
    deadline = time.monotonic() + 30  # two refreshes by the monitor (interval 0.5 s), however slow the guest
    later = first
    while len(refreshed) < 3 and time.monotonic() < deadline:
        time.sleep(0.2)
        later = status()
        refreshed.add(later.get("radio_at"))
    record(first=first, later=later, ping=ns("ping", "-c", "2", "-W", "2", "10.64.64.1").returncode,
           rc=stop(proc))


def until(done: Callable[[], object], what: str, timeout: float = 60) -> None:
    """Wait for ``done()`` to be true; fail naming ``what`` after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while not done():
        assert time.monotonic() < deadline, f"{what} did not happen within {timeout} s"
        time.sleep(0.2)


def back_in_data_mode() -> int:
    """How many times the module has been sent back to data mode (ATO)."""
    return [c for _, c in emulator_commands()].count("ATO")


def escape_rounds_and_ring(work: Path, profile_text: str) -> None:
    """One port: wait for a monitor round by the interval, then ring and wait for the ring's round."""
    ring = work / "ring"
    link = emulator({"rssi": 14})
    p = profile(profile_text.format(work=work, python=PY))
    proc = up(p)
    first = wait_state("connected", 30)
    until(lambda: back_in_data_mode() >= 1, "a monitor round (+++, queries, ATO)")
    later = status()
    control(link, "ring", "sms")
    until(lambda: ring.exists() and ring.read_text(), "on_ring with the held-back URC")
    until(lambda: back_in_data_mode() >= 2, "the ring's round back in data mode")
    record(quiet=time.time())  # rounds after this one are not the test's: the stop may cut one short
    record(first=first, later=later, last=status(),
           ping=ns("ping", "-c", "3", "-W", "2", "10.64.64.1").returncode, rc=stop(proc))
