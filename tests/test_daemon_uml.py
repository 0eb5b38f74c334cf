"""The daemon's loop never waits on a tool, on a real link (UML lab): issue 16, defect 1.

A DNS tool stuck right after IP is up (resolvconf, found first on PATH in the guest) must not
delay a SIGTERM: pppd ends the link with LCP Terminate-Request and the daemon exits within
6 s, and the systemd watchdog pings (NOTIFY_SOCKET, WATCHDOG_USEC) keep coming all along.
"""

from __future__ import annotations

import pytest

from tests.test_up_uml import PROFILE
from tests.uml import Lab, skip_without_uml

pytestmark = skip_without_uml()

STUCK = 12  # seconds the fake resolvconf takes to add the link's servers

FAKE_RESOLVCONF = """#!/bin/sh
# the test's resolvconf: logs each call; adding the servers hangs for {stuck} s
echo "$(cat /proc/uptime | cut -d' ' -f1) start $*" >> {work}/resolvconf.log
cat > /dev/null
case "$1" in -a) sleep {stuck} ;; esac
echo "$(cat /proc/uptime | cut -d' ' -f1) end $*" >> {work}/resolvconf.log
"""


@pytest.fixture
def lab(tmp_path, tmp_path_factory):
    return Lab(tmp_path, tmp_path_factory.getbasetemp())


def test_defect1_a_stuck_dns_tool_delays_neither_sigterm_nor_the_watchdog(lab):
    text = PROFILE + "ppp:\n  dns: resolvconf\n"
    results = lab.run(f"""
        import socket as _socket
        import threading as _threading
        import time as _t
        fake = WORK / "fakebin"
        fake.mkdir()
        (fake / "resolvconf").write_text({FAKE_RESOLVCONF!r}.format(work=WORK, stuck={STUCK}))
        (fake / "resolvconf").chmod(0o755)
        sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_DGRAM)
        sock.bind("/run/notify.sock")
        notes = []

        def read_notes():
            while True:
                data = sock.recv(4096)
                notes.append((_t.monotonic(), data.decode(errors="replace")))
        _threading.Thread(target=read_notes, daemon=True).start()
        link = emulator()
        p = profile({text!r}.format(work=WORK))
        proc = up(p, extra_env={{"PATH": f"{{fake}}:" + os.environ["PATH"], "NOTIFY_SOCKET": "/run/notify.sock",
                                 "WATCHDOG_USEC": "1000000"}})
        deadline = _t.monotonic() + 60
        log = WORK / "resolvconf.log"
        while _t.monotonic() < deadline and " start -a" not in (log.read_text() if log.exists() else ""):
            _t.sleep(0.05)
        stuck_at = _t.monotonic()
        _t.sleep(3)  # the tool hangs; the loop must go on pinging meanwhile
        sent = _t.monotonic()
        proc.send_signal(signal.SIGTERM)
        try:
            rc = proc.wait(30)
        except subprocess.TimeoutExpired:
            rc = None
        ended = _t.monotonic()
        record(rc=rc, exit_after=ended - sent, stuck_seen=stuck_at < deadline,
               pings=[t - sent for t, m in notes if "WATCHDOG=1" in m and stuck_at <= t <= ended],
               notes=[(t - sent, m) for t, m in notes], tool=log.read_text() if log.exists() else "")
    """, timeout=240)
    assert results["stuck_seen"], lab.tail()
    print(f"SIGTERM to exit: {results['exit_after']:.2f} s; pings {results['pings']}")
    assert results["rc"] == 0, lab.tail()
    assert "rcvd [LCP TermReq" in lab.file("network.log"), "the link ended with LCP Terminate-Request"
    assert results["exit_after"] < 6, f"exit {results['exit_after']:.1f} s after SIGTERM\n{lab.tail()}"
    pings = results["pings"]
    assert pings and pings[0] < -2.0, f"no watchdog ping while the DNS tool hung: {results['notes']}"
    gaps = [b - a for a, b in zip([-3.0, *pings], [*pings, results["exit_after"]])]
    assert max(gaps) < 2.0, f"the watchdog went {max(gaps):.1f} s without a ping: {pings}"
