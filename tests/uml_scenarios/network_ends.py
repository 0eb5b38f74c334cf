"""Guest side of tests/test_network_ends_uml.py: the network ends the PDP context; a dial fails.

Each function runs in the UML guest (``lab.call``); ``work`` is the test's tmp dir, the profile
texts are templates with ``{work}``.
"""

from __future__ import annotations

import subprocess
import time
from datetime import datetime
from pathlib import Path

from tests.uml_guest import (
    control,
    emulator,
    emulator_events,
    ns,
    profile,
    record,
    status,
    stop,
    up,
    wait_new_pppd,
    wait_state,
)


def _log_times(work: Path, text: str) -> list[float]:
    """The epoch times of up.log's lines that hold ``text`` (its stamps: local H:M:S.mmm today)."""
    today = datetime.now().date()
    out = []
    for line in (work / "up.log").read_text(errors="replace").splitlines():
        if text in line:
            try:
                stamp = datetime.strptime(line.split(" ", 1)[0], "%H:%M:%S.%f").time()
            except ValueError:
                continue
            out.append(datetime.combine(today, stamp).timestamp())
    return out


def pdp_deact_while_pinging(work: Path, profile_text: str) -> None:
    """A USB module; connected past stable_after, a ping running; the network deactivates the PDP
    context (pdp_deact). Records the moments: the URC, LINK_DEAD, pppd gone, IP up again."""
    link = emulator(at_port=True)
    p = profile(profile_text.format(work=work))
    proc = up(p)
    first = wait_state("connected", 30)
    time.sleep(3.5)  # past stable_after: the end redials at once
    pings = open(work / "ping.out", "w")
    pinger = subprocess.Popen(["ip", "netns", "exec", "client", "ping", "-i", "0.2", "-W", "1", "10.64.64.1"],
                              stdout=pings, stderr=subprocess.STDOUT)
    time.sleep(1)
    control(link, "pdp_deact")
    second = wait_new_pppd(first, 60)
    ip_again = time.time()
    time.sleep(1)
    pinger.terminate()
    pinger.wait(5)
    pings.close()
    urcs = [t for t, kind, text in emulator_events() if kind == "urc" and "pdpdeact" in text]
    deact = [t for t, kind, text in emulator_events() if kind == "event" and text.startswith("network deactivated")]
    record(first=first, second=second, deact=deact[0], urc=urcs[0] if urcs else None,
           link_dead=_log_times(work, "hanging up pppd"), hung_up=_log_times(work, "pppd: Modem hangup"),
           ip_up=_log_times(work, "IP up on"), ip_again=ip_again,
           ping=ns("ping", "-c", "2", "-W", "2", "10.64.64.1").returncode, rc=stop(proc))


def dial_fails_then_connects(work: Path, profile_text: str) -> None:
    """A USB module whose first dial gets NO CARRIER: the next attempt connects; status then."""
    emulator({"dial_results": ["NO CARRIER"]}, at_port=True)
    p = profile(profile_text.format(work=work))
    proc = up(p)
    connected = wait_state("connected", 60)
    record(connected=connected, later=status(), rc=stop(proc))


def lcp_echo_does_not_notice(work: Path, profile_text: str) -> None:
    """The main UART, no URC reading: after pdp_deact the module still answers LCP echo, so pppd
    keeps the link (the same pppd, connected) while no IP passes."""
    link = emulator()
    p = profile(profile_text.format(work=work))
    proc = up(p)
    first = wait_state("connected", 30)
    control(link, "pdp_deact")
    time.sleep(5)  # five LCP echo intervals
    record(first=first, later=status(), ping=ns("ping", "-c", "2", "-W", "1", "10.64.64.1").returncode,
           rc=stop(proc))


def pdp_deact_on_the_main_uart(work: Path, profile_text: str) -> None:
    """The main UART with read_urcs: the deactivation's URC is held in data mode, RI pulses, the
    monitor's round reads it and the link ends; the next link carries IP."""
    link = emulator()
    p = profile(profile_text.format(work=work))
    proc = up(p)
    first = wait_state("connected", 30)
    time.sleep(5.5)  # past stable_after, and the monitor's first 5 s in data mode
    control(link, "pdp_deact")
    second = wait_new_pppd(first, 60)
    deact = [t for t, kind, text in emulator_events() if kind == "event" and text.startswith("network deactivated")]
    record(first=first, second=second, deact=deact[0], link_dead=_log_times(work, "hanging up pppd"),
           ping=ns("ping", "-c", "2", "-W", "2", "10.64.64.1").returncode, rc=stop(proc))
