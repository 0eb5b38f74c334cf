"""The pre-flight's sync against the emulator's module: never late for a booting module, still
bringing one back from data mode when something says it is there.

The module is the emulator's model (bg_pppd/emulator/modem.py) on a virtual clock (the seam of
tests/test_emulator_model.py), behind a port that reads like pyserial's (50 ms read timeout, DTR
and DCD); one test runs the real pty emulator. The times asserted are the emulator's own: when it
sent RDY, when it answered OK, what it logged (DTR, the escape, the hang-up), never the product's.
"""

from __future__ import annotations

import time

import pytest

from bg_pppd.emulator import Emulator
from bg_pppd.emulator.modem import Modem
from bg_pppd.emulator.scenario import Scenario
from bg_pppd.modem import data_mode_clues as clues
from bg_pppd.modem.preflight import Preflight
from bg_pppd.profile import model as profile_mod
from tests.test_emulator_model import FakeIO

# an LCP Configure-Request as a PPP peer sends it (RFC 1662 framing, default ACCM)
LCP_REQUEST = bytes.fromhex("7eff7d23c0217d217d217d207d34" "7d227d267d207d207d207d20" "7d257d26a1b2c3d4" "7e")


class ModelPort:
    """The host's end of the model's modem port: pyserial's read (returns when bytes come, else
    after its 50 ms timeout, the virtual clock moving meanwhile), write, DTR out and DCD in."""

    timeout = 0.05

    def __init__(self, modem: Modem, io: FakeIO, lines: bool = True):
        self.m, self.io, self.has_lines = modem, io, lines
        self.rx = bytearray()
        self.seen = len(io.out)  # what the module said before the port was opened is not read
        self.wire: list[tuple[float, bytes]] = []  # what the host wrote, and when

    def _collect(self) -> None:
        for _, port, data in self.io.out[self.seen:]:
            if port == "modem":
                self.rx += data
        self.seen = len(self.io.out)

    def write(self, data: bytes) -> int:
        self.wire.append((self.io.t, bytes(data)))
        self.m.receive(bytes(data))
        return len(data)

    def read(self, size: int = 1) -> bytes:
        self._collect()
        end = self.io.t + self.timeout
        while not self.rx and self.io.t < end:
            due = self.io.timers.next_due()
            self.io.advance(max(0.0, min(end, due) - self.io.t) if due is not None else end - self.io.t)
            self._collect()
        out = bytes(self.rx[:size])
        del self.rx[:size]
        return out

    @property
    def in_waiting(self) -> int:
        self._collect()
        return len(self.rx)

    def reset_input_buffer(self) -> None:
        self._collect()
        self.rx.clear()

    def close(self) -> None:
        pass

    @property
    def cd(self) -> bool:
        if not self.has_lines:
            raise OSError(25, "Inappropriate ioctl for device")  # a pty: no modem lines
        return self.m.dcd

    @property
    def dtr(self) -> bool:
        return self.m.dtr

    @dtr.setter
    def dtr(self, asserted: bool) -> None:
        if self.has_lines:
            self.m.set_dtr(asserted)

    def plusses(self) -> list[float]:
        return [t for t, data in self.wire if b"+++" in data]


def profile(write_profile, at_timeout: float = 60, port: str = "/dev/null", extra: str = ""):
    return profile_mod.load(write_profile(f"modem:\n  port: {port}\n{extra}network:\n  apn: internet\n"
                                          f"recovery:\n  at_timeout: {at_timeout}\n"))


def module(**scenario) -> tuple[Modem, FakeIO]:
    io = FakeIO()
    modem = Modem(Scenario.from_dict({"port": "uart", "registration": [[0, 1]], "boot_urc_gap": 0.3,
                                      **scenario}), io)
    modem.start()
    return modem, io


def sync(prof, modem: Modem, io: FakeIO, lines: bool = True, **kw) -> tuple[str, ModelPort]:
    port = ModelPort(modem, io, lines)
    pre = Preflight(prof, opener=lambda p, **rate: port, clock=lambda: io.t, sleep=io.advance, **kw)
    pre.step_port()
    return pre.step_sync(), port


def first(io: FakeIO, kind: str, text: str, after: float = 0.0) -> float:
    return next(t for t, k, x in io.events if k == kind and x == text and t >= after)


def dial(modem: Modem, io: FakeIO, *setup: str) -> float:
    """A call up on the module, in data mode; returns when its CONNECT came."""
    for line in (*setup, "ATD*99#"):
        modem.receive(line.encode() + b"\r")
        io.advance(1.0)
    assert modem.status()["mode"] == "data" and modem.status()["dcd"]
    return io.t


