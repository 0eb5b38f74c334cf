"""The virtual BG95 driven through pyserial, the way the vendor's manual drives the module."""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
import time

import pytest
import serial

from bg_pppd.emulator import Emulator, Scenario
from bg_pppd.emulator.command_syntax import split_commands, split_extended
from bg_pppd.emulator.control import call as control
from bg_pppd.emulator.lcp import TerminateAckWatch
from bg_pppd.modem import control_lines
from tests.conftest import ROOT
from tests.modemport import Port

FAST = {"boot_at_start": False, "time_scale": 0.05, "registration": [[0, 1]]}


@pytest.fixture
def emu_port(tmp_path):
    opened = []

    def start(**scenario):
        emu = Emulator({**FAST, **scenario}, log=tmp_path / "emu.log", control=tmp_path / "ctl")
        emu.__enter__()
        port = Port(emu.device)
        opened.append((emu, port))
        return emu, port
    yield start
    for emu, port in opened:
        port.close()
        emu.__exit__(None, None, None)


@pytest.mark.parametrize("line, expect", [
    ("AT", []),
    ("ATE0", ["E0"]),
    ("at+ipr=115200;&w", ["+ipr=115200", "&W"]),
    ("ATE0V1&D2&C1", ["E0", "V1", "&D2", "&C1"]),
    ('AT+CGDCONT=1,"IP","a;b";+CPIN?', ['+CGDCONT=1,"IP","a;b"', "+CPIN?"]),
    ("ATD*99#", ["D*99#"]),
    ("ATE0+CMEE=2", ["E0", "+CMEE=2"]),
    ("AT#", None),
    ("XYZ", None),
])
def test_command_line_splitting(line, expect):
    assert split_commands(line) == expect


def test_extended_forms():
    assert split_extended('+CPIN="1234"') == ("+CPIN", "=", ["1234"])
    assert split_extended("+CEREG?") == ("+CEREG", "?", [])
    assert split_extended("+CEREG=?") == ("+CEREG", "=?", [])
    assert split_extended('+QCFG="iotopmode",2,1') == ("+QCFG", "=", ["iotopmode", "2", "1"])


def test_boot_is_silent_then_urcs(tmp_path):
    with Emulator({"boot_time": 1.0, "boot_urc_gap": 0.05}) as emu:
        port = Port(emu.device)
        port.send(b"AT\r")
        assert port.read_for(0.6) == b"", "a booting module neither echoes nor answers"
        out = port.read_for(1.0)
        for urc in (b"RDY", b"+CFUN: 1", b"+CPIN: READY", b"+QUSIM: 1", b"+QIND: SMS DONE", b"APP RDY"):
            assert b"\r\n" + urc + b"\r\n" in out
        assert out.index(b"RDY") < out.index(b"APP RDY")
        assert port.cmd("AT") == b"AT\r\r\nOK\r\n"
        port.close()


def test_sync_every_100ms_until_ok():
    with Emulator({"boot_time": 0.8, "boot_urc_gap": 0.01}) as emu:
        port = Port(emu.device)
        took = port.sync()
        assert 0.7 < took < 1.5
        port.close()


def test_echo_and_verbose(emu_port):
    _, port = emu_port()
    assert port.cmd("AT") == b"AT\r\r\nOK\r\n"
    assert port.cmd("ATE0") == b"ATE0\r\r\nOK\r\n"
    assert port.cmd("AT") == b"\r\nOK\r\n"
    port.send(b"ATV0\r")
    assert port.read_for(0.2) == b"0\r"  # numeric result codes: no framing
    port.send(b"AT+BAD\r")
    assert port.read_for(0.2) == b"4\r"
    port.send(b"ATV1\r")
    port.read_for(0.2)
    assert port.cmd("AT+NOPE") == b"\r\nERROR\r\n"


