"""The reliability review's real-link attacks (issue 15: D2, D3, D6, D9) in the UML lab.

Real kernel PPP, real pppd and chat; the module is the emulator. Scenarios that need the
same kind of guest share one boot (each boot costs about 10 s).
"""

from __future__ import annotations

from tests.test_up_uml import PROFILE
from tests.uml import skip_without_uml
from tests.uml_scenarios import review

pytestmark = skip_without_uml()


# The module appends this to its CONNECT line (the review's exact text): chat's REPORT line
# carries it into pppd's log. Over a sink nothing answers PPP, so no IPCP ever happens.
SPOOF = ("CONNECT 150000000 local  IP address 203.0.113.66 remote IP address 203.0.113.1 "
         "primary DNS address 203.0.113.53 secondary DNS address 203.0.113.54")
# Lines before CONNECT: with ppp.debug, chat -v echoes each of them as a whole line of pppd's log.
SPOOF_LINES = ("local  IP address 203.0.113.66\nremote IP address 203.0.113.1\n"
               "primary   DNS address 203.0.113.53\nUsing interface ppp0\nCONNECT 150000000")

SPOOF_PROFILE = """\
modem:
  port: {work}/{name}
  line_backend: emulator
network:
  apn: internet
  poll_interval: 0.1
  registration_timeout: 5
ppp:
  dns: file
  dns_file: {dns_file}
  debug: {debug}
recovery:
  at_timeout: 3
  dial_timeout: 5
  retry_wait: 0.5
  stable_after: 3
hooks:
  on_up: "/bin/sh -c 'env | grep ^BG_PPPD_ | sort > {work}/{name}.up-env'"
"""


def test_D06_D09_spoofed_ip_up_and_unwritable_dns_on_real_links(lab):
    cases = [
        {"key": "report", "name": "spoofa", "module": {"network": "sink", "connect_text": SPOOF}, "debug": "false",
         "dns_file": None, "settle": None},
        {"key": "echoed", "name": "spoofb", "module": {"network": "sink", "connect_text": SPOOF_LINES},
         "debug": "true", "dns_file": None, "settle": None},
        {"key": "real", "name": "spoofc", "module": {"connect_text": SPOOF_LINES}, "debug": "true",
         "dns_file": None, "settle": 0.5},
        {"key": "rodns", "name": "rodns", "module": {}, "debug": "false",
         "dns_file": str(lab.work / "ro" / "resolv.conf"), "settle": 3.5}]  # ro: a read-only tmpfs
    results = lab.call(review.spoofed_links, profile_text=SPOOF_PROFILE, cases=cases, timeout=200)
    log = lab.file("up.log")
    # D6: the module's text alone never declares the link up: no status, no DNS, no on_up
    for key in ("report", "echoed"):
        r = results[key]
        assert "error" not in r, (key, r, lab.tail())
        assert "attack delivered" in r["seen"], (key, r, lab.tail())
        assert "connected" not in r["seen"] and not any(s.startswith("local_ip") for s in r["seen"]), (key, r)
        assert r["hook"] is None, (key, r["hook"])
        assert r["resolv"] == "nameserver 192.0.2.1\n", (key, r["resolv"])
        assert r["rc"] == 0 and r["pppd_left"] == [], (key, r)
    assert "203.0.113.53 via file" not in log
    # chat -v's echo: dropped before pppd names its interface, or (read late) not backed by the kernel
    assert "spoofb: pppd's log shows 'local  IP address 203.0.113.66' before pppd named its interface" in log \
        or "spoofb: pppd's log claims IP up on ppp0 (203.0.113.66 peer 203.0.113.1), but the kernel disagrees" in log
    # ... and a real link behind the same text comes up with the addresses IPCP gave
    real = results["real"]
    assert "error" not in real, (real, lab.tail())
    st = real["connected"]
    assert (st["local_ip"], st["remote_ip"], st["dns"]) == ("10.64.64.2", "10.64.64.1", ["10.64.64.53"]), st
    assert "BG_PPPD_LOCAL_IP=10.64.64.2" in real["hook"] and "BG_PPPD_DNS=10.64.64.53\n" in real["hook"]
    assert real["resolv"] == "nameserver 192.0.2.1\n", "restored on link down"
    assert real["rc"] == 0 and real["pppd_left"] == []
    # D9: an unwritable dns_file is a logged error: the link stays up, the stop is clean
    ro = results["rodns"]
    assert "error" not in ro, (ro, lab.tail())
    assert ro["later"]["state"] == "connected" and ro["later"]["pppd_pid"] == ro["connected"]["pppd_pid"]
    assert "rodns: dns: cannot write" in log and "Read-only file system" in log
    assert "rodns: dns:" not in log.split("rodns: dns: cannot write", 1)[1], "nothing to restore afterwards"
    assert ro["rc"] == 0 and ro["pppd_left"] == [] and ro["hook"] is not None, ro
    assert "Traceback" not in log


