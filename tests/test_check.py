"""`bg-pppd check` as a process against the virtual module: every way pre-flight fails in the field."""

from __future__ import annotations

import json
import threading
import time

from tests.modemport import Port


def test_ready_report_and_what_was_sent(bench):
    b = bench()
    result = b.check()
    assert result.returncode == 0, result.stderr
    assert "registration: home" in result.stdout and "BG95-M3" in result.stdout
    assert "RSRP -93 dBm" in result.stdout and "Traceback" not in result.stderr
    sent = b.commands()
    assert sent[:2] == ["AT", "ATE0"] and "AT+CMEE=2" in sent
    assert 'AT+CGDCONT=1,"IP","internet"' in sent
    assert "AT+IPR=115200;&W" not in sent and not any(c.startswith("ATD") for c in sent)


def test_json_report(bench):
    b = bench()
    result = b.check("--json")
    assert result.returncode == 0
    report = json.loads(result.stdout)
    assert report["ready"] is True and report["exit_code"] == 0
    assert report["model"] == "BG95-M3" and report["imei"] == "866425012345678"
    assert report["iccid"] == "89882280666012345678" and report["registration"] == "home"
    assert report["operator"] == "Example" and report["access_technology"] == "CAT-M1"
    assert report["band"] == "LTE BAND 20" and report["signal"]["rsrp_dbm"] == -93
    assert [s["step"] for s in report["steps"]][:2] == ["port", "sync"]


def test_settings_in_flash_are_written_only_when_different(bench):
    b = bench()
    b.profile.write_text(b.profile.read_text().replace("  apn: internet\n",
                                                       "  apn: internet\n  technologies: [catm1]\n"))
    assert b.check().returncode == 0
    writes = [c for c in b.commands() if c.startswith(("AT+QCFG=", "AT+CGDCONT=")) and "," in c]
    # the factory scan order 020301 already starts with Cat-M1: left alone
    assert writes == ['AT+QCFG="iotopmode",0,1', 'AT+QCFG="nwscanmode",3,1', 'AT+CGDCONT=1,"IP","internet"']
    done = len(b.commands())
    assert b.check().returncode == 0
    again = [c for c in b.commands()[done:] if c.startswith(("AT+QCFG=", "AT+CGDCONT=")) and "," in c]
    assert again == [], "nothing rewritten on the second run"


def test_slow_boot_sync_every_100ms(bench):
    b = bench(boot_at_start=True, boot_time=1.5, time_scale=1, boot_urc_gap=0.05)
    result = b.check()
    assert result.returncode == 0, result.stderr
    ignored = [float(line.split()[0]) for line in b.log.read_text().splitlines() if " ignored " in line]
    assert 10 <= len(ignored) <= 20, "AT every ~100 ms during a 1.5 s boot"
    gaps = [b2 - a for a, b2 in zip(ignored, ignored[1:])]
    assert 0.08 < sum(gaps) / len(gaps) < 0.15


