"""The daemon's loop never waits on a tool, on a real link (UML lab): issue 16, defect 1.

A DNS tool stuck right after IP is up (resolvconf, found first on PATH in the guest) must not
delay a SIGTERM: pppd ends the link with LCP Terminate-Request and the daemon exits within
6 s, and the systemd watchdog pings (NOTIFY_SOCKET, WATCHDOG_USEC) keep coming all along.
"""

from __future__ import annotations

from tests.test_up_uml import PROFILE
from tests.uml import skip_without_uml
from tests.uml_scenarios import daemon

pytestmark = skip_without_uml()

STUCK = 12  # seconds the fake resolvconf takes to add the link's servers

FAKE_RESOLVCONF = """#!/bin/sh
# the test's resolvconf: logs each call; adding the servers hangs for {stuck} s
echo "$(cat /proc/uptime | cut -d' ' -f1) start $*" >> {work}/resolvconf.log
cat > /dev/null
case "$1" in -a) sleep {stuck} ;; esac
echo "$(cat /proc/uptime | cut -d' ' -f1) end $*" >> {work}/resolvconf.log
"""


def test_defect1_a_stuck_dns_tool_delays_neither_sigterm_nor_the_watchdog(lab):
    text = PROFILE + "ppp:\n  dns: resolvconf\n"
    results = lab.call(daemon.stuck_dns_tool_then_sigterm, profile_text=text, fake_resolvconf=FAKE_RESOLVCONF,
                       stuck=STUCK, timeout=240)
    assert results["stuck_seen"], lab.tail()
    print(f"SIGTERM to exit: {results['exit_after']:.2f} s; pings {results['pings']}")
    assert results["rc"] == 0, lab.tail()
    assert "rcvd [LCP TermReq" in lab.file("network.log"), "the link ended with LCP Terminate-Request"
    assert results["exit_after"] < 6, f"exit {results['exit_after']:.1f} s after SIGTERM\n{lab.tail()}"
    pings = results["pings"]
    assert pings and pings[0] < -2.0, f"no watchdog ping while the DNS tool hung: {results['notes']}"
    gaps = [b - a for a, b in zip([-3.0, *pings], [*pings, results["exit_after"]])]
    assert max(gaps) < 2.0, f"the watchdog went {max(gaps):.1f} s without a ping: {pings}"