def test_garbage_and_backspace(emu_port):
    _, port = emu_port(echo=False)
    port.send(b"\x00\xff garbage\r")
    assert port.read_for(0.2) == b""
    assert port.cmd("\x00xxAT") == b"\r\nOK\r\n"
    assert port.cmd("ATX\x08") == b"\r\nOK\r\n"


@pytest.mark.parametrize("cmee, expect", [
    ("0", b"\r\nERROR\r\n"), ("1", b"\r\n+CME ERROR: 10\r\n"), ("2", b"\r\n+CME ERROR: SIM not inserted\r\n"),
])
def test_cmee_error_forms(emu_port, cmee, expect):
    _, port = emu_port(echo=False, sim="absent")
    assert port.cmd(f"AT+CMEE={cmee}") == b"\r\nOK\r\n"
    assert port.cmd("AT+CPIN?") == expect


def test_pin_right_wrong_and_puk(emu_port):
    _emu, port = emu_port(echo=False, sim="pin", pin="4321")
    port.cmd("AT+CMEE=1")
    assert port.cmd("AT+CPIN?") == b"\r\n+CPIN: SIM PIN\r\n\r\nOK\r\n"
    assert port.cmd('AT+CPIN="0000"') == b"\r\n+CME ERROR: 16\r\n"
    assert b'+QPINC: "SC",2,10' in port.cmd('AT+QPINC="SC"')
    answer = port.cmd('AT+CPIN="4321"')
    assert answer.startswith(b"\r\nOK\r\n")
    assert b"\r\n+CPIN: READY\r\n" in answer + port.read_for(0.3)
    assert port.cmd("AT+CPIN?") == b"\r\n+CPIN: READY\r\n\r\nOK\r\n"
    assert port.cmd('AT+CPIN="4321"') == b"\r\n+CME ERROR: 3\r\n"

    emu2, port2 = emu_port(echo=False, sim="pin")
    port2.cmd("AT+CMEE=2")
    for _ in range(3):
        assert b"incorrect password" in port2.cmd('AT+CPIN="9999"')
    assert port2.cmd("AT+CPIN?") == b"\r\n+CPIN: SIM PUK\r\n\r\nOK\r\n"
    assert port2.cmd('AT+CPIN="12345678","1111"').startswith(b"\r\nOK\r\n")
    assert emu2.status()["sim"] == "ready"


@pytest.mark.parametrize("sim, code", [("absent", 10), ("failure", 13)])
def test_sim_faults(emu_port, sim, code):
    _, port = emu_port(echo=False, sim=sim)
    port.cmd("AT+CMEE=1")
    assert port.cmd("AT+CPIN?") == f"\r\n+CME ERROR: {code}\r\n".encode()


def test_sim_busy_after_boot():
    with Emulator({"boot_time": 0.1, "sim_busy": 0.8, "echo": False, "boot_urc_gap": 0.01}) as emu:
        port = Port(emu.device)
        port.sync()
        port.cmd("AT+CMEE=1")
        assert port.cmd("AT+CPIN?") == b"\r\n+CME ERROR: 14\r\n"
        time.sleep(0.8)
        assert port.cmd("AT+CPIN?") == b"\r\n+CPIN: READY\r\n\r\nOK\r\n"
        port.close()


def test_registration_over_time_with_urcs(emu_port):
    _, port = emu_port(echo=False, registration=[[0, 2], [0.6, 1]], time_scale=1)
    assert port.cmd("AT+CEREG?") == b"\r\n+CEREG: 0,2\r\n\r\nOK\r\n"
    assert port.cmd("AT+CEREG=1") == b"\r\nOK\r\n"
    assert b"\r\n+CEREG: 1\r\n" in port.read_for(0.8)
    assert port.cmd("AT+CEREG?") == b"\r\n+CEREG: 1,1\r\n\r\nOK\r\n"
    port.cmd("AT+CEREG=2")
    assert port.cmd("AT+CEREG?") == b'\r\n+CEREG: 2,1,"1A2B","01A2D001",8\r\n\r\nOK\r\n'
    assert port.cmd("AT+CGREG?") == b"\r\n+CGREG: 0,0\r\n\r\nOK\r\n"


