"""Guest side of tests/test_daemon_uml.py: the supervisor's loop never waits on a tool.

Runs in the UML guest (``lab.call``); ``work`` is the test's tmp dir, ``profile_text`` a
template with ``{work}``, ``fake_resolvconf`` a template with ``{work}`` and ``{stuck}``.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path

from tests.uml_guest import emulator, profile, record, up

NOTIFY = "/run/notify.sock"


def stuck_dns_tool_then_sigterm(work: Path, profile_text: str, fake_resolvconf: str, stuck: float) -> None:
    """Up with a resolvconf that hangs ``stuck`` s on ``-a``; 3 s into the hang, SIGTERM.

    Records the exit status, SIGTERM-to-exit time and the watchdog pings (times relative to
    the SIGTERM) read from a NOTIFY_SOCKET of our own."""
    fake = work / "fakebin"
    fake.mkdir()
    (fake / "resolvconf").write_text(fake_resolvconf.format(work=work, stuck=stuck))
    (fake / "resolvconf").chmod(0o755)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(NOTIFY)
    notes: list[tuple[float, str]] = []

    def read_notes() -> None:
        while True:
            notes.append((time.monotonic(), sock.recv(4096).decode(errors="replace")))
    threading.Thread(target=read_notes, daemon=True).start()
    emulator()
    p = profile(profile_text.format(work=work))
    proc = up(p, extra_env={"PATH": f"{fake}:" + os.environ["PATH"], "NOTIFY_SOCKET": NOTIFY,
                            "WATCHDOG_USEC": "1000000"})
    deadline = time.monotonic() + 60
    log = work / "resolvconf.log"
    while time.monotonic() < deadline and " start -a" not in (log.read_text() if log.exists() else ""):
        time.sleep(0.05)
    stuck_at = time.monotonic()
    time.sleep(3)  # the tool hangs; the loop must go on pinging meanwhile
    sent = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    try:
        rc = proc.wait(30)
    except subprocess.TimeoutExpired:
        rc = None
    ended = time.monotonic()
    record(rc=rc, exit_after=ended - sent, stuck_seen=stuck_at < deadline,
           pings=[t - sent for t, m in notes if "WATCHDOG=1" in m and stuck_at <= t <= ended],
           notes=[(t - sent, m) for t, m in notes], tool=log.read_text() if log.exists() else "")
