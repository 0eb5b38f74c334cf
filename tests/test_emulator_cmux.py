"""The virtual module's CMUX (3GPP TS 27.010 basic option): the frame codec against frames real
implementations send, and the module's side driven by hand-written frames over its pty.

The kernel's own n_gsm drives it in tests/test_cmux_uml.py.
"""

from __future__ import annotations

import fcntl
import os
import struct
import termios
import time
from pathlib import Path

import pytest

from bg_pppd.emulator import Emulator
from bg_pppd.emulator import cmux as mux
from bg_pppd.emulator.cmux import CLD, DISC, DM, MSC, SABM, TEST, UA, UIH, Decoder, Frame, encode
from tests.modemport import Port

FAST = {"boot_at_start": False, "time_scale": 0.05, "registration": [[0, 1]], "network": "sink",
        "port": "uart"}
SABM0 = bytes.fromhex("f9033f011cf9")      # what Linux's n_gsm sends first as initiator (docs/ppp-lab.md)
UA0 = bytes.fromhex("f9037301d7f9")        # a BG96's answer to it (esp-protocols issue 103's trace)
CLD_CMD = bytes.fromhex("f903ef05c301f2f9")  # the close-down command hosts send on DLC 0


def test_fcs_matches_frames_real_implementations_send():
    assert encode(Frame(0, SABM, cr=True, pf=True)) == SABM0
    assert encode(Frame(0, UA, cr=True, pf=True)) == UA0
    assert encode(Frame(0, UIH, cr=True, info=mux.encode_message(CLD, True, b""))) == CLD_CMD
    # esp-protocols issue 103: a BG96's UA on DLC 1 and a UIH on DLC 1 with 19 bytes
    assert encode(Frame(1, UA, cr=True, pf=True)) == bytes.fromhex("f9077301") + bytes([0x15, 0xF9])
    assert Decoder().feed(bytes.fromhex("f9073f01def9")) == [Frame(1, SABM, cr=True, pf=True)]
    # Linux 6.1's n_gsm (debug=1 dump in the UML lab): its MSC for DLC 1 (RTC, RTR, DV), and the
    # module's answer as the kernel received it and, once its input queue ran again, parsed as
    # "<-- 0) R: UIH(F) e1 05 07 8d" (the kernel's own answer to an MSC has the same value octets)
    kernel_msc = bytes.fromhex("f903ef09e305078dfbf9")
    assert Decoder().feed(kernel_msc) == [Frame(0, UIH, cr=True, info=bytes.fromhex("e305078d"))]
    assert encode(Frame(0, UIH, info=mux.encode_message(MSC, False, bytes.fromhex("078d")))) == \
        bytes.fromhex("f901ef09e105078d9af9")


def test_codec_round_trips_both_length_forms_and_ui():
    for size in (0, 1, 127, 128, 300):
        frame = Frame(2, UIH, info=bytes(range(256)) * 2)
        frame = Frame(2, UIH, info=frame.info[:size])
        raw = encode(frame)
        assert len(raw) == size + (6 if size < 128 else 7)
        assert Decoder().feed(raw) == [frame]
    ui = Frame(1, mux.UI, info=b"\xf9AT\r")  # UI: the FCS covers the data too
    assert Decoder().feed(encode(ui)) == [ui]
    broken = bytearray(encode(ui))
    broken[5] ^= 1
    assert Decoder().feed(bytes(broken)) == []


def test_decoder_resyncs_on_garbage_and_drops_bad_fcs():
    good = encode(Frame(1, UIH, info=b"AT\r"))
    bad = bytearray(encode(Frame(1, UIH, info=b"ATD*99#\r")))
    bad[-2] ^= 0xFF
    dec = Decoder(max_info=127)
    # basic option has no transparency: "AT\r" after a closing flag reads as a frame's header
    # until its FCS fails; the frames after it are found again all the same
    stream = b"+++AT\r\x00\xff" + bytes(bad) + good + b"AT\r" + good + good
    frames = [f for i in range(0, len(stream), 3) for f in dec.feed(stream[i:i + 3])]  # in pieces
    assert frames == [Frame(1, UIH, info=b"AT\r")] * 3
    assert dec.dropped >= 1 and dec.skipped >= 5
    oversize = Decoder(max_info=16)
    assert oversize.feed(encode(Frame(1, UIH, info=bytes(17))) + good) == [Frame(1, UIH, info=b"AT\r")]


def test_control_messages_round_trip():
    info = mux.encode_message(MSC, True, mux.msc_value(2, mux.V24_RTC | mux.V24_RTR)) + \
        mux.encode_message(TEST, True, b"hello")
    assert mux.messages(info) == [(MSC, True, bytes([0x0B, 0x0D])), (TEST, True, b"hello")]
    assert mux.messages(b"\xe3\x05\x0b") is None  # cut short