@pytest.mark.parametrize("stat", [0, 2, 3, 4, 5])
def test_registration_states(emu_port, stat):
    _, port = emu_port(echo=False, registration=[[0, stat]])
    assert port.cmd("AT+CEREG?") == f"\r\n+CEREG: 0,{stat}\r\n\r\nOK\r\n".encode()
    info = port.cmd("AT+COPS?")
    assert (b'+COPS: 0,0,"Example",8' in info) == (stat == 5)


def test_gsm_registers_on_cgreg(emu_port):
    _, port = emu_port(echo=False, rat="gsm", registration=[[0, 1]])
    assert port.cmd("AT+CGREG?") == b"\r\n+CGREG: 0,1\r\n\r\nOK\r\n"
    assert port.cmd("AT+CEREG?") == b"\r\n+CEREG: 0,0\r\n\r\nOK\r\n"
    assert b'+QNWINFO: "EGPRS"' in port.cmd("AT+QNWINFO")


def test_scan_config_controls_registration(emu_port):
    _emu, port = emu_port(echo=False, rat="nbiot", iotopmode=0, registration=[[0, 1]])
    assert port.cmd("AT+CEREG?") == b"\r\n+CEREG: 0,2\r\n\r\nOK\r\n"
    assert port.cmd('AT+QCFG="iotopmode"') == b'\r\n+QCFG: "iotopmode",0\r\n\r\nOK\r\n'
    assert port.cmd('AT+QCFG="iotopmode",2,1') == b"\r\nOK\r\n"
    assert port.cmd("AT+CEREG?") == b"\r\n+CEREG: 0,1\r\n\r\nOK\r\n"
    assert port.cmd('AT+QCFG="nwscanseq",030201,1') == b"\r\nOK\r\n"
    assert b'"nwscanseq",030201' in port.cmd('AT+QCFG="nwscanseq"')
    assert b"ERROR" in port.cmd('AT+QCFG="iotopmode",7')


def test_signal_and_operator(emu_port):
    _, port = emu_port(echo=False, registration=[[0, 2], [0.5, 1]], time_scale=1)
    assert port.cmd("AT+CSQ") == b"\r\n+CSQ: 99,99\r\n\r\nOK\r\n"
    assert port.cmd("AT+QCSQ") == b'\r\n+QCSQ: "NOSERVICE"\r\n\r\nOK\r\n'
    assert port.cmd("AT+QNWINFO") == b"\r\n+QNWINFO: No Service\r\n\r\nOK\r\n"
    assert port.cmd("AT+COPS?") == b"\r\n+COPS: 0\r\n\r\nOK\r\n"
    time.sleep(0.6)
    assert port.cmd("AT+CSQ") == b"\r\n+CSQ: 20,99\r\n\r\nOK\r\n"
    assert port.cmd("AT+QCSQ") == b'\r\n+QCSQ: "eMTC",-73,-93,160,-10\r\n\r\nOK\r\n'
    assert port.cmd("AT+QNWINFO") == b'\r\n+QNWINFO: "CAT-M1","26202","LTE BAND 20",6300\r\n\r\nOK\r\n'


def test_identity(emu_port):
    _, port = emu_port(echo=False)
    assert port.cmd("ATI") == b"\r\nQuectel\r\n\r\nBG95-M3\r\n\r\nRevision: BG95M3LAR02A03\r\n\r\nOK\r\n"
    assert port.cmd("AT+CGSN") == b"\r\n866425012345678\r\n\r\nOK\r\n"
    assert port.cmd("AT+QCCID") == b"\r\n+QCCID: 89882280666012345678\r\n\r\nOK\r\n"