# ----- (a) cold boot ------------------------------------------------------------------------------

@pytest.mark.parametrize("lines", [True, False], ids=["with-lines", "pty-no-lines"])
def test_a_module_booting_as_the_sync_starts_is_answered_within_150ms_of_its_rdy(write_profile, lines):
    modem, io = module(boot_at_start=True, boot_time=2.5)
    status, port = sync(profile(write_profile), modem, io, lines)
    rdy = first(io, "urc", "RDY")
    ok = first(io, "final", "OK")
    assert rdy == pytest.approx(2.5)
    assert ok - rdy <= 0.15, f"first OK {ok - rdy:.3f} s after RDY"
    assert not [e for e in io.events if e[1:] == ("event", "dtr off")], "no DTR drop for a booting module"
    assert port.plusses() == [], "no +++ for a booting module"
    assert status.startswith("OK ") and "after RDY" in status, status
    gaps = [b - a for (a, _), (b, _) in zip(port.wire, port.wire[1:]) if b < rdy]
    assert max(gaps) <= 0.1 + ModelPort.timeout + 1e-9, "AT every 100 ms (to one read) while it boots"


def test_the_default_boot_silence_follows_the_model_of_the_field_notes():
    assert Scenario().boot_time == 2.5 and Scenario.from_dict({"model": "BG77"}).boot_time == 2.5
    assert Scenario.from_dict({"model": "BG96"}).boot_time == 4.9
    assert Scenario.from_dict({"model": "BG96", "boot_time": 1.0}).boot_time == 1.0


# ----- (b) a module really left in data mode --------------------------------------------------

def test_a_call_left_up_with_dcd_on_comes_back_by_dtr_drop_then_ath(write_profile):
    modem, io = module(boot_at_start=False, echo=False)
    dial(modem, io)
    began = io.t
    status, port = sync(profile(write_profile), modem, io)
    assert status == "OK after DTR drop (module was in data mode)"
    dropped = first(io, "event", "dtr off", began)
    assert dropped - began <= 1.2, "DCD says a call is up: the escape comes after 1 s, not after a boot's wait"
    assert first(io, "event", "call ended (dtr)", began) and port.plusses() == []
    assert not modem.status()["session"] and modem.status()["mode"] == "command"


def test_a_call_left_up_where_dtr_does_nothing_comes_back_by_plus_plus_plus_then_ath(write_profile):
    modem, io = module(boot_at_start=False, echo=False)
    dial(modem, io, "AT&D0")  # the module ignores DTR
    began = io.t
    status, port = sync(profile(write_profile), modem, io)
    assert status == "OK after +++ escape (module was in data mode)"
    escaped = first(io, "event", "command mode (+++), link kept", began)
    plus = port.plusses()[0]
    before = [t for t, d in port.wire if t < plus]
    after = [t for t, d in port.wire if t > plus]
    assert 1.1 <= plus - before[-1] <= 1.2, "no AT inside the guard time before, AT right up to it"
    assert escaped - plus == pytest.approx(1.0), "the module's own guard time after the plusses"
    assert escaped <= after[0] <= escaped + 0.06, "AT again as soon as the module's OK ends the guard time"
    assert first(io, "cmd", "ATH", began) and not modem.status()["session"]


def test_a_call_of_ours_left_up_on_a_port_without_lines_is_escaped_at_once(write_profile):
    modem, io = module(boot_at_start=False, echo=False)
    dial(modem, io)
    began = io.t
    status, port = sync(profile(write_profile), modem, io, lines=False, maybe_in_call=True)
    assert status == "OK after +++ escape (module was in data mode)"
    assert port.plusses()[0] - began < 2.5


def test_without_any_clue_the_escapes_wait_for_a_silence_longer_than_any_boot(write_profile):
    modem, io = module(boot_at_start=False, echo=False)
    dial(modem, io)
    began = io.t
    status, port = sync(profile(write_profile), modem, io, lines=False)
    assert status == "OK after +++ escape (module was in data mode)"
    assert port.plusses()[0] - began >= clues.LONG_SILENCE + 1.0, "8 s of silence, then the guard time"


# ----- (c) PPP frames on the port -------------------------------------------------------------

