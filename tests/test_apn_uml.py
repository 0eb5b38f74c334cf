"""APN fallback on a real PPP link in the UML lab (issue 17, item 4): real kernel, pppd and chat.

The network accepts one APN; the profile lists a wrong one first. The first attempt's dial gets
NO CARRIER (the network rejects the PDN connectivity), the next attempt sets the second APN and
connects, and status says which. The daemon, restarted on a module with factory settings, sets
the APN that worked first: one dial, connected.
"""

from __future__ import annotations

import json

from tests.test_up_uml import PROFILE
from tests.uml import skip_without_uml
from tests.uml_scenarios import apn

pytestmark = skip_without_uml()

WRONG, RIGHT = "wrong.example", "iot.example"


def test_apn_fallback_wrong_then_right_then_remembered_across_a_restart(lab):
    # stable_after 60: the status read at "connected" still holds the failed dial's count (with
    # the lab's 3 s, a slow guest's `status` process read it after the ladder was cleared)
    text = PROFILE.replace("  apn: internet\n", f"  apn: [{WRONG}, {RIGHT}]\n").replace(
        "  stable_after: 3\n", "  stable_after: 60\n")
    assert "stable_after: 60" in text
    results = lab.call(apn.apn_fallback, profile_text=text, accepted=[RIGHT], timeout=300)
    events = [(kind, what) for _t, kind, what in results["events"]]
    first, second = events[:results["restart_at"]], events[results["restart_at"]:]

    def dials(run):
        """(the CGDCONT written before it, the dial's final result) of each ATD in ``run``."""
        out, context, waiting = [], None, False
        for kind, what in run:
            if kind == "cmd" and what.startswith("AT+CGDCONT=1,"):
                context = what.split(",")[2].strip('"')
            elif kind == "cmd" and what.startswith("ATD"):
                waiting = True
            elif kind == "final" and waiting:
                out.append((context, what))
                waiting = False
        return out

    first_dials = dials(first)
    assert first_dials[0] == (WRONG, "NO CARRIER"), lab.tail()
    assert first_dials[1][0] == RIGHT and first_dials[1][1].startswith("CONNECT"), first_dials
    assert len(first_dials) == 2
    assert results["first"]["apn"] == RIGHT and results["first"]["local_ip"] == "10.64.64.2"
    assert results["first"]["consecutive_failures"] == 1, "the failed dial counted as any"
    up_log = lab.file("up.log")
    changed = [line for line in up_log.splitlines() if f"APN '{WRONG}' failed" in line]
    assert len(changed) == 1 and "(the connect script (chat) failed (exit 8)" in changed[0], up_log[-3000:]
    assert changed[0].endswith(f"next attempt with '{RIGHT}'")
    assert json.loads(results["memory"])["sims"] == {"89882280666012345678": {"apn": RIGHT}}
    assert results["first_rc"] == 0 and results["second_rc"] == 0
    # the second run: a module with factory contexts; the remembered APN is the first one set
    writes = [what for kind, what in second if kind == "cmd" and what.startswith("AT+CGDCONT=")]
    assert writes == [f'AT+CGDCONT=1,"IP","{RIGHT}"'], writes
    second_dials = dials(second)
    assert len(second_dials) == 1 and second_dials[0][1].startswith("CONNECT"), second_dials
    assert results["second"]["apn"] == RIGHT and results["second"]["local_ip"] == "10.64.64.2"