D2_PROFILE = PROFILE.replace("  port: {work}/bg95\n", "  port: {work}/usb-at\n  data_port: {data_port}\n") \
    .replace("registration_timeout: 5", "registration_timeout: 20") \
    + "  dial_attempts: 40\n"


def test_D02_a_ppp_port_missing_for_a_moment_is_retried_not_a_permanent_stop(lab):
    """A USB re-enumeration: the PPP port (a by-path name, holding ':') is missing, then is no tty
    for a moment, then is back. The daemon keeps trying and connects; it never stops with exit 2."""
    results = lab.call(review.ppp_port_missing_then_back, profile_text=D2_PROFILE, timeout=150)
    log = lab.file("up.log")
    assert results["alive_missing"] and results["alive_no_tty"], (results, lab.tail())
    assert "cannot continue" not in log and "fix the profile" not in log
    assert results["no_tty"]["consecutive_failures"] >= 2, results
    assert "was missing (or no tty) when pppd started (exit 2)" in log, "pppd's own exit 2 was a failed attempt"
    assert results["st"]["state"] == "connected" and results["st"]["local_ip"] == "10.64.64.2"
    assert results["rc"] == 0 and results["pppd_left"] == []


D3_PROFILE = """\
modem:
  port: {port}
  line_backend: emulator
{extra}
network:
  apn: internet
  poll_interval: 0.1
  registration_timeout: 5
recovery:
  at_timeout: 3
  dial_timeout: 5
  retry_wait: 0.5
  stable_after: 3
  boot_timeout: 10
"""


def test_D03_check_on_a_connected_port_and_a_daemon_on_anothers_ppp_port_end_promptly(lab):
    """Both attacks of the review's exp3. They end with a diagnosis, without spinning on the
    CPU, and leave the connected link alone. (Needs the AT layer's write timeout / line
    discipline refusal and the locks on both ports, besides the supervisor's bounded stop.)"""
    results = lab.call(review.ports_held_by_a_live_link, profile_text=D3_PROFILE, timeout=200)
    check, b = results["check"], results["B"]
    # a: check refuses, or gives up on the port quickly: never a hang, never a busy loop
    assert check["s"] < 20 and check["rc"] not in (0, -9), (check, lab.tail())
    assert check["cpu"] < 0.5 * check["s"] + 3.0, check  # Python's start-up alone is ~1 s of CPU in UML
    assert "Traceback" not in check["out"] and check["out"].strip(), check
    assert results["uart_after"]["state"] == "connected"
    assert results["uart_after"]["pppd_pid"] == results["uart_before"]["pppd_pid"], "the link was left alone"
    # b: B is refused, or stops within a bounded time of its SIGTERM; it does not spin meanwhile
    assert b["rc"] != -9, b
    assert b["s"] < (b["sigterm_at"] or 0) + 20, b
    assert b["cpu"] < 0.5 * b["s"] + 3.0, b
    assert "Traceback" not in b["out"], b
    assert results["A_after"]["state"] == "connected"
    assert results["A_after"]["pppd_pid"] == results["A_before"]["pppd_pid"], "A's link was left alone"


