"""On a real link (UML lab): the network ends the PDP context, and a dial fails (issue 17, 7 and 8).

The module keeps the PPP session and answers LCP echo after the network deactivated the
context: with LCP echo every 30 s nothing but the URC on the AT port can end the link within
a second. A failed dial leaves the module's diagnostics (AT+CEER...) in status.
"""

from __future__ import annotations

from tests.test_up_uml import PROFILE
from tests.uml import skip_without_uml
from tests.uml_scenarios import network_ends

pytestmark = skip_without_uml()

USB = PROFILE.replace("  port: {work}/bg95\n", "  port: {work}/bg95-at\n  data_port: {work}/bg95\n")


def test_pdp_deactivation_ends_the_link_at_once_and_it_is_redialled(lab):
    text = USB + "ppp:\n  lcp_echo_interval: 30\n  lcp_echo_failure: 4\nmonitor:\n  interval: 0\n"
    r = lab.call(network_ends.pdp_deact_while_pinging, profile_text=text, timeout=240)
    log = lab.file("up.log")
    assert "the network ended the PDP context (+CGEV: NW PDN DEACT 1); hanging up pppd" in log, lab.tail()
    assert r["second"]["pppd_pid"] != r["first"]["pppd_pid"] and r["second"]["state"] == "connected"
    assert r["ping"] == 0 and r["rc"] == 0, "IP passes on the new link"
    urc, dead = r["urc"], [t for t in r["link_dead"] if t >= r["deact"] - 0.01]
    hung_up = [t for t in r["hung_up"] if t >= r["deact"] - 0.01]
    ip_up = [t for t in r["ip_up"] if t > r["deact"]]
    assert urc is not None and dead and hung_up and ip_up, r
    figures = {"urc->link dead": dead[0] - urc, "urc->pppd hung up": hung_up[0] - urc,
               "urc->IP again": ip_up[0] - urc}
    print("\nnetwork-side end:", ", ".join(f"{k} {v:.3f} s" for k, v in figures.items()))
    assert figures["urc->link dead"] < 1.0, figures
    assert figures["urc->pppd hung up"] < 1.5, figures
    assert figures["urc->IP again"] < 15, figures
    # the network side saw two sessions: the old one silenced, then a new LCP negotiation
    network = lab.file("network.log")
    assert network.count("rcvd [LCP ConfReq") >= 2 and network.count("local  IP address") >= 2, network[-3000:]
    # LCP echo never noticed: no "No response to N echo-requests", the hang-up ended pppd
    assert "echo-requests" not in log


def test_a_failed_dial_leaves_the_modules_diagnostics_in_status(lab):
    r = lab.call(network_ends.dial_fails_then_connects, profile_text=USB, timeout=240)
    log = lab.file("up.log")
    st = r["connected"]
    assert st["last_diagnostics"]["AT+CEER"] == "+CEER: No cause information available", lab.tail()
    assert st["last_diagnostics"]['AT+QENG="servingcell"'].startswith('+QENG: "servingcell","NOCONN","eMTC"')
    assert set(st["last_diagnostics"]) == {'AT+QENG="servingcell"', "AT+CEER", "AT+QCSQ", "AT+QNWINFO"}
    lines = [line for line in log.splitlines() if "the module's diagnostics" in line]
    assert len(lines) == 1 and "AT+CEER: +CEER:" in lines[0], log
    assert r["rc"] == 0


def test_lcp_echo_does_not_notice_a_deactivated_context(lab):
    """Why the URCs matter: the module answers LCP itself, so with LCP echo every second the link
    stays 'up' (the same pppd) while no IP passes. Nothing reads URCs on this main UART profile."""
    text = PROFILE + "ppp:\n  lcp_echo_interval: 1\n  lcp_echo_failure: 2\n"
    r = lab.call(network_ends.lcp_echo_does_not_notice, profile_text=text)
    assert r["later"]["state"] == "connected" and r["later"]["pppd_pid"] == r["first"]["pppd_pid"], lab.tail()
    assert r["ping"] != 0, "no IP passes any more"
    assert "echo-requests" not in lab.file("up.log") and r["rc"] == 0


def test_on_the_main_uart_the_ring_round_reads_the_deactivation(lab):
    text = PROFILE + "ppp:\n  lcp_echo_interval: 30\nmonitor:\n  read_urcs: true\n"
    r = lab.call(network_ends.pdp_deact_on_the_main_uart, profile_text=text, timeout=240)
    log = lab.file("up.log")
    assert 'the network ended the PDP context (+QIURC: "pdpdeact",1); hanging up pppd' in log, lab.tail()
    assert r["second"]["pppd_pid"] != r["first"]["pppd_pid"] and r["ping"] == 0 and r["rc"] == 0
    dead = [t for t in r["link_dead"] if t >= r["deact"] - 0.01]
    print(f"\nmain UART: deactivation -> link dead {dead[0] - r['deact']:.3f} s (RI, +++ guard times, URCs)")
    assert dead[0] - r["deact"] < 5, "one round: the guard times, not LCP echo's 2 minutes"