def test_pdp_context(emu_port):
    _, port = emu_port(echo=False)
    assert port.cmd('AT+CGDCONT=1,"IPV4V6","iot.example"') == b"\r\nOK\r\n"
    assert port.cmd("AT+CGDCONT?") == b'\r\n+CGDCONT: 1,"IPV4V6","iot.example","0.0.0.0",0,0,0\r\n\r\nOK\r\n'
    assert port.cmd('AT+CGDCONT=1,"X25","a"') == b"\r\nERROR\r\n"


def test_baudrate_saved_only_with_at_w(emu_port):
    emu, port = emu_port(echo=False, port="uart", reboot_time=0.2, baudrate=115200)
    assert port.cmd("AT+IPR?") == b"\r\n+IPR: 115200\r\n\r\nOK\r\n"
    assert port.cmd("AT+IPR=921600") == b"\r\nOK\r\n", "answered at the old rate"
    port.ser.baudrate = 921600  # the module's UART now runs at the new one
    port.cmd("AT+CFUN=1,1")
    port.ser.baudrate = 115200
    port.sync()
    port.read_for(0.3)
    port.cmd("ATE0")
    assert port.cmd("AT+IPR?") == b"\r\n+IPR: 115200\r\n\r\nOK\r\n", "not saved: reverted by the reboot"
    assert port.cmd("AT+IPR=57600;&W") == b"\r\nOK\r\n"
    assert emu.status()["saved_ipr"] == 57600
    port.ser.baudrate = 57600
    assert port.cmd("AT+IPR=12345") == b"\r\nERROR\r\n"


def test_several_commands_stop_at_the_first_error(emu_port):
    _emu, port = emu_port(echo=False)
    assert port.cmd("AT+CMEE=2;+BOGUS;+CMEE=0") == b"\r\nERROR\r\n"
    assert port.cmd("AT+CMEE?") == b"\r\n+CMEE: 2\r\n\r\nOK\r\n"


def dial(port) -> bytes:
    return port.cmd("ATD*99#")


def test_dial_connects_and_data_reaches_the_network(emu_port):
    emu, port = emu_port(echo=False)
    assert dial(port) == b"\r\nCONNECT 150000000\r\n"
    port.send(b"~\x7d\x23hello")
    time.sleep(0.2)
    assert emu.sink.endswith(b"~\x7d\x23hello")
    assert emu.status()["mode"] == "data"
    port.send(b"AT\r")
    assert port.read_for(0.2) == b"", "no AT commands in data mode"


def test_dial_failures_from_the_scenario(emu_port):
    _, port = emu_port(echo=False, dial_results=["NO CARRIER", "ERROR", "BUSY"])
    assert dial(port) == b"\r\nNO CARRIER\r\n"
    assert dial(port) == b"\r\nERROR\r\n"
    assert dial(port) == b"\r\nBUSY\r\n"
    assert dial(port) == b"\r\nCONNECT 150000000\r\n"


def test_dial_unregistered_gets_no_carrier(emu_port):
    _, port = emu_port(echo=False, registration=[[0, 2]])
    assert dial(port) == b"\r\nNO CARRIER\r\n"


def escape(port, before: float = 1.1, after: float = 1.3) -> bytes:
    time.sleep(before)
    port.send(b"+++")
    return port.read_for(after)


def test_escape_with_guard_times_keeps_the_link(emu_port):
    emu, port = emu_port(echo=False)
    dial(port)
    port.send(b"data")
    assert escape(port) == b"\r\nOK\r\n"
    assert emu.status()["mode"] == "command" and emu.status()["session"]
    assert port.cmd("AT+CSQ") == b"\r\n+CSQ: 20,99\r\n\r\nOK\r\n"
    assert port.cmd("ATO") == b"\r\nCONNECT 150000000\r\n"
    assert emu.status()["mode"] == "data"


def test_escape_without_silence_before_is_data(emu_port):
    emu, port = emu_port(echo=False)
    dial(port)
    port.send(b"x")
    time.sleep(0.3)
    port.send(b"+++")
    assert port.read_for(1.5) == b""
    assert emu.status()["mode"] == "data"