class Host:
    """The host's side of the mux over the module's pty, written by hand."""

    def __init__(self, device: str):
        self.port = Port(device)
        self.dec = Decoder()
        self.frames: list[Frame] = []

    def send(self, frame: Frame) -> None:
        self.port.send(encode(frame))

    def sabm(self, dlci: int) -> None:
        self.send(Frame(dlci, SABM, cr=True, pf=True))

    def at(self, dlci: int, text: str) -> None:
        self.send(Frame(dlci, UIH, cr=True, info=text.encode() + b"\r"))

    def control(self, kind: int, value: bytes) -> None:
        self.send(Frame(0, UIH, cr=True, info=mux.encode_message(kind, True, value)))

    def read(self, seconds: float = 0.4) -> list[Frame]:
        got = self.dec.feed(self.port.read_for(seconds))
        self.frames += got
        return got

    def wait_text(self, dlci: int, text: bytes, timeout: float = 3.0) -> bytes:
        """The data of ``dlci`` until it holds ``text``."""
        end, out = time.monotonic() + timeout, b""
        while time.monotonic() < end and text not in out:
            out += b"".join(f.info for f in self.read(0.1) if f.dlci == dlci and f.kind == UIH)
        return out


def msc_of(frames: list[Frame], dlci: int) -> list[int]:
    """The V.24 signals of the module's MSC commands for ``dlci``."""
    out = []
    for f in frames:
        if f.dlci == 0 and f.kind == UIH:
            for kind, command, value in mux.messages(f.info) or []:
                if kind == MSC and command and value[0] >> 2 == dlci:
                    out.append(value[1])
    return out


@pytest.fixture
def module(tmp_path):
    made = []

    def start(**scenario) -> tuple[Emulator, Host]:
        emu = Emulator({**FAST, **scenario}, log=tmp_path / "emu.log")
        emu.__enter__()
        host = Host(emu.device)
        made.append((emu, host))
        return emu, host
    yield start
    for emu, host in made:
        host.port.close()
        emu.__exit__(None, None, None)


def into_mux(emu: Emulator, host: Host, *dlcs: int) -> None:
    assert host.port.cmd("AT+CMUX=0,0,5,127").endswith(b"\r\nOK\r\n")
    host.sabm(0)
    assert host.read() == [Frame(0, UA, cr=True, pf=True)]
    for dlci in dlcs:
        host.sabm(dlci)
        got = host.read()
        assert got[0] == Frame(dlci, UA, cr=True, pf=True), got
        assert msc_of(got, dlci), got


def test_at_on_dlc1_dial_on_dlc2_ppp_flows_urc_on_dlc1_then_cld(module):
    emu, host = module()
    into_mux(emu, host, 1, 2)
    v24 = mux.V24_RTC | mux.V24_RTR | mux.EA
    assert msc_of(host.frames, 1) == [v24 | mux.V24_DV]   # an AT port: DV on
    assert msc_of(host.frames, 2) == [v24]                 # the modem port: no carrier yet (AT&C1)
    host.at(1, "AT")
    assert host.wait_text(1, b"OK\r\n") == b"AT\r\r\nOK\r\n"
    host.port.send(b"AT\r")  # a host that thinks the module is in command mode: ignored
    assert host.read() == []
    host.at(2, "ATD*99#")  # found all the same, once the stray bytes fail as a frame
    assert b"CONNECT 150000000" in host.wait_text(2, b"CONNECT")
    assert any(t.startswith("mux: ignored") for _, k, t in emu.events if k == "mux")
    host.read()
    assert msc_of(host.frames, 2)[-1] == v24 | mux.V24_DV, "DCD on: DV in DLC 2's MSC"
    ppp = b"\x7e\xff\x03\xc0\x21\x01\x01\x00\x04\x7e"
    host.send(Frame(2, UIH, cr=True, info=ppp))
    time.sleep(0.3)
    assert ppp in bytes(emu.sink)
    emu.loop.call(lambda: emu.modem.network_data(b"\x7e" + b"\x55" * 300 + b"\x7e"))
    data = [f for f in host.read() if f.dlci == 2]
    assert b"".join(f.info for f in data) == b"\x7e" + b"\x55" * 300 + b"\x7e"
    assert max(len(f.info) for f in data) == 127, "no frame over N1"
    emu.ring("sms")
    urcs = host.wait_text(1, b"+CMTI")
    assert b'\r\n+CMTI: "ME",1\r\n' in urcs
    assert any(s & mux.V24_IC for s in msc_of(host.frames, 1)), "RI as IC in the MSC"
    assert not any(b"CMTI" in f.info for f in host.frames if f.dlci == 2), "not into the PPP data"
    host.control(CLD, b"")
    got = host.read()
    assert Frame(0, UIH, info=mux.encode_message(CLD, False, b"")) in got
    events = [t for _, k, t in emu.events if k == "mux"]
    assert any("closed down (CLD)" in t for t in events)
    assert host.port.cmd("AT") == b"AT\r\r\nOK\r\n", "the raw UART answers AT again"
    assert not emu.modem.session, "the call ended with its DLC"


