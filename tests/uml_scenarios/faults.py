"""Guest side of tests/test_faults_uml.py: the fault matrix on a real link.

Each function runs in the UML guest (``lab.call``); ``work`` is the test's tmp dir, the profile
texts are templates with ``{work}`` (and ``{python}``: the guest's Python), ``module`` is the
virtual module's scenario.
"""

from __future__ import annotations

import socket
import time
from pathlib import Path

from tests.uml_guest import PY, control, emulator, ns, profile, record, status, stop, up, wait_new_pppd, wait_state


def connect_and_stop(work: Path, profile_text: str, module: dict, connect_within: float = 30) -> None:
    """Connected within ``connect_within`` s, then SIGTERM."""
    emulator(module)
    p = profile(profile_text.format(work=work, python=PY))
    proc = up(p)
    record(st=wait_state("connected", connect_within), rc=stop(proc))


def fault_while_connected(work: Path, profile_text: str, module: dict, fault: str, ping: bool) -> None:
    """Connected past stable_after, then the module's ``fault``; wait for a new pppd to connect (and ping)."""
    link = emulator(module)
    p = profile(profile_text.format(work=work))
    proc = up(p)
    first = wait_state("connected", 30)
    time.sleep(3.5)  # past stable_after: a late fault
    control(link, fault)
    second = wait_new_pppd(first, 40)
    record(first=first, second=second)
    if ping:
        record(ping=ns("ping", "-c", "1", "-W", "2", "10.64.64.1").returncode)
    record(rc=stop(proc))


def until_exit(work: Path, profile_text: str, module: dict) -> None:
    """`up` until it exits by itself; its exit status and last status."""
    emulator(module)
    p = profile(profile_text.format(work=work))
    proc = up(p)
    record(rc=proc.wait(60), st=status())


def systemd_notifications(work: Path, profile_text: str, module: dict) -> None:
    """`up` with NOTIFY_SOCKET: every message until READY=1 with the state then, and all messages."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(work / "notify.sock"))
    sock.settimeout(0.1)
    emulator(module)
    p = profile(profile_text.format(work=work))
    proc = up(p, extra_env={"NOTIFY_SOCKET": str(work / "notify.sock")})
    messages = []
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not any("READY=1" in m for m, _ in messages):
        try:
            messages.append((sock.recv(4096).decode(), status()["state"]))
        except OSError:
            pass
    record(messages=messages, st=status(), rc=stop(proc))
    while True:
        try:
            messages.append((sock.recv(4096).decode(), ""))
        except OSError:
            break
    record(all=[m for m, _ in messages])
