"""bg_pppd.modem.multiplexer on the host: the close-down frames, the AT+CMUX command, the
leftover-mux check on a real pty. The kernel's side (n_gsm) is in test_multiplexer_uml.py."""

from __future__ import annotations

import time

import pytest

from bg_pppd.modem import multiplexer as mux
from bg_pppd.profile.model import load
from bg_pppd.util.commands import Outcome
from bg_pppd.util.errors import EXIT_FAILURE, EXIT_PPPD_UNUSABLE


def crc_27010(data: bytes) -> int:
    """27.010 annex B's FCS, computed MSB-first on bit-reversed bytes (another route than the product's)."""
    def rev(b: int) -> int:
        return int(f"{b:08b}"[::-1], 2)

    crc = 0xFF
    for byte in data:
        crc ^= rev(byte)
        for _ in range(8):
            crc = ((crc << 1) ^ 0x07) & 0xFF if crc & 0x80 else (crc << 1) & 0xFF
    return 0xFF - rev(crc)


def test_close_down_frame_is_cld_on_dlc0_with_the_27010_fcs():
    frame = mux.close_down_frame()
    assert frame[:6] == bytes.fromhex("f903ef05c301") and frame[-1] == 0xF9
    assert frame[6] == crc_27010(bytes.fromhex("03ef05")) == 0xF2


def test_disconnect_frame_and_the_kernels_own_sabm():
    assert mux.disconnect_frame(0) == bytes.fromhex("f9035301") + bytes((crc_27010(bytes.fromhex("035301")), 0xF9))
    # SABM on DLC 0 exactly as the 6.1 kernel sends it (docs: ppp-lab.md)
    assert mux.basic_frame(0, 0x3F) == bytes.fromhex("f9033f011cf9")


@pytest.mark.parametrize("rate,code", [(9600, 1), (19200, 2), (38400, 3), (57600, 4), (115200, 5),
                                       (230400, 6), (460800, 7), (921600, 8)])
def test_cmux_command_speed_codes(rate, code):
    assert mux.cmux_command(rate, 127) == f"AT+CMUX=0,0,{code},127"


def test_cmux_command_refuses_a_rate_without_a_code():
    with pytest.raises(ValueError, match="1200"):
        mux.cmux_command(1200, 127)


@pytest.mark.parametrize("data,expected", [
    (bytes.fromhex("f9033f011cf9"), True),
    (b"\r\n" + bytes.fromhex("f907ef09") + b"OK\r\n" + bytes.fromhex("40f9"), True),
    (b"\r\nOK\r\n", False),
    (b"", False),
    (b"\xf9", False),
    (b"AT\r\r\nOK\r\n\xf9", False),
])
def test_looks_like_mux(data, expected):
    assert mux.looks_like_mux(data) is expected


def test_errors_map_to_their_statuses():
    assert mux.MuxUnavailable("x").exit_code == EXIT_PPPD_UNUSABLE
    assert mux.MuxFailed("x").exit_code == EXIT_FAILURE


def test_kernel_support_names_the_option_when_modprobe_fails(tmp_path):
    devices = tmp_path / "devices"
    devices.write_text("Character devices:\n  1 mem\n  4 tty\n108 ppp\n")
    calls = []

    def run(argv, timeout):
        calls.append(list(argv))
        return Outcome("modprobe", 1, "", "modprobe: FATAL: Module n_gsm not found in directory /lib/modules/6.1\n")

    why = mux.kernel_support(str(devices), run)
    assert calls == [["modprobe", "n_gsm"]]
    assert "CONFIG_N_GSM" in why and "Module n_gsm not found" in why and "\n" not in why


def test_kernel_support_loaded_or_loadable(tmp_path):
    devices = tmp_path / "devices"
    devices.write_text("Character devices:\n  4 tty\n")

    def run(argv, timeout):  # modprobe loads it: the kernel then lists gsmtty
        devices.write_text("Character devices:\n  4 tty\n238 gsmtty\n")
        return Outcome("modprobe", 0)

    assert mux.kernel_support(str(devices), run) is None

    def unused(argv, timeout):
        raise AssertionError("modprobe run although gsmtty is listed")

    assert mux.kernel_support(str(devices), unused) is None


@pytest.fixture
def peer(tmp_path, pty_module):
    """The pty module with a profile on its port."""
    profile_file = tmp_path / "p.yaml"
    profile_file.write_text(f"modem:\n  port: {pty_module['path']}\nnetwork:\n  apn: internet\n"
                            "recovery:\n  at_timeout: 2\n")
    profile_file.chmod(0o600)
    pty_module["profile"] = load(str(profile_file))
    return pty_module


def test_close_leftover_is_one_at_when_the_module_is_not_multiplexing(peer):
    peer["answer"] = lambda got: b"\r\nOK\r\n" if got.endswith(b"\r") else b""
    start = time.monotonic()
    assert mux.close_leftover(peer["profile"]) is True
    assert time.monotonic() - start < 1.0
    assert b"\xf9" not in peer["got"]


def test_close_leftover_closes_a_mux_a_killed_daemon_left(peer):
    cld, disc = mux.close_down_frame(), mux.disconnect_frame(0)

    def module(got: bytes) -> bytes:
        if cld not in got:  # multiplexing: a plain AT gets nothing back
            return b""
        return b"\r\nOK\r\n" if got.endswith(b"AT\r") else b""

    peer["answer"] = module
    assert mux.close_leftover(peer["profile"], sleep=lambda s: None) is True
    assert cld in peer["got"] and disc in peer["got"]


def test_close_leftover_false_when_nothing_answers(peer):
    assert mux.close_leftover(peer["profile"], sleep=lambda s: None) is False


def test_open_fails_cleanly_when_the_module_refuses_cmux(peer):
    peer["answer"] = lambda got: b"\r\nERROR\r\n" if got.endswith(b"\r") else b""
    with pytest.raises(mux.MuxFailed, match=r"refused AT\+CMUX=0,0,5,127: ERROR"):
        mux.Mux.open(peer["profile"])
    assert b"\xf9" not in peer["got"]  # refused: no close-down frames for a module not multiplexing
