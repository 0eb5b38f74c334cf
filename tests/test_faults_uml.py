"""The fault matrix on a real PPP link (UML lab): each scenario asserted from the product's
status and log, the network side's pppd debug log and the virtual module's command log."""

from __future__ import annotations

from tests.test_up_uml import PROFILE, module_log
from tests.uml import Lab, skip_without_uml
from tests.uml_scenarios import faults

pytestmark = skip_without_uml()


def commands(lab: Lab) -> list[str]:
    return [line.split(" ", 2)[2] for line in lab.file("emulator.log").splitlines()
            if line.split(" ", 2)[1:2] == ["cmd"]]


def test_network_drop_redials_without_reset(lab):
    """DCD not used (AT&C0, as on a board without it wired): pppd learns of the drop from LCP echo."""
    text = (PROFILE.replace("modem:\n", "modem:\n  dcd: always\n")
            + "ppp:\n  lcp_echo_interval: 1\n  lcp_echo_failure: 2\n")
    results = lab.call(faults.fault_while_connected, profile_text=text, module={}, fault="drop", ping=True)
    assert results["second"]["pppd_pid"] != results["first"]["pppd_pid"], lab.tail()
    assert results["ping"] == 0 and results["rc"] == 0
    assert commands(lab).count("ATD*99#") == 2 and "AT+CFUN=1,1" not in commands(lab)
    log = lab.file("up.log")
    assert "No response to 2 echo-requests" in log
    assert results["second"]["resets"] == 0


def test_sim_pin_entered_once(lab):
    text = PROFILE + 'sim:\n  pin: "4711"\n'
    results = lab.call(faults.connect_and_stop, profile_text=text, module={"sim": "pin", "pin": "4711"})
    assert results["st"]["local_ip"] == "10.64.64.2", lab.tail()
    assert [c for c in commands(lab) if c.startswith("AT+CPIN=")] == ['AT+CPIN="4711"']


def test_wrong_pin_stops_for_good(lab):
    text = PROFILE + 'sim:\n  pin: "0000"\n'
    results = lab.call(faults.until_exit, profile_text=text, module={"sim": "pin", "pin": "4711"})
    assert results["rc"] == 11, lab.tail()
    assert "rejected the PIN" in results["st"]["last_error"]
    assert [c for c in commands(lab) if c.startswith("AT+CPIN=")] == ['AT+CPIN="0000"']
    assert "AT+CFUN=1,1" not in commands(lab)


def test_registration_delayed(lab):
    """Registration is polled until the module registers, then dialled.

    The module's network search starts when its SIM becomes ready, here when bg-pppd enters the
    PIN, just before it starts polling: the 3 s of searching fall in the pre-flight however long
    bg-pppd took to start in the guest (a search timed from the emulator's start was often over
    before bg-pppd's first poll).
    """
    text = PROFILE + 'sim:\n  pin: "4711"\n'
    module = {"sim": "pin", "pin": "4711", "registration": [[0, 2], [3, 1]], "time_scale": 1}
    results = lab.call(faults.connect_and_stop, profile_text=text, module=module, connect_within=60)
    assert results["st"]["state"] == "connected", lab.tail()
    log = module_log(lab)
    searching_from = next(t for t, kind, text in log if kind == "event" and text == "PIN accepted")
    registered_at = searching_from + 3
    polls = [t for t, kind, text in log if kind == "cmd" and text == "AT+CEREG?"]
    dial = next(t for t, kind, text in log if kind == "cmd" and text == "ATD*99#")
    assert [p for p in polls if p < registered_at], "polled while the module was searching"
    assert len([p for p in polls if searching_from < p < registered_at]) >= 2, "polled again, not once"
    assert registered_at <= dial, "dialled only once registered"
    assert max(p for p in polls if p < dial) >= registered_at, "the poll that saw it registered came before the dial"
    assert results["rc"] == 0


def test_hung_module_is_reset_by_command(lab):
    reset = "  reset_command: {python} -m bg_pppd.emulator.control {work}/bg95.control reset\n"
    text = PROFILE.replace("recovery:\n", "recovery:\n  reset: [at, command]\n" + reset)
    module = {"hang_after": 12, "port": "uart", "reboot_time": 2, "time_scale": 0.2}
    results = lab.call(faults.connect_and_stop, profile_text=text, module=module, connect_within=90, timeout=240)
    log = lab.file("up.log")
    assert results["st"]["state"] == "connected", lab.tail()
    assert "module not answering: no AT reset" in log and "module reset by command" in log
    assert "AT+CFUN=1,1" not in commands(lab)
    assert "control reset" in lab.file("emulator.log")
    assert results["st"]["resets"] == 1


def test_module_reboots_by_itself_mid_session(lab):
    module = {"reboot_time": 2, "time_scale": 1, "boot_urc_gap": 0.05}
    results = lab.call(faults.fault_while_connected, profile_text=PROFILE, module=module, fault="reboot",
                       ping=False)
    assert results["second"]["pppd_pid"] != results["first"]["pppd_pid"], lab.tail()
    events = lab.file("emulator.log")
    assert "port vanished" in events and "port appeared" in events
    assert "AT+CFUN=1,1" not in commands(lab), "no reset by us"
    assert results["second"]["resets"] == 0 and results["rc"] == 0


def test_systemd_ready_only_once_ip_is_up(lab):
    module = {"registration": [[0, 2], [1.5, 1]], "time_scale": 1}
    results = lab.call(faults.systemd_notifications, profile_text=PROFILE, module=module)
    ready = [state for m, state in results["messages"] if "READY=1" in m]
    assert ready == ["connected"], results["messages"]
    statuses = [m for m in results["all"] if m.startswith("STATUS=")]
    assert any("preflight" in m for m in statuses) and any("connected" in m for m in statuses)
    assert "STOPPING=1" in results["all"]