def test_escape_followed_by_data_is_data(emu_port):
    emu, port = emu_port(echo=False)
    dial(port)
    time.sleep(1.1)
    port.send(b"+++")
    time.sleep(0.3)
    port.send(b"y")
    assert port.read_for(1.5) == b""
    time.sleep(0.1)
    assert emu.sink.endswith(b"+++y") and emu.status()["mode"] == "data"


def test_slow_plusses_are_data(emu_port):
    emu, port = emu_port(echo=False)
    dial(port)
    time.sleep(1.1)
    for _ in range(3):
        port.send(b"+")
        time.sleep(0.6)
    assert port.read_for(1.2) == b""
    assert emu.sink.endswith(b"+++") and emu.status()["mode"] == "data"


def test_plusses_inside_data_pass_through(emu_port):
    emu, port = emu_port(echo=False)
    dial(port)
    time.sleep(1.1)
    port.send(b"a+++")
    assert port.read_for(1.3) == b""
    assert emu.sink.endswith(b"a+++")


def test_ath_and_ato_without_call(emu_port):
    emu, port = emu_port(echo=False)
    dial(port)
    escape(port)
    assert port.cmd("ATH") == b"\r\nOK\r\n"
    assert not emu.status()["session"]
    assert port.cmd("ATO") == b"\r\nNO CARRIER\r\n"


def test_network_ends_the_call(emu_port):
    emu, port = emu_port(echo=False)
    dial(port)
    emu.drop_network()
    assert port.read_for(0.3) == b"\r\nNO CARRIER\r\n"
    assert emu.status()["mode"] == "command"
    assert port.cmd("AT") == b"\r\nOK\r\n"


def hdlc(packet: bytes) -> bytes:
    """An async HDLC frame as pppd sends LCP: every control character escaped (FCS not checked)."""
    body = b"".join(bytes([0x7D, b ^ 0x20]) if b < 0x20 or b in (0x7D, 0x7E) else bytes([b])
                    for b in packet + b"\x12\x34")
    return b"~" + body + b"~"


TERM_REQ = hdlc(b"\xff\x03\xc0\x21\x05\x02\x00\x04")
TERM_ACK = hdlc(b"\xff\x03\xc0\x21\x06\x02\x00\x04")
CONF_ACK = hdlc(b"\xff\x03\xc0\x21\x02\x01\x00\x04")


def test_terminate_ack_watch():
    assert TerminateAckWatch().feed(TERM_ACK)
    assert not TerminateAckWatch().feed(TERM_REQ + CONF_ACK + hdlc(b"\x21\x45\xc0\x21\x06" + b"x" * 40))
    split = TerminateAckWatch()
    assert not split.feed(CONF_ACK + TERM_ACK[:4]) and split.feed(TERM_ACK[4:]), "a frame split in two reads"


def test_the_module_ends_the_call_once_it_acked_the_hosts_terminate_request(emu_port):
    """The module is the host's PPP peer: Terminate-Ack sent, the call is over (no lcp-restart wait)."""
    emu, port = emu_port(echo=False)
    dial(port)
    port.send(TERM_REQ)
    emu.loop.call(lambda: emu.modem.network_data(CONF_ACK))
    assert port.read_for(0.3) == CONF_ACK and emu.status()["session"], "other LCP frames end nothing"
    emu.loop.call(lambda: emu.modem.network_data(TERM_ACK))
    assert port.read_for(0.3) == TERM_ACK + b"\r\nNO CARRIER\r\n"
    assert emu.status()["mode"] == "command" and not emu.status()["session"]
    assert port.cmd("AT") == b"\r\nOK\r\n"
    dial(port)
    emu.loop.call(lambda: emu.modem.network_data(TERM_ACK))
    assert port.read_for(0.3).endswith(b"NO CARRIER\r\n"), "again on the next call"


