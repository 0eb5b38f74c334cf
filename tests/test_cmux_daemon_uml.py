"""``up`` with modem.multiplex: cmux on a real link (UML lab): the guest kernel's own n_gsm between
bg-pppd and the virtual module's UART, real pppd on the data channel, AT on the other (issue 18).

Two boots: the link's life while connected (monitor, ring, PDP deactivation), then its ends
(``down``, and a daemon killed with the module still multiplexing).
"""

from __future__ import annotations

import re

from tests.test_up_uml import PROFILE
from tests.uml import skip_without_uml
from tests.uml_scenarios import cmux_daemon

pytestmark = skip_without_uml()

CMUX = PROFILE.replace("  line_backend: emulator\n", "  line_backend: emulator\n  multiplex: cmux\n  "
                       "cmux_fallback: exit\n")
# a shell, not Python: the hook's own start-up (a Python's is ~1 s in a busy guest) is not the wiring's
HOOK = ("hooks:\n  on_ring: [\"/bin/sh\", \"-c\", "
        "\"printf '%s@%s' \\\"$BG_PPPD_URCS\\\" \\\"$(date +%s.%N)\\\" >> {work}/ring\"]\n")


def test_cmux_link_monitor_ring_and_pdp_deactivation(lab):
    text = CMUX + "monitor:\n  interval: 0.5\nppp:\n  lcp_echo_interval: 30\n" + HOOK
    r = lab.call(cmux_daemon.connected_monitor_ring_and_pdp_deact, profile_text=text, timeout=240)
    log = lab.file("up.log")
    first, later = r["first"], r["later"]
    assert "multiplexer up: AT on /dev/gsmtty1, PPP on /dev/gsmtty2" in log, lab.tail()
    # (a) the monitor refreshed the radio at least twice, on the AT channel, while PPP ran on
    assert len(r["refreshed"]) >= 3, r["refreshed"]
    assert later["operator"] == "Example" and later["registration"] == "home"
    assert later["signal"]["rssi_dbm"] == -89 and later["pppd_pid"] == first["pppd_pid"]
    sent, received = map(int, re.search(r"(\d+) packets transmitted, (\d+) received", r["ping"]).groups())
    print(f"\ncmux: ping {sent} sent / {received} received while the monitor queried")
    assert sent >= 10 and received == sent, r["ping"]
    assert r["during"]["pppd_pid"] == first["pppd_pid"], "never redialled while the monitor ran"
    commands = [line.split(" ", 2)[2] for line in lab.file("emulator.log").splitlines() if " cmd " in line]
    assert sum(c.endswith("AT+QCSQ") for c in commands) >= 3, "queries over the mux"
    assert any(c.endswith('AT+QCFG="cmux/urcport",1') for c in commands), "URCs to the AT channel"
    assert "escape" not in log and "+++" not in [c.rsplit(" ", 1)[-1] for c in commands], "no pause in PPP"
    # (b) the SMS URC on the AT channel reached on_ring, its text in BG_PPPD_URCS
    text_, _, when = r["ring"].partition("@")
    assert text_ == '+CMTI: "ME",1', r["ring"]
    # the supervisor has the URC and starts on_ring (ring_hook) at once; the hook's own process then
    # starts as fast as the guest forks a Python daemon (1-2.5 s seen in a loaded UML guest)
    told = [t for t in r["told"] if t >= r["sms_urc"] - 0.01]
    started = float(when) - r["sms_urc"]
    print(f"cmux: SMS URC -> on_ring started {told[0] - r['sms_urc']:.3f} s, the hook running {started:.3f} s")
    assert told and told[0] - r["sms_urc"] < 1.0, (r["sms_urc"], r["told"])
    assert 0 < started < 5.0, r
    # (c) the PDP deactivation URC ended the link at once; redialled over a new mux
    dead = [t for t in r["link_dead"] if t >= r["urc"] - 0.1]  # two logs, two writers: ~10 ms apart
    assert dead and dead[0] - r["urc"] < 1.0, (r["urc"], r["link_dead"])
    print(f"cmux: pdp deact URC -> link dead {dead[0] - r['urc']:.3f} s")
    assert "ended the PDP context" in log and r["second"]["pppd_pid"] != first["pppd_pid"]
    assert r["second"]["state"] == "connected"
    # (d) carrier over the mux: DV cleared in the module's MSC on DLC 2, n_gsm hangs pppd's channel up
    # at once (LCP echoes every 30 s here: they could not have found it this fast)
    ended = [t for t in r["call_ended"] if t >= r["dropped_at"]]
    hangups = [t for t in r["hangups"] if ended and t >= ended[0] - 0.1]  # two logs, two writers
    assert hangups and hangups[0] - ended[0] < 1.0, (r["call_ended"], r["hangups"], lab.tail())
    print(f"cmux: the module's NO CARRIER -> pppd's Modem hangup {hangups[0] - ended[0]:.3f} s")
    assert r["third"]["pppd_pid"] != r["second"]["pppd_pid"] and r["third"]["state"] == "connected"
    assert r["ping_after"] == 0 and r["rc"] == 0


def test_cmux_down_closes_the_mux_and_a_killed_daemons_mux_is_closed_at_the_next_up(lab):
    r = lab.call(cmux_daemon.down_then_killed_then_up, profile_text=CMUX, timeout=240)
    log = lab.file("up.log")
    assert r["muxed"]["cmux"], lab.tail()
    # (d) down: LCP Terminate-Request on the data channel, then the mux closed, AT on the raw UART
    assert r["down"] == 0 and r["rc"] == 0
    assert "rcvd [LCP TermReq" in r["network_at_down"], "LCP Terminate-Request on the stop"
    assert r["after_down"]["cmux"] is None and "OK" in r["raw_at"], (r["after_down"], r["raw_at"])
    assert "multiplexer closed: the module answers AT" in log
    # SIGKILL: the module stays multiplexing; the next up closes that mux first and connects
    assert r["killed"]["cmux"], r["killed"]
    events = [(float(t), text) for t, kind, text in (line.split(" ", 2) for line in
              lab.file("emulator.log").splitlines() if line.count(" ") >= 2) if kind == "event"]
    entered = [t for t, text in events if text.startswith("mux mode (AT+CMUX")]
    left = [t for t, text in events if text.startswith("mux mode left")]
    assert len(entered) == 3 and len(left) == 3, events
    assert r["killed_at"] < left[1] < entered[2], "the next up closed the leftover mux before its own"
    assert r["third"]["state"] == "connected" and r["ping"] == 0 and r["final_rc"] == 0
    assert r["final"]["cmux"] is None, "the last stop closed its mux too"