def test_echo_on_and_urc_noise(bench):
    b = bench(echo=True, noise=['+QIND: "csq",20,99', "+CEREG: 1", "+QIURC: \"pdpdeact\",1"],
              noise_interval=0.5, time_scale=0.1)
    result = b.check("--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["operator"] == "Example"


def test_pin_entered_once(bench):
    b = bench(sim="pin", pin="2468", profile_extra='sim:\n  pin: "2468"\n')
    assert b.check().returncode == 0
    assert [c for c in b.commands() if c.startswith("AT+CPIN=")] == ['AT+CPIN="2468"']


def test_wrong_pin_is_never_retried(bench):
    b = bench(sim="pin", pin="2468", profile_extra='sim:\n  pin: "1111"\n')
    result = b.check()
    assert result.returncode == 11
    assert "rejected the PIN" in result.stderr and "2 tries left" in result.stderr
    assert [c for c in b.commands() if c.startswith("AT+CPIN=")] == ['AT+CPIN="1111"']
    again = b.check()
    assert again.returncode == 11 and "rejected before" in again.stderr
    assert [c for c in b.commands() if c.startswith("AT+CPIN=")] == ['AT+CPIN="1111"']


def test_pin_missing(bench):
    b = bench(sim="pin")
    result = b.check()
    assert result.returncode == 11 and "set sim.pin" in result.stderr


def test_last_pin_try_is_not_risked(bench):
    b = bench(sim="pin", pin_tries=1, profile_extra='sim:\n  pin: "1234"\n')
    result = b.check()
    assert result.returncode == 11 and "only 1 PIN try left" in result.stderr
    assert not [c for c in b.commands() if c.startswith("AT+CPIN=")]


def test_puk_is_never_touched(bench):
    b = bench(sim="puk", profile_extra='sim:\n  pin: "1234"\n')
    result = b.check()
    assert result.returncode == 11 and "PUK-locked" in result.stderr
    assert not [c for c in b.commands() if c.startswith("AT+CPIN=")]


def test_sim_absent(bench):
    b = bench(sim="absent")
    result = b.check()
    assert result.returncode == 11 and "no SIM card" in result.stderr


def test_sim_busy_then_ready(bench):
    b = bench(boot_at_start=True, boot_time=0.2, sim_busy=1.0, time_scale=1, boot_urc_gap=0.01)
    result = b.check()
    assert result.returncode == 0, result.stderr
    assert b.commands().count("AT+CPIN?") >= 2


def test_registration_after_several_polls(bench):
    b = bench(registration=[[0, 2], [0.6, 1]], time_scale=1)
    result = b.check()
    assert result.returncode == 0, result.stderr
    assert b.commands().count("AT+CEREG?") >= 4


def test_roaming_is_registered(bench):
    b = bench(registration=[[0, 5]])
    result = b.check("--json")
    assert result.returncode == 0 and json.loads(result.stdout)["registration"] == "roaming"


def test_registration_denied(bench):
    b = bench(registration=[[0, 2], [0.3, 3]], time_scale=1)
    result = b.check()
    assert result.returncode == 12 and "denied" in result.stderr


def test_never_registered_times_out(bench):
    b = bench(registration=[[0, 2]])
    start = time.monotonic()
    result = b.check()
    took = time.monotonic() - start
    # AT+COPS=0 at 1.5 s, the radio off/on at 3 s, one more registration_timeout: 2 x 3 s (issue 17)
    assert result.returncode == 13 and "not registered after 6 s" in result.stderr
    assert 6 <= took < 11


def test_egprs_checks_cgreg(bench):
    b = bench(rat="gsm", registration=[[0, 1]], model="BG600L-M3")
    b.profile.write_text(b.profile.read_text().replace("  apn: internet\n",
                                                       "  apn: internet\n  technologies: [catm1, egprs]\n"))
    result = b.check("--json")
    assert result.returncode == 0, result.stderr
    assert "AT+CGREG?" in b.commands() and 'AT+QCFG="nwscanseq",0201,1' in b.commands()


def test_module_stops_answering_mid_sequence(bench):
    b = bench(hang_after=4, port="uart")
    start = time.monotonic()
    result = b.check()
    took = time.monotonic() - start
    assert result.returncode == 10, result.stderr
    assert "no answer" in result.stderr and "Traceback" not in result.stderr
    assert 2 <= took < 4.5, "exit 10 after at_timeout (2 s), not later"


def test_silent_module(bench):
    b = bench(hang_after=0, port="uart")
    result = b.check()
    assert result.returncode == 10 and "no OK to AT" in result.stderr


def test_module_left_in_data_mode(bench):
    b = bench(echo=False)
    port = Port(str(b.link))
    assert port.cmd("ATD*99#").startswith(b"\r\nCONNECT")
    port.close()
    result = b.check()
    assert result.returncode == 0, result.stderr
    assert b.emu.wait_for("event", "call ended")
    assert not b.emu.status()["session"]


def test_module_left_in_data_mode_without_dtr_uses_escape(bench):
    b = bench(echo=False)
    b.emu.modem.dtr_mode = 0  # AT&D0: DTR ignored, only +++ works
    port = Port(str(b.link))
    port.cmd("AT&D0")
    port.cmd("ATD*99#")
    port.close()
    result = b.check()
    assert result.returncode == 0, result.stderr
    assert b.emu.wait_for("event", "command mode (+++)")
    assert "ATH" in b.commands()


def test_module_reboots_during_preflight(bench):
    b = bench(reboot_after=4, reboot_time=0.5, time_scale=1, boot_urc_gap=0.01)
    result = b.check("--json")
    assert result.returncode == 0, result.stderr
    steps = json.loads(result.stdout)["steps"]
    assert any(s["step"] == "restart" for s in steps)
    assert b.emu.wait_for("event", "port vanished")


def test_port_appears_late(bench):
    b = bench(start=False)
    timer = threading.Timer(1.0, b.start)
    timer.start()
    start = time.monotonic()
    result = b.check()
    timer.join()
    assert result.returncode == 0, result.stderr
    assert time.monotonic() - start >= 1.0


def test_port_never_appears(bench):
    b = bench(start=False)
    result = b.check()
    assert result.returncode == 10 and "does not exist" in result.stderr


def test_profile_error_is_exit_2(bench, tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("modem: {}\n")
    from tests.conftest import run_cli

    assert run_cli("check", str(bad)).returncode == 2