def test_dtr_command_mode_with_d1(emu_port):
    emu, port = emu_port(echo=False)
    port.cmd("AT&D1")
    dial(port)
    emu.set_dtr(False)
    emu.set_dtr(True)
    assert port.read_for(0.3) == b"\r\nOK\r\n"
    assert emu.status()["session"] and emu.status()["mode"] == "command"


def test_dtr_hangs_up_with_d2_and_is_ignored_with_d0(emu_port):
    emu, port = emu_port(echo=False)
    port.cmd("AT&D0")
    dial(port)
    emu.set_dtr(False)
    assert port.read_for(0.3) == b"" and emu.status()["mode"] == "data"
    emu.set_dtr(True)
    escape(port)
    port.cmd("AT&D2")
    port.cmd("ATO")
    emu.set_dtr(False)
    assert port.read_for(0.3) == b"\r\nOK\r\n"
    assert not emu.status()["session"]


def test_dcd_follows_at_c(emu_port):
    emu, port = emu_port(echo=False)
    assert emu.status()["dcd"] is False  # &C1 is the factory default
    dial(port)
    assert emu.status()["dcd"] is True
    escape(port)
    port.cmd("AT&C0")
    port.cmd("ATH")
    assert emu.status()["dcd"] is True


def test_ri_pulse_in_data_mode_and_pending_urc(emu_port):
    emu, port = emu_port(echo=False)
    dial(port)
    emu.ring("sms")
    assert emu.status()["ri"] is True
    time.sleep(0.2)
    assert emu.status()["ri"] is False
    assert port.read_for(0.2) == b"", "no URC on the PPP port in data mode"
    assert escape(port) == b'\r\nOK\r\n\r\n+CMTI: "ME",1\r\n'


def test_cfun_reboot_usb_port_vanishes_and_returns(tmp_path):
    link = tmp_path / "bg95"
    with Emulator({**FAST, "time_scale": 1, "echo": False, "reboot_time": 0.8, "boot_urc_gap": 0.01},
                  link=link) as emu:
        port = Port(str(link))
        assert port.cmd("AT+CFUN=1,1").startswith(b"\r\nOK\r\n")
        with pytest.raises(serial.SerialException):  # the USB device is gone, as on real hardware
            port.read_for(0.3)
        assert not link.exists()
        port.close()
        assert emu.wait_port(2)
        assert link.exists()
        port = Port(str(link))
        port.sync()
        port.close()


def test_cfun_reboot_uart_is_silent_then_boots(emu_port):
    _emu, port = emu_port(echo=False, port="uart", reboot_time=0.6, boot_urc_gap=0.01, time_scale=1)
    port.cmd("AT+CFUN=1,1")
    port.read_for(0.1)
    port.send(b"AT\r")
    assert port.read_for(0.3) == b""
    out = port.read_for(1.0)
    assert b"RDY" in out and b"APP RDY" in out


def test_qpowd_powers_off(emu_port):
    emu, port = emu_port(echo=False, port="uart")
    answer = port.cmd("AT+QPOWD=1")
    assert answer.startswith(b"\r\nOK\r\n")
    assert b"\r\nPOWERED DOWN\r\n" in answer + port.read_for(0.3)
    port.send(b"AT\r")
    assert port.read_for(0.3) == b""
    assert emu.status()["power"] == "off"


def test_hang_after_n_commands_until_reset(emu_port):
    emu, port = emu_port(echo=False, hang_after=2, port="uart", reboot_time=0.1)
    assert port.cmd("AT") == b"\r\nOK\r\n"
    assert port.cmd("AT") == b"\r\nOK\r\n"
    assert port.cmd("AT", timeout=0.5) == b""
    emu.reset()
    port.sync()


def test_urc_noise_never_splits_an_answer(emu_port):
    _, port = emu_port(echo=False, noise=['+QIND: "csq",20,99', "+CEREG: 1"], noise_interval=0.2,
                       time_scale=0.1)
    seen = b""
    for _ in range(60):
        seen += port.cmd("ATI")
    assert b'+QIND: "csq",20,99' in seen
    answer = b"\r\nQuectel\r\n\r\nBG95-M3\r\n\r\nRevision: BG95M3LAR02A03\r\n\r\nOK\r\n"
    assert seen.replace(b'\r\n+QIND: "csq",20,99\r\n', b"").replace(b"\r\n+CEREG: 1\r\n", b"") == answer * 60


