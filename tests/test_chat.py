"""Rendered chat scripts run by real chat(8) against the virtual module."""

from __future__ import annotations

import os
import subprocess
import time

import pytest

from bg_pppd.emulator import Emulator
from bg_pppd.link import render
from bg_pppd.profile import model as profile
from tests.conftest import CHAT, needs_chat

pytestmark = needs_chat

FAST = {"boot_at_start": False, "time_scale": 0.05, "registration": [[0, 1]]}


def run_chat(script, device: str, timeout: float = 30) -> subprocess.CompletedProcess:
    fd = os.open(device, os.O_RDWR | os.O_NOCTTY)
    try:
        return subprocess.run([CHAT, "-s", "-S", "-v", "-f", str(script)], stdin=fd, stdout=fd,
                              stderr=subprocess.PIPE, text=True, timeout=timeout)
    finally:
        os.close(fd)


def rendered(tmp_path, write_profile, device: str, apn: str = "internet", **kw) -> render.Rendered:
    path = write_profile(f"modem:\n  port: {device}\nnetwork:\n  apn: '{apn}'\nrecovery:\n"
                         f"  at_timeout: 2\n  dial_timeout: 3\n")
    return render.render(profile.load(path), tmp_path / "out", **kw)


def test_connect_script_dials_and_gets_connect(tmp_path, write_profile):
    with Emulator(FAST) as emu:
        out = rendered(tmp_path, write_profile, emu.device)
        result = run_chat(out.connect, emu.device)
        assert result.returncode == 0, result.stderr
        assert emu.commands() == ["AT", "ATE0", 'AT+CGDCONT=1,"IP","internet"', "ATD*99#"]
        assert emu.status()["mode"] == "data"
        assert "CONNECT 150000000" in result.stderr  # REPORT CONNECT


def test_connect_script_for_up_leaves_the_context_alone(tmp_path, write_profile):
    with Emulator(FAST) as emu:
        out = rendered(tmp_path, write_profile, emu.device, set_context=False)
        assert run_chat(out.connect, emu.device).returncode == 0
        assert emu.commands() == ["AT", "ATD*99#"]  # the module echoes: chat matches through it
        assert emu.status()["mode"] == "data"


def test_an_apn_holding_an_abort_word_is_sent_with_echo_off(tmp_path, write_profile):
    """Why the standalone script turns echo off: the echo of this APN would abort chat."""
    with Emulator(FAST) as emu:
        out = rendered(tmp_path, write_profile, emu.device, apn="BUSY.ERROR")
        result = run_chat(out.connect, emu.device)
        assert result.returncode == 0, result.stderr
        assert emu.commands() == ["AT", "ATE0", 'AT+CGDCONT=1,"IP","BUSY.ERROR"', "ATD*99#"]
    out.connect.write_text(out.connect.read_text().replace("OK ATE0\n", ""))
    with Emulator(FAST) as emu:
        assert run_chat(out.connect, emu.device).returncode in (6, 8)  # echo on: ERROR / BUSY
        assert "ATD*99#" not in emu.commands()


@pytest.mark.parametrize("set_context", [True, False], ids=["standalone", "up-echo-on"])
@pytest.mark.parametrize("result_text, exit_code", [
    ("NO CARRIER", 4), ("NO DIALTONE", 5), ("ERROR", 6), ("NO ANSWER", 7), ("BUSY", 8),
])
def test_connect_script_aborts_on_failures(tmp_path, write_profile, result_text, exit_code, set_context):
    with Emulator({**FAST, "dial_results": [result_text]}) as emu:
        out = rendered(tmp_path, write_profile, emu.device, set_context=set_context)
        result = run_chat(out.connect, emu.device)
        assert result.returncode == exit_code, result.stderr  # chat: 4 + index of the ABORT string
        assert emu.status()["mode"] == "command"


def test_cme_error_aborts(tmp_path, write_profile):
    """A context the module refuses (+CME ERROR) stops the script before dialling."""
    with Emulator({**FAST, "sim": "absent"}) as emu:
        out = rendered(tmp_path, write_profile, emu.device)
        script = out.connect.read_text().replace("OK ATE0", "OK ATE0\nOK AT+CMEE=1\nOK AT+CIMI")
        out.connect.write_text(script)
        result = run_chat(out.connect, emu.device)
        assert result.returncode == 6
        assert "ATD*99#" not in emu.commands()


def test_connect_times_out_on_a_silent_module(tmp_path, write_profile):
    with Emulator({**FAST, "hang_after": 0}) as emu:
        out = rendered(tmp_path, write_profile, emu.device)
        start = time.monotonic()
        assert run_chat(out.connect, emu.device).returncode == 3  # timeout
        assert 1.5 < time.monotonic() - start < 5


def test_hostile_looking_apn_is_sent_verbatim(tmp_path, write_profile):
    with Emulator(FAST) as emu:
        out = rendered(tmp_path, write_profile, emu.device, apn="ABORT.SAY-x_y")
        assert run_chat(out.connect, emu.device).returncode == 0
        assert 'AT+CGDCONT=1,"IP","ABORT.SAY-x_y"' in emu.commands()


def test_disconnect_script_escapes_and_hangs_up(tmp_path, write_profile):
    with Emulator(FAST) as emu:
        out = rendered(tmp_path, write_profile, emu.device)
        assert run_chat(out.connect, emu.device).returncode == 0
        result = run_chat(out.disconnect, emu.device)
        assert result.returncode == 0, result.stderr
        assert emu.wait_for("event", "command mode (+++)")
        assert emu.commands()[-1] == "ATH"
        assert not emu.status()["session"]


def test_disconnect_script_in_command_mode(tmp_path, write_profile):
    with Emulator({**FAST, "echo": False}) as emu:
        out = rendered(tmp_path, write_profile, emu.device)
        result = run_chat(out.disconnect, emu.device)
        assert result.returncode == 0, result.stderr
        assert emu.commands()[-1] == "ATH"
