"""The main UART's relay: pppd's pty <-> the module's port, paused for a +++ / AT / ATO round.

The emulator is the module (sink network); the test plays pppd on the pty, as
chat and pppd's line discipline would: bytes in, bytes out.
"""

from __future__ import annotations

import errno
import os
import select
import time

import pytest

from bg_pppd.emulator import Emulator
from bg_pppd.link.relay import LinkLost, Relay
from bg_pppd.profile import model as profile_mod
from tests.modemport import Port

FAST = {"boot_at_start": False, "time_scale": 0.05, "registration": [[0, 1]], "network": "sink"}


@pytest.fixture
def bench(tmp_path, write_profile):
    with Emulator(FAST, link=tmp_path / "bg95", control=tmp_path / "bg95.control") as emu:
        prof = profile_mod.load(write_profile(f"modem:\n  port: {tmp_path / 'bg95'}\nnetwork:\n  apn: x\n"
                                              "monitor:\n  escape: true\n"))
        relay = Relay(prof, tmp_path / "pty-test")
        ppp = Port(str(tmp_path / "pty-test"))  # pppd's side
        try:
            yield emu, relay, ppp
        finally:
            ppp.close()
            relay.close()


def wait_sink(emu, data: bytes, timeout: float = 2.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if data in bytes(emu.sink):
            return True
        time.sleep(0.02)
    return False


def test_round_trip_then_a_round_in_command_mode(bench):
    emu, relay, ppp = bench
    assert b"CONNECT 150000000" in ppp.cmd("ATD*99#"), "chat's dial passes through the relay"
    ppp.send(b"\x7e\xff\x03frame-1\x7e")
    assert wait_sink(emu, b"frame-1")
    with relay.command_mode(timeout=3) as at:
        assert at is not None
        ppp.send(b"\x7e\xff\x03held\x7e")  # pppd keeps sending: it waits in the pty
        csq = at.command("AT+CSQ", info_prefix="+CSQ:")
        assert csq.ok and csq.first("+CSQ:") == "+CSQ: 20,99"
        assert emu.status()["mode"] == "command" and emu.status()["session"]
        assert b"held" not in bytes(emu.sink), "nothing of pppd's reaches the module in command mode"
    assert emu.status()["mode"] == "data"
    assert wait_sink(emu, b"held"), "what pppd sent meanwhile follows ATO"
    assert b"AT+CSQ" not in bytes(emu.sink) and b"ATO" not in bytes(emu.sink)
    emu.modem.network_data(b"\x7e\xff\x03from-net\x7e")  # the network's bytes reach pppd again
    assert b"from-net" in ppp.read_for(0.3)
    events = [text for _, kind, text in emu.events if kind == "event"]
    assert "command mode (+++), link kept" in events


def test_ato_without_a_call_is_a_lost_link(bench):
    emu, relay, ppp = bench
    assert b"CONNECT" in ppp.cmd("ATD*99#")
    with pytest.raises(LinkLost, match="NO CARRIER"):
        with relay.command_mode(timeout=3) as at:
            assert at is not None
            emu.drop_network()  # the network ends the call while we are in command mode
            assert emu.wait_for("event", "call ended", 3)


def test_close_removes_the_link(tmp_path, bench):
    _, relay, _ = bench
    relay.close()
    assert not os.path.lexists(tmp_path / "pty-test")


def test_a_vanished_port_hangs_up_pppds_pty(tmp_path, bench):
    emu, relay, _ = bench
    fd = os.open(tmp_path / "pty-test", os.O_RDONLY | os.O_NOCTTY)
    try:
        emu.reset()  # a USB module's ports drop off the bus
        assert emu.wait_for("event", "port vanished", 5)
        relay.thread.join(3)
        assert not relay.thread.is_alive()
        # what pppd sees: the line hangs up (EOF or EIO at once), not silence forever
        assert select.select([fd], [], [], 3)[0], "the pty stayed silent"
        try:
            assert os.read(fd, 4096) == b""
        except OSError as exc:
            assert exc.errno == errno.EIO
    finally:
        os.close(fd)