def test_slow_responses(emu_port):
    _, port = emu_port(echo=False, response_delay=0.5, time_scale=1)
    start = time.monotonic()
    assert port.cmd("AT") == b"\r\nOK\r\n"
    assert time.monotonic() - start >= 0.45


def test_reboot_after_n_commands(emu_port):
    emu, port = emu_port(echo=False, reboot_after=2, port="uart", reboot_time=1.0, time_scale=1)
    port.cmd("AT")
    port.cmd("AT")
    time.sleep(0.1)
    port.send(b"AT\r")
    assert port.read_for(0.3) == b"", "silent while it reboots"
    assert emu.wait_for("event", "booting")


def test_command_log_has_timestamps(emu_port, tmp_path):
    _emu, port = emu_port(echo=False)
    port.cmd("AT+CSQ")
    lines = (tmp_path / "emu.log").read_text().splitlines()
    cmd_lines = [line for line in lines if " cmd " in line]
    stamp, kind, text = cmd_lines[-1].split(" ", 2)
    assert kind == "cmd" and text == "AT+CSQ"
    assert abs(float(stamp) - time.time()) < 5


def test_control_socket(emu_port, tmp_path):
    emu, port = emu_port(echo=False)
    status = control(str(tmp_path / "ctl"), "status")
    assert status["ok"] and status["power"] == "on" and status["device"] == emu.device
    dial(port)
    assert control(str(tmp_path / "ctl"), "dtr", value=False)["ok"]
    assert control(str(tmp_path / "ctl"), "bogus")["ok"] is False


def test_scenario_rejects_unknown_keys(tmp_path):
    with pytest.raises(ValueError, match="unknown scenario keys: bogus"):
        Scenario.from_dict({"bogus": 1})


