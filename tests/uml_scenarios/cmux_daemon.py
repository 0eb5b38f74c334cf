"""Guest side of tests/test_cmux_daemon_uml.py: ``up`` with modem.multiplex: cmux on the emulator's UART,
through the guest kernel's own n_gsm.

Each function runs in the UML guest (``lab.call``); ``work`` is the test's tmp dir, the profile
texts are templates with ``{work}`` and ``{python}``.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

from tests.uml_guest import (
    PY,
    cli,
    control,
    emulator,
    emulator_events,
    load_n_gsm,
    ns,
    pppd_processes,
    profile,
    record,
    status,
    stop,
    up,
    wait_new_pppd,
    wait_state,
)
from tests.uml_scenarios.network_ends import _log_times

MODULE = {"port": "uart", "cmux": True, "rssi": 12}


def answers_at(link: Path, timeout: float = 3.0) -> str:
    """What the raw UART answers to a plain AT (the module out of mux mode: OK)."""
    import serial

    with serial.Serial(str(link), 115200, timeout=0.1) as port:
        port.write(b"AT\r")
        got = b""
        end = time.monotonic() + timeout
        while b"OK" not in got and time.monotonic() < end:
            got += port.read(64)
    return got.decode("latin-1")


def stuck_in(pid: int) -> dict:
    """Each thread's state and kernel wait channel (a process that SIGKILL does not end)."""
    found = {}
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            state = next(line for line in (task / "status").read_text().splitlines() if line.startswith("State"))
            found[task.name] = f"{state} wchan={(task / 'wchan').read_text()}"
            for extra in ("syscall", "stack"):
                try:
                    found[f"{task.name}.{extra}"] = (task / extra).read_text()
                except OSError:
                    pass
        except (OSError, StopIteration):
            continue
    try:
        found["fds"] = {fd.name: os.readlink(fd) for fd in Path(f"/proc/{pid}/fd").iterdir()}
    except OSError:
        pass
    return found


def wait_for(path: Path, timeout: float) -> float | None:
    """When ``path`` first held text (polled every 10 ms), or None."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if path.exists() and path.read_text():
            return time.time()
        time.sleep(0.01)
    return None


def connected_monitor_ring_and_pdp_deact(work: Path, profile_text: str) -> None:
    """(a) connected over the mux, status refreshed by the monitor while a ping runs without a loss;
    (b) an SMS URC reaches on_ring; (c) a PDP deactivation URC ends the link, which is redialled."""
    load_n_gsm()
    link = emulator(MODULE)
    p = profile(profile_text.format(work=work, python=PY))
    proc = up(p)
    first = wait_state("connected", 60)
    connected_at = time.monotonic()
    pings = open(work / "ping.out", "w")
    pinger = subprocess.Popen(["ip", "netns", "exec", "client", "ping", "-i", "0.2", "-W", "2", "10.64.64.1"],
                              stdout=pings, stderr=subprocess.STDOUT)
    refreshed = [first.get("radio_at")]
    later = first
    deadline = time.monotonic() + 30
    while len(set(refreshed)) < 3 and time.monotonic() < deadline:  # two refreshes after the first
        time.sleep(0.2)
        later = status()
        refreshed.append(later.get("radio_at"))
    # never opened a second time here: n_gsm's open of a channel zeroes its modem lines (6.1,
    # gsmtty_open), and the carrier drop below would no longer hang pppd up
    ring = work / "ring"
    control(link, "ring", "sms")
    wait_for(ring, 5)
    time.sleep(max(0.0, 4 - (time.monotonic() - connected_at)))  # past stable_after: the end redials at once
    pinger.send_signal(signal.SIGINT)  # ping's summary: transmitted, received
    pinger.wait(10)
    pings.close()
    during = status()
    control(link, "pdp_deact")
    second = wait_new_pppd(first, 60)
    urcs = [t for t, kind, text in emulator_events() if kind == "urc" and "pdpdeact" in text.lower()]
    sms = [t for t, kind, text in emulator_events() if kind == "urc" and text.startswith("+CMTI")]
    # (d) the network ends the call: the module's NO CARRIER is an MSC without DV on DLC 2, and
    # n_gsm hangs pppd's channel up (pppd runs with "modem"), as DCD would on a UART
    time.sleep(4)  # past stable_after: the end redials at once
    dropped_at = time.time()
    control(link, "drop")
    third = wait_new_pppd(second, 60)
    ended = [t for t, kind, text in emulator_events() if kind == "event" and text == "call ended (network)"]
    record(dropped_at=dropped_at, call_ended=ended, third=third, hangups=_log_times(work, "pppd: Modem hangup"))
    record(first=first, later=later, refreshed=sorted({r for r in refreshed if r}), during=during,
           sms_urc=sms[0] if sms else None, ring=ring.read_text() if ring.exists() else "",
           ping=(work / "ping.out").read_text(), second=second, urc=urcs[0] if urcs else None,
           link_dead=_log_times(work, "hanging up pppd"), told=_log_times(work, "the module reports +CMTI"),
           module=control(link, "status"),
           ping_after=ns("ping", "-c", "2", "-W", "2", "10.64.64.1").returncode, rc=stop(proc))


def down_then_killed_then_up(work: Path, profile_text: str) -> None:
    """(d) ``down``: LCP Terminate-Request, the mux closed, AT on the raw UART; then a daemon killed
    with SIGKILL leaves the module multiplexing, and the next ``up`` closes that mux and connects."""
    load_n_gsm()
    link = emulator(MODULE)
    p = profile(profile_text.format(work=work, python=PY))
    proc = up(p)
    first = wait_state("connected", 60)
    muxed = control(link, "status")
    down = cli("down", str(p)).returncode
    rc = proc.wait(30)
    record(first=first, muxed=muxed, down=down, rc=rc, after_down=control(link, "status"),
           raw_at=answers_at(link), network_at_down=(work / "network.log").read_text(errors="replace"))
    proc = up(p)
    again = wait_state("connected", 60)
    killed_at = time.time()
    proc.send_signal(signal.SIGKILL)
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:  # what the killed daemon's threads wait on in the kernel
        record(stuck=stuck_in(proc.pid))
        raise
    record(killed_at=killed_at, dying=time.time() - killed_at)
    killed = control(link, "status")
    time.sleep(1)  # the killed daemon's pppd: its channel hung up with the mux's tty
    record(again=again, killed=killed, pppd_after_kill=pppd_processes())
    proc = up(p)
    third = wait_state("connected", 60)
    record(third=third, ping=ns("ping", "-c", "2", "-W", "2", "10.64.64.1").returncode,
           final_rc=stop(proc), final=control(link, "status"))
