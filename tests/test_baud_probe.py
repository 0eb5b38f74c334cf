"""A module left at another baud rate than the profile's (issue 17, item 9), against the pty
emulator: its UART reads the host's bytes at its own rate (Modem.ipr) and the host's at the rate
the host set on the pty, each mangled as on a real line; the pre-flight finds the module's rate,
sets the profile's with AT+IPR=<rate>;&W, syncs at it and remembers the rate it found."""

from __future__ import annotations

import itertools
import time

import pytest

from bg_pppd.emulator import Emulator
from bg_pppd.emulator.uart_line import resample
from bg_pppd.modem import baud_probe
from bg_pppd.modem.preflight import Preflight
from bg_pppd.modem.serial_port import open_port
from bg_pppd.profile import model as profile_mod
from bg_pppd.profile.model import BAUDRATES
from tests.modemport import Port

UART = {"port": "uart", "boot_at_start": False, "time_scale": 0.05, "registration": [[0, 1]]}


def test_at_another_rate_each_side_reads_garbage_never_a_clean_answer():
    for sent, heard in itertools.permutations(BAUDRATES, 2):
        for text in (b"AT\r", b"AT\rAT\rAT\r", b"AT+IPR=115200;&W\r", b"\r\nOK\r\n", b"\r\nRDY\r\n"):
            got = resample(text, sent, heard)
            assert got != text and b"AT" not in got.upper() and b"OK" not in got and b"RDY" not in got, \
                (sent, heard, text, got)
    assert resample(b"AT\r", 9600, 9600) == b"AT\r"


def test_the_emulated_uart_answers_only_at_its_own_rate():
    with Emulator({**UART, "baudrate": 9600}) as emu:
        port = Port(emu.device)  # 115200
        try:
            port.send(b"AT\r")
            got = port.read_for(0.3)
            assert got and b"OK" not in got, f"garbage back (the echo at 9600): {got!r}"
            assert emu.commands() == [], "the module never read a clean AT"
            port.ser.baudrate = 9600
            assert port.cmd("AT").endswith(b"\r\nOK\r\n")
            assert emu.commands() == ["AT"]
        finally:
            port.close()


def test_a_usb_port_has_no_rate():
    with Emulator({**UART, "port": "usb", "baudrate": 9600}) as emu:
        port = Port(emu.device)
        try:
            assert port.cmd("AT").endswith(b"\r\nOK\r\n")
        finally:
            port.close()


def test_the_probe_order_remembered_first_then_115200_then_the_list():
    assert baud_probe.order(921600, None) == [115200, 9600, 19200, 38400, 57600, 230400, 460800]
    assert baud_probe.order(115200, 38400) == [38400, 9600, 19200, 57600, 230400, 460800, 921600]
    assert baud_probe.order(115200, 115200) == [9600, 19200, 38400, 57600, 230400, 460800, 921600]
    assert baud_probe.order(115200, 12345) == baud_probe.order(115200, None)


def run_sync(write_profile, emu: Emulator, state_dir, within: float = 8) -> tuple[str, list[int | None]]:
    prof = profile_mod.load(write_profile(f"modem:\n  port: {emu.device}\n  baudrate: 115200\n"
                                          "network:\n  apn: internet\nrecovery:\n  at_timeout: 20\n"))
    opened: list[int | None] = []

    def opener(profile, baudrate=None):
        opened.append(baudrate)
        return open_port(profile, baudrate=baudrate) if baudrate else open_port(profile)
    pre = Preflight(prof, state_dir=state_dir, opener=opener)
    try:
        pre.step_port()
        began = time.monotonic()
        status = pre.step_sync()
        took = time.monotonic() - began
        assert pre.cmd("AT+IPR?", "+IPR:").first("+IPR:") == "+IPR: 115200", "in step at the profile's rate"
    finally:
        pre.close()
    assert took < within, f"the probe is short: {took:.1f} s"
    return status, opened


def test_a_module_at_9600_is_found_fixed_with_ipr_synced_and_its_rate_remembered(write_profile, tmp_path):
    with Emulator({**UART, "baudrate": 9600}) as emu:
        status, opened = run_sync(write_profile, emu, tmp_path)
        assert "AT+IPR=115200;&W" in emu.commands()
        assert emu.status()["ipr"] == 115200 and emu.status()["saved_ipr"] == 115200
    assert status == "OK at 115200 baud after AT+IPR=115200;&W (the module was at 9600)"
    assert opened == [None, 9600, None], "the profile's rate, the probe, the profile's again"
    assert (tmp_path / "test.baudrate").read_text() == "9600\n"


@pytest.mark.parametrize("remembered", [None, 38400])
def test_the_remembered_rate_is_probed_first(write_profile, tmp_path, remembered):
    if remembered:
        baud_probe.remember(tmp_path / "test.baudrate", remembered)
    with Emulator({**UART, "baudrate": 38400}) as emu:
        status, opened = run_sync(write_profile, emu, tmp_path)
    assert status.endswith("(the module was at 38400)")
    assert opened == ([None, 38400, None] if remembered else [None, 9600, 19200, 38400, None])
    assert baud_probe.remembered(tmp_path / "test.baudrate") == 38400


def test_a_module_at_another_rate_with_echo_off_is_found_after_the_silence_and_the_escapes(write_profile,
                                                                                           tmp_path):
    """Nothing comes back at all: silence longer than any boot, the escapes, then the probe."""
    with Emulator({**UART, "baudrate": 9600, "echo": False}) as emu:
        status, opened = run_sync(write_profile, emu, tmp_path, within=16)
    assert status.endswith("(the module was at 9600)") and opened == [None, 9600, None]