def test_ppp_frames_read_while_polling_start_the_escape(write_profile):
    modem, io = module(boot_at_start=False, echo=False)
    dial(modem, io)
    began = io.t

    def peer() -> None:  # the network side keeps asking for LCP, every 300 ms
        modem.network_data(LCP_REQUEST)
        io.call_later(0.3, peer)
    peer()
    status, port = sync(profile(write_profile), modem, io, lines=False)
    assert status == "OK after +++ escape (module was in data mode)"
    assert port.plusses()[0] - began < 2.5, "the frames say data mode: no waiting for 8 s of silence"


def test_the_clues_tell_ppp_from_text_and_from_wrong_rate_garbage():
    assert clues.looks_like_ppp(LCP_REQUEST)
    assert not clues.looks_like_ppp(b"\r\nOK\r\n~~") and not clues.looks_like_ppp(b"~\x00\x00\x00\x00~")
    assert clues.garbled(b"\x00\x00\xe0") and not clues.garbled(b"\r\nRDY\r\n") and not clues.garbled(LCP_REQUEST)
    seen = clues.PortClues()
    for part in (LCP_REQUEST[:9], LCP_REQUEST[9:]):  # a frame split over two reads
        seen.feed(part)
    assert seen.ppp
    seen.feed(b"\x00\x01\x02\x03")  # a long frame's middle, raw control bytes (ACCM 0): no flag in it
    assert seen.garbled_reads == 0, "not taken for a wrong rate once PPP was seen"
    assert clues.escape_reason(0.2, 1.0, 8.0, True, True, True) is None, "three ATs first"
    assert clues.escape_reason(0.5, 1.0, 8.0, True, None, False) is None, "a guess waits first_sync"
    assert clues.escape_reason(0.5, 1.0, 8.0, False, True, False) == "DCD is on", "a sign does not"
    assert clues.escape_reason(0.5, 1.0, 8.0, False, None, True) == "PPP frames on the port"
    assert clues.escape_reason(3.0, 1.0, 8.0, False, None, False) is None, "a silent module is booting"
    assert clues.escape_reason(3.0, 1.0, 8.0, False, True, False) == "DCD is on"
    assert clues.escape_reason(8.0, 1.0, 8.0, False, False, False) == "no answer for 8.0 s"


# ----- (d) RDY mid-wait -------------------------------------------------------------------------

@pytest.mark.parametrize("boot_time", [2.51, 2.53, 2.57, 2.62, 2.68])  # anywhere between two ATs
def test_rdy_between_two_ticks_gets_an_at_at_once(write_profile, boot_time):
    modem, io = module(boot_at_start=True, boot_time=boot_time)
    sync(profile(write_profile), modem, io)
    rdy = first(io, "urc", "RDY")
    heard = first(io, "cmd", "AT", rdy)
    assert heard - rdy < 0.01, f"the AT came {heard - rdy:.3f} s after RDY, not at the next 100 ms tick"


def test_rdy_during_a_guard_time_drops_the_escape(write_profile):
    """A module that booted with DCD on (a saved AT&C0, say): RDY in the guard time ends the escape."""
    modem, io = module(boot_at_start=True, boot_time=1.6)
    modem.dcd_mode = 0  # DCD always on: the clue is wrong
    status, port = sync(profile(write_profile, extra="  dcd: carrier\n"), modem, io)
    rdy = first(io, "urc", "RDY")
    assert port.plusses() == [], "the RDY came before the plusses"
    assert first(io, "final", "OK") - rdy <= 0.15
    assert "after RDY" in status, status


# ----- the real pty emulator ----------------------------------------------------------------------

def test_cold_boot_on_the_pty_emulator_first_ok_within_150ms_of_rdy(write_profile):
    scenario = {"port": "uart", "boot_at_start": True, "boot_time": 2.5, "boot_urc_gap": 0.05,
                "registration": [[0, 1]]}
    with Emulator(scenario) as emu:
        prof = profile(write_profile, port=emu.device)
        pre = Preflight(prof)
        try:
            pre.step_port()
            pre.step_sync()
        finally:
            pre.close()
        events = list(emu.events)
    rdy = next(t for t, k, x in events if (k, x) == ("urc", "RDY"))
    ok = next(t for t, k, x in events if (k, x) == ("final", "OK") and t >= rdy)
    print(f"RDY to first OK: {ok - rdy:.3f} s")
    assert ok - rdy <= 0.15, f"first OK {ok - rdy:.3f} s after RDY"
    assert not [e for e in events if e[1:] == ("event", "dtr off")]
    assert time.time() - rdy < 30