def test_cmux_false_answers_error_and_at_cmux_forms(module):
    _emu, host = module(cmux=False)
    assert host.port.cmd("AT+CMUX=0,0,5,127").endswith(b"\r\nERROR\r\n")
    assert host.port.cmd("AT").endswith(b"OK\r\n")
    _emu2, host2 = module()
    assert b"+CMUX: (0),(0),(1-8),(1-32768)" in host2.port.cmd("AT+CMUX=?")
    assert b"+CMUX: 0,0,5,31,10,3,30,10,2" in host2.port.cmd("AT+CMUX?")
    assert host2.port.cmd("AT+CMUX=1").endswith(b"ERROR\r\n"), "advanced option: not supported"
    assert host2.port.cmd("AT+CMUX=0,0,5,0").endswith(b"ERROR\r\n")


def test_dlc_rules_test_pn_nsc_and_dtr_by_msc(module):
    emu, host = module()
    into_mux(emu, host)
    host.send(Frame(1, DISC, cr=True, pf=True))
    assert host.read() == [Frame(1, DM, cr=True, pf=True)], "DISC on a DLC not open: DM"
    host.at(1, "AT")
    assert host.read() == [], "data for a DLC not open is dropped"
    host.sabm(5)
    assert host.read() == [Frame(5, DM, cr=True, pf=True)], "no DLC 5 on this module"
    host.control(TEST, b"ping")
    assert host.read() == [Frame(0, UIH, info=mux.encode_message(TEST, False, b"ping"))]
    host.control(mux.PN, bytes([2, 0, 0, 10, 0, 4, 3, 2]))  # DLC 2 asks for N1 1024
    assert host.read() == [Frame(0, UIH, info=mux.encode_message(mux.PN, False, bytes([2, 0, 0, 10, 127, 0, 3, 2])))]
    host.control(mux.SNC, b"\x0b")
    assert host.read() == [Frame(0, UIH, info=mux.encode_message(mux.NSC, False, bytes([0xD3])))]
    host.sabm(2)
    host.at(2, "ATD*99#")
    assert b"CONNECT" in host.wait_text(2, b"CONNECT")
    host.control(MSC, mux.msc_value(2, mux.V24_RTR))  # DTR (RTC) off on the data channel: AT&D2 hangs up
    got = host.wait_text(2, b"OK")
    assert got.endswith(b"\r\nOK\r\n") and not emu.modem.session
    assert any("dtr off (mux MSC" in t for _, k, t in emu.events if k == "event")


def test_urcport_1_sends_urcs_to_dlc1_only_and_a_reset_leaves_mux_mode(module):
    emu, host = module()
    into_mux(emu, host, 1, 2)
    emu.ring("sms")
    assert b"+CMTI" in host.wait_text(2, b"+CMTI"), "urcport 0 (delivery): every open DLC"
    host.at(1, 'AT+QCFG="cmux/urcport",1')
    assert host.wait_text(1, b"OK").endswith(b"OK\r\n")
    host.read()
    host.frames.clear()
    emu.ring("call")
    assert b"RING" in host.wait_text(1, b"RING")
    host.read()
    assert not any(b"RING" in f.info for f in host.frames if f.dlci == 2)
    emu.reset()
    assert b"\r\nRDY\r\n" in host.port.read_for(0.8), "the boot's URCs as plain text"
    assert host.port.cmd("AT") == b"AT\r\r\nOK\r\n", "after the reboot the UART is plain AT"
    assert emu.modem.mux is None


N_NULL = 27  # a line discipline every Linux kernel has built in: n_gsm's stand-in off the lab


def _discipline(fd: int) -> int:
    return struct.unpack("i", fcntl.ioctl(fd, termios.TIOCGETD, bytes(4)))[0]


@pytest.mark.skipif("n_null" not in Path("/proc/tty/ldiscs").read_text(), reason="no N_NULL")
def test_the_hosts_last_close_takes_the_line_discipline_back_to_n_tty(module):
    """As a UART's final close does: a host killed with the tty in another discipline (n_gsm in
    the lab, tests/test_cmux_uml.py; N_NULL here) leaves N_TTY to the next open, while the module
    itself stays multiplexing."""
    emu, host = module()
    assert host.port.cmd("AT+CMUX=0,0,5,127").endswith(b"\r\nOK\r\n")
    other = os.open(emu.device, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
    fcntl.ioctl(host.port.ser.fileno(), termios.TIOCSETD, struct.pack("i", N_NULL))
    host.port.close()
    time.sleep(0.2)
    assert _discipline(other) == N_NULL, "not the last close: the discipline stays"
    os.close(other)
    end = time.monotonic() + 3
    while time.monotonic() < end and not any("last close" in t for _, k, t in emu.events if k == "event"):
        time.sleep(0.05)
    probe = os.open(emu.device, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
    try:
        assert _discipline(probe) == 0, "N_TTY after the last close"
    finally:
        os.close(probe)
    again = Host(emu.device)
    try:
        assert b"OK" not in again.port.cmd("AT", timeout=0.5), "the module is still multiplexing"
        again.sabm(0)
        assert again.read() == [Frame(0, UA, cr=True, pf=True)]
    finally:
        again.port.close()
    assert any(t == "modem port: the host's last close, line discipline 27 -> N_TTY (as a UART's)"
               for _, k, t in emu.events if k == "event")