def test_emulate_command(tmp_path):
    link = tmp_path / "modem"
    scenario = tmp_path / "s.yaml"
    scenario.write_text("boot_at_start: false\necho: false\n")
    proc = subprocess.Popen([sys.executable, "-m", "bg_pppd", "emulate", "--link", str(link), "--scenario",
                             str(scenario), "--log", str(tmp_path / "log")], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
    try:
        device = proc.stdout.readline().strip()
        assert device.startswith("/dev/pts/") and os.readlink(link) == device
        port = Port(str(link))
        assert port.cmd("AT") == b"\r\nOK\r\n"
        port.close()
        assert control(f"{link}.control", "status")["power"] == "on"
        ctl = [sys.executable, "-m", "bg_pppd.emulator.control", f"{link}.control", "reset"]
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        result = subprocess.run(ctl, capture_output=True, text=True, env=env)
        assert result.returncode == 0, result.stderr
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 0
    assert not link.exists() and not os.path.exists(f"{link}.control")
    assert "cmd AT" in (tmp_path / "log").read_text()


def test_emulator_as_a_subprocess_context_manager(tmp_path):
    from tests.emulator_process import EmulatorProcess

    with EmulatorProcess({"boot_at_start": False, "echo": False, "registration": [[0, 1]]},
                         link=tmp_path / "m") as emu:
        assert os.readlink(tmp_path / "m") == emu.device
        port = Port(emu.device)
        assert port.cmd("AT+CSQ") == b"\r\n+CSQ: 20,99\r\n\r\nOK\r\n"
        port.close()
        assert emu.call("status")["power"] == "on"
    assert emu.proc.returncode == 0
    assert "cmd AT+CSQ" in emu.log.read_text()


def test_line_changes_are_pushed_to_watchers(tmp_path):
    import threading

    from bg_pppd.modem.control_lines import watch_port

    link = tmp_path / "m"
    with Emulator({**FAST, "echo": False}, link=link, control=f"{link}.control") as emu:
        seen = []
        done = threading.Event()

        def watch():
            for state in watch_port(str(link), backend="emulator"):
                seen.append(state)
                if len(seen) >= 5:
                    done.set()
                    return
        threading.Thread(target=watch, daemon=True).start()
        time.sleep(0.2)
        port = Port(emu.device)
        dial(port)                # DCD on
        emu.ring("sms")           # RI pulse: on, then off after 120 ms
        time.sleep(0.3)
        emu.drop_network()        # DCD off
        assert done.wait(5), seen
        port.close()
    assert seen[0] == {"dcd": False, "ri": False}  # the state when the watch began
    assert seen[1:5] == [{"dcd": True, "ri": False}, {"dcd": True, "ri": True}, {"dcd": True, "ri": False},
                         {"dcd": False, "ri": False}]


def test_watching_a_pty_without_lines_ends_quietly():
    from bg_pppd.modem.control_lines import watch_port

    master, slave = os.openpty()
    try:
        assert list(watch_port(os.ttyname(slave))) in ([], [{"dcd": False, "ri": False}])
    finally:
        os.close(master)
        os.close(slave)


def test_fault_knobs_slow_commands_reboot_on_qpinc_and_replies(emu_port):
    _emu, port = emu_port(echo=False, sim="pin", qpinc=False, time_scale=1, port="uart", reboot_time=0.5,
                         boot_urc_gap=0.01, slow_commands={'AT+CPIN="1': 0.4},
                         replies={"AT+CGMR": ["BG95M3LAR02A03_01.204", "+CMS ERROR: 13"]})
    assert port.cmd('AT+QPINC="SC"') == b"\r\nERROR\r\n", "AT+QPINC unsupported"
    assert port.cmd("AT+CGMR") == b"\r\nBG95M3LAR02A03_01.204\r\n\r\n+CMS ERROR: 13\r\n"
    start = time.monotonic()
    assert port.cmd('AT+CPIN="1234"').startswith(b"\r\nOK\r\n"), "the SIM's URCs (+CPIN: READY) may follow"
    assert time.monotonic() - start >= 0.35, "a slow SIM answers late"
    emu2, port2 = emu_port(echo=False, reboot_on="AT+CSQ", port="uart", reboot_time=0.5, time_scale=1,
                           boot_urc_gap=0.01)
    assert port2.cmd("AT+CSQ", timeout=0.3) == b"", "crashed on it: no answer"
    assert emu2.wait_for("event", "booting") and emu2.wait_for("urc", "APP RDY", 3)
    assert port2.cmd("AT+CSQ").endswith(b"\r\nOK\r\n"), "once only"
    with pytest.raises(ValueError, match="slow_commands"):
        Scenario.from_dict({"slow_commands": {"AT": "x"}})
    with pytest.raises(ValueError, match="replies"):
        Scenario.from_dict({"replies": {"AT": []}})


def test_stopping_twice_is_harmless():
    emu = Emulator({"boot_at_start": False})
    emu.__enter__()
    emu.__exit__(None, None, None)
    emu.stop()


def test_a_control_socket_deeper_than_sun_path_is_bound_and_reached(tmp_path):
    """A deep TMPDIR (pytest-xdist's, a CI's) makes the socket's path longer than sun_path's 108
    bytes: it is bound and reached through its directory, and stays 0600."""
    deep = tmp_path / ("d" * 60) / ("e" * 60)
    deep.mkdir(parents=True)
    path = deep / "bg95.control"
    assert len(str(path)) > 108
    with Emulator({**FAST, "echo": False}, log=tmp_path / "emu.log", control=path):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600 and stat.S_ISSOCK(path.stat().st_mode)
        assert control(str(path), "status")["power"] == "on"
        watch = control_lines.watch_port(str(path)[: -len(".control")], "emulator")
        assert next(watch) == {"dcd": False, "ri": False}
        watch.close()