# The re-test's expx1: with ppp.debug, chat -v echoes these lines whole (the module ends them with
# a bare "\n"); they name profile A's live link, which really holds these addresses. Without the
# CONNECT, chat goes on waiting for one (its dial timeout): the claim stands while no pppd of
# B's has named an interface, whatever the timing.
OTHER_LINK_LINES = ("Using interface ppp0\nlocal  IP address 10.64.64.2\nremote IP address 10.64.64.1\n"
                    "primary DNS address 203.0.113.53\nsecondary DNS address 203.0.113.54\n")
OTHER_LINK_SPOOFS = {"B": OTHER_LINK_LINES + "CONNECT 150000000", "C": OTHER_LINK_LINES + "PLEASE WAIT"}

TWO_PROFILES = """\
modem:
  port: {work}/{port}
  line_backend: emulator
network:
  apn: internet
  poll_interval: 0.1
  registration_timeout: 5
ppp:
  dns: file
  dns_file: {work}/resolv{name}.conf
  lcp_echo_interval: 0
  debug: {debug}
recovery:
  at_timeout: 3
  dial_timeout: 5
  retry_wait: 0.5
  stable_after: 3
  dial_attempts: 2
hooks:
  on_up: "/bin/sh -c 'env | grep ^BG_PPPD_ | sort > {work}/hook{name}-up.env'"
"""


def test_D06_D08_a_module_naming_another_profiles_live_link_and_a_planted_dns_backup(lab):
    """Profile A is connected on ppp0. The modules of B and C (ppp.debug: chat -v echoes them)
    claim ppp0 with A's addresses and their own DNS before their pppd has named any interface;
    their network answers no PPP. A's state dir is shared and sticky, and another user planted
    A's DNS backup there as a symlink to a root-only file."""
    results = lab.call(review.other_profiles_claim_a_live_link, profile_text=TWO_PROFILES, spoofs=OTHER_LINK_SPOOFS,
                       timeout=280)
    log = lab.file("up.log")
    a = results.get("A")
    assert a and a["interface"] == "ppp0" and a["local_ip"] == "10.64.64.2", (results, lab.tail())
    # D6: neither is declared up, writes DNS or runs on_up
    for name, resolv in (("B", "nameserver 192.0.2.2\n"), ("C", "nameserver 192.0.2.3\n")):
        r = results.get(name)
        assert r and r["delivered"], (name, "the module's lines never reached pppd's log", lab.tail())
        assert "connected" not in r["seen"] and not any(s.startswith("local_ip") for s in r["seen"]), (name, r)
        assert r["hook"] is None and r["resolv"] == resolv, (name, r)
        assert f"{name}: dns:" not in log and r["rc"] == 0, (name, r)
        assert r["A"]["state"] == "connected" and r["A"]["pppd_pid"] == a["pppd_pid"], "A's link was left alone"
        # pppd 2.4.9 writes its link pid file with its pid alone first, and names the interface
        # only in set_ifunit (after the connect script): never ppp0 here
        assert any(t.count("\n") == 1 for t in r["linkpid"]), (name, r["linkpid"])
        assert all(t.split()[1:2] != ["ppp0"] for t in r["linkpid"]), (name, r["linkpid"])
    assert "203.0.113.53 via file" not in log
    # chat waiting for its CONNECT: the claim came before pppd named anything, and is not believed
    assert "C: pppd's log shows 'Using interface ppp0' before pppd named its interface" in log, lab.tail()
    assert not [t for t in results["C"]["linkpid"] if t.count("\n") > 1], "chat failed: pppd named nothing"
    # D8: the planted backup was never read through: A's file is back as it was, with its mode
    assert "nameserver 10.64.64.53" in results["A_resolv_up"]
    assert results["resolvA"] == "nameserver 192.0.2.1\n" and results["resolvA_mode"] == 0o644, results
    assert "SECRET" not in results["resolvA"] and "SECRET" not in log
    assert f"A: dns: {lab.work}/sharedst/A.dns-backup is not trusted (not a regular file (a symlink))" in log
    # in the shared dir only A's own files: its ladder and its data usage (the planted symlink gone)
    assert results["shared"] == ["A.json", "A.usage.json"], results["shared"]
    assert results["A_rc"] == 0 and results["pppd_left"] == [], results
    assert "Traceback" not in log
