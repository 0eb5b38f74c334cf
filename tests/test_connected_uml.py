"""While connected, on a real link (UML lab): the probe, DNS placement and routes."""

from __future__ import annotations

from tests.test_up_uml import PROFILE, module_log
from tests.uml import skip_without_uml
from tests.uml_scenarios import connected

pytestmark = skip_without_uml()


def test_probe_notices_a_silent_network_and_recovers(lab):
    """The network side stops forwarding without a word; LCP echo is off; the probe finds out."""
    text = PROFILE + ("ppp:\n  lcp_echo_interval: 0\n"
                      "probe:\n  target: 10.64.64.1\n  interval: 0.5\n  failures: 3\n  timeout: 1\n")
    results = lab.call(connected.blackhole_then_redial, profile_text=text, timeout=240)
    log = lab.file("up.log")
    assert "probe: 10.64.64.1 unreachable 3 times in a row" in log, lab.tail()
    assert results["second"]["pppd_pid"] != results["first"]["pppd_pid"]
    assert results["ping"] == 0 and results["rc"] == 0


def test_dns_file_and_route_metric(lab):
    text = PROFILE + "ppp:\n  route_metric: 700\n  dns: file\n  dns_file: {work}/resolv.conf\n"
    results = lab.call(connected.dns_file_and_routes, profile_text=text)
    assert "nameserver 10.64.64.53" in results["during"], lab.tail()
    assert "default dev ppp0" in results["routes"] and "metric 700" in results["routes"]
    assert results["after"] == "nameserver 192.0.2.53\n", "restored on link down"
    assert "ppp0" not in results["routes_after"]
    assert results["rc"] == 0


def test_no_default_route(lab):
    text = PROFILE + "ppp:\n  default_route: false\n  dns: none\n"
    results = lab.call(connected.routes_while_connected, profile_text=text)
    assert "default" not in results["routes"] and "10.64.64.1 dev ppp0" in results["routes"], lab.tail()


def test_dcd_loss_ends_the_link_at_once_and_ri_runs_on_ring(lab):
    """No LCP echo: only DCD (AT&C1) can tell that the network ended the call."""
    hook = "  on_ring: {python} -c \"import os; open('{work}/ring', 'a').write(os.environ['BG_PPPD_EVENT'])\"\n"
    text = PROFILE + "ppp:\n  lcp_echo_interval: 0\nhooks:\n" + hook
    results = lab.call(connected.ring_then_drop, profile_text=text)
    log = lab.file("up.log")
    assert "carrier lost (DCD dropped)" in log, lab.tail()
    # the tty was hung up as a modem line is: pppd saw the hangup first, and did not end the link
    # by sending Terminate-Requests over the dead line (with SIGHUP alone: "Connection terminated",
    # 3 s later, before "Modem hangup")
    after = log.split("carrier lost (DCD dropped)", 1)[1]
    assert after.index("pppd: Modem hangup") < after.index("pppd: Connection terminated"), lab.tail()
    assert "RI pulse" in log and lab.file("ring") == "ring"
    assert results["second"]["pppd_pid"] != results["first"]["pppd_pid"] and results["rc"] == 0
    assert results["took"] < 15, "redialled well before any LCP echo could have noticed"


def test_replace_an_existing_default_route(lab):
    """Ethernet's default route is there first; with replace_default_route the link takes over."""
    text = PROFILE + "ppp:\n  replace_default_route: true\n"
    results = lab.call(connected.over_an_ethernet_default_route, profile_text=text)
    assert "default via 192.0.2.1 dev eth9" in results["before"], lab.tail()
    assert "default dev ppp0" in results["during"] and "default via 192.0.2.1" not in results["during"]
    assert results["rc"] == 0


def test_usb_module_radio_status_from_the_at_port_while_connected(lab):
    """PPP on the modem port, the monitor on the AT port: status follows the radio, the link stays."""
    text = PROFILE.replace("  port: {work}/bg95\n", "  port: {work}/bg95-at\n  data_port: {work}/bg95\n") + \
        "monitor:\n  interval: 0.5\n"
    results = lab.call(connected.radio_status_refreshed, profile_text=text)
    first, later = results["first"], results["later"]
    assert first["operator"] == "Example" and first["registration"] == "home", lab.tail()
    assert later["signal"]["rssi_dbm"] == -89 and later["access_technology"] == "CAT-M1"
    assert later["radio_at"] > first["radio_at"], "the monitor refreshed it while connected"
    assert later["pppd_pid"] == first["pppd_pid"] and later["state"] == "connected"
    assert results["ping"] == 0 and results["rc"] == 0
    commands = [line.split(" ", 2)[2] for line in lab.file("emulator.log").splitlines() if " cmd " in line]
    assert commands.count("[at] AT+QCSQ") >= 3, "queries on the AT port while PPP ran on the modem port"
    assert "ATD*99#" in commands and "[at] ATD*99#" not in commands


def test_main_uart_escape_cycle_queries_and_reads_urcs_without_ending_the_link(lab):
    """One port: +++ (guard times) -> queries -> ATO, every interval and after RI; PPP stays up.

    The test waits for each round in the module's log instead of sleeping a round's length.
    """
    hook = ("  on_ring: {python} -c \"import os; open('{work}/ring', 'a')"
            ".write(os.environ['BG_PPPD_URCS'] + '|')\"\n")
    text = PROFILE + ("monitor:\n  interval: 10\n  escape: true\n  read_urcs: true\n"
                      "ppp:\n  lcp_echo_interval: 1\n  lcp_echo_failure: 10\nhooks:\n" + hook)
    results = lab.call(connected.escape_rounds_and_ring, profile_text=text, timeout=240)
    first, later, last = results["first"], results["later"], results["last"]
    assert later["signal"]["rssi_dbm"] == -85 and later["operator"] == "Example", lab.tail()
    assert later["radio_at"] > first["radio_at"]
    assert later["pppd_pid"] == last["pppd_pid"] == first["pppd_pid"] and last["state"] == "connected"
    assert results["ping"] == 0 and results["rc"] == 0
    assert lab.file("ring") == '+CMTI: "ME",1|', "the held-back URC reached on_ring"
    events = [(t, kind, what) for t, kind, what in module_log(lab) if t <= results["quiet"]]
    starts = [t for t, kind, what in events if what == "command mode (+++), link kept"]
    resumed = [t for t, kind, what in events if kind == "cmd" and what == "ATO"]
    assert len(starts) >= 2, "a round by the interval and one after the RI pulse"
    for start, end in zip(starts, [*starts[1:], results["quiet"]]):
        assert any(start < t < end for t in resumed), "every round went back to data mode"
    commands = [what for t, kind, what in events if kind == "cmd"]
    queried = commands.count("AT+QCSQ")  # the pre-flight reads no signal when it dials
    assert 1 <= queried < len(starts), "the ring's round reads URCs, it does not query"
    assert commands.count("ATD*99#") == 1, "never redialled"
    assert "lab: the module reports +CMTI" in lab.file("up.log")
