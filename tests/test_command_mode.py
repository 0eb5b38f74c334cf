"""Back to command mode (modem.command_mode), the one procedure of the pre-flight and after pppd,
over a scripted module and a fake clock: no port, no real waits."""

from __future__ import annotations

import threading

import pytest

from bg_pppd.modem import command_mode
from bg_pppd.modem.at_channel import AtChannel, AtTimeout
from bg_pppd.modem.command_mode import Timings, to_command_mode
from bg_pppd.modem.control_lines import NoLines
from bg_pppd.modem.preflight import Preflight
from bg_pppd.profile import model as profile_mod
from bg_pppd.util.cancel import Cancellable, Cancelled
from tests.test_atparse import FakeClock, Scripted


class DataModeModule(Scripted):
    """A module left in data mode: it swallows everything until DTR drops (``dtr_works``) or
    ``+++`` comes (``escape_works``); in command mode it answers each command line OK."""

    def __init__(self, clock: FakeClock, data_mode: bool = True, dtr_works: bool = False,
                 escape_works: bool = True):
        super().__init__(clock, {})
        self.data_mode, self.dtr_works, self.escape_works = data_mode, dtr_works, escape_works
        self.line = b""
        self.times: list[tuple[float, bytes]] = []  # (when, bytes) of every write
        self.escape_at: float | None = None

    def read(self, size: int = 1) -> bytes:
        if self.escape_at is not None and self.clock.t >= self.escape_at:
            self.escape_at, self.data_mode = None, False
            self.pending += b"\r\nOK\r\n"
        return super().read(size)

    def write(self, data: bytes) -> int:
        self.written.append(data)
        self.times.append((self.clock.t, data))
        if self.data_mode:
            if data == b"+++" and self.escape_works:
                self.escape_at = self.clock.t + 1.0  # its OK once the guard time after it is over
            return len(data)
        self.line += data
        while b"\r" in self.line:
            cmd, self.line = self.line.split(b"\r", 1)
            if cmd == b"AT+CMEE?":
                self.pending += b"\r\n+CMEE: 2\r\n\r\nOK\r\n"
            elif cmd.startswith(b"AT"):
                self.pending += b"\r\nOK\r\n"
        return len(data)

    @property
    def cd(self) -> bool:  # pyserial's, on a port without modem lines (a pty)
        raise OSError(25, "Inappropriate ioctl for device")

    def close(self) -> None:
        pass

    def sent(self) -> list[bytes]:
        return [w for w in self.written if w != b"AT\r"]

    def guard_times(self) -> tuple[float, float]:
        """The silence before the +++ and after it (to the next write)."""
        i = next(n for n, (_, data) in enumerate(self.times) if data == b"+++")
        return self.times[i][0] - self.times[i - 1][0], self.times[i + 1][0] - self.times[i][0]


class FakeLines:
    def __init__(self, module: DataModeModule, has_lines: bool = True):
        self.module, self.has_lines = module, has_lines
        self.dtr: list[bool] = []

    def set_dtr(self, asserted: bool) -> None:
        self.dtr.append(asserted)
        if not asserted and self.module.dtr_works and self.module.data_mode:
            self.module.data_mode = False
            self.module.pending += b"\r\nOK\r\n"

    def dcd(self) -> bool | None:
        return self.module.data_mode if self.has_lines else None

    def ri(self) -> bool | None:
        return False if self.has_lines else None


def waiter(clock: FakeClock):
    """A cancellable wait on the fake clock: never cancelled."""
    def wait(seconds: float) -> bool:
        clock.t += seconds
        return False
    return wait


AFTER = Timings(first_sync=1.0, final_sync=1.0)


def test_a_port_in_command_mode_answers_at_once_and_nothing_else_is_sent():
    clock = FakeClock()
    module = DataModeModule(clock, data_mode=False)
    back = to_command_mode(AtChannel(module, timeout=2, clock=clock), FakeLines(module), AFTER, maybe_in_call=True)
    assert back.how == "" and not back.was_in_data_mode
    assert module.sent() == [], "no DTR, no +++, no ATH for a port that answers"


def test_dtr_drop_first_where_the_port_has_the_line_then_ath():
    clock = FakeClock()
    module = DataModeModule(clock, dtr_works=True)
    lines = FakeLines(module)
    back = to_command_mode(AtChannel(module, timeout=2, clock=clock), lines, AFTER, maybe_in_call=True)
    assert back.how == "DTR drop" and back.was_in_data_mode
    assert lines.dtr == [False, True]
    assert b"+++" not in module.written and module.sent()[-1] == b"ATH\r"
    assert back.took < 1.0 + command_mode.DTR_LOW + command_mode.DTR_SYNC + 0.5


def test_without_control_lines_the_escape_with_its_guard_times_then_ath():
    clock = FakeClock()
    module = DataModeModule(clock)
    back = to_command_mode(AtChannel(module, timeout=2, clock=clock), NoLines(), AFTER, maybe_in_call=True)
    assert back.how == "+++ escape"
    before, after = module.guard_times()
    assert 1.1 <= before < 1.25 and 1.1 <= after < 1.25, "a second of silence either side of +++, no more"
    assert module.sent()[:1] == [b"+++"] and module.sent()[-1] == b"ATH\r"


def test_dtr_is_not_tried_when_the_timings_say_so():
    clock = FakeClock()
    module = DataModeModule(clock, dtr_works=True)
    lines = FakeLines(module)
    back = to_command_mode(AtChannel(module, timeout=2, clock=clock), lines,
                           Timings(first_sync=1.0, final_sync=1.0, use_dtr=False), maybe_in_call=True)
    assert back.how == "+++ escape" and lines.dtr == []


def test_a_module_that_never_answers_is_an_at_timeout_bounded_by_total():
    clock = FakeClock()
    module = DataModeModule(clock, escape_works=False)
    with pytest.raises(AtTimeout):
        to_command_mode(AtChannel(module, timeout=2, clock=clock), NoLines(),
                        Timings(first_sync=2.0, final_sync=1.0, total=10.0))
    assert module.written[-2:] != [b"ATH\r"] and b"ATH\r" not in module.written
    assert 9.5 < clock.t < 11.5, clock.t


def test_a_cancel_cuts_the_procedure_short():
    cancel = threading.Event()
    clock = FakeClock()
    bounded = Cancellable(cancel, None, clock)
    module = DataModeModule(clock)
    at = AtChannel(module, timeout=2, clock=bounded.clock)
    cancel.set()
    with pytest.raises(Cancelled):
        to_command_mode(at, NoLines(), AFTER, maybe_in_call=True)
    assert b"+++" not in module.written


def test_a_deadline_cuts_the_procedure_short():
    clock = FakeClock()
    bounded = Cancellable(None, 1.5, clock, waiter(clock))
    module = DataModeModule(clock)
    with pytest.raises(Cancelled):
        to_command_mode(AtChannel(module, timeout=2, clock=bounded.clock), NoLines(), AFTER, maybe_in_call=True)
    assert clock.t < 3, "stopped at the deadline, not after the escape's guard times"


# ----- the pre-flight and after pppd use it ----------------------------------------------------------

def load(write_profile, extra: str = ""):
    return profile_mod.load(write_profile(f"modem:\n  port: /dev/null\nnetwork:\n  apn: internet\n"
                                          f"recovery:\n  at_timeout: 5\n{extra}"))


def preflight_sync(prof, module: DataModeModule, clock: FakeClock, lines=None) -> str:
    pre = Preflight(prof, opener=lambda p, **rate: module, clock=clock, sleep=lambda s: None)
    pre.serial = module
    pre.at = AtChannel(module, timeout=5, clock=clock)
    pre.lines = lines or NoLines()
    return pre.step_sync()


def test_preflight_sync_uses_the_procedure_dtr_first(write_profile):
    clock = FakeClock()
    module = DataModeModule(clock, dtr_works=True)
    status = preflight_sync(load(write_profile), module, clock, FakeLines(module))
    assert status == "OK after DTR drop (module was in data mode)"
    assert module.sent()[-1] == b"ATH\r"


def test_preflight_sync_escapes_and_names_at_timeout_when_it_fails(write_profile):
    clock = FakeClock()
    module = DataModeModule(clock)
    status = preflight_sync(load(write_profile), module, clock)
    assert status == "OK after +++ escape (module was in data mode)"
    assert min(module.guard_times()) >= 1.1
    clock = FakeClock()
    with pytest.raises(AtTimeout, match=r"no OK to AT within 5 s, at 115200 baud nor at another rate"):
        preflight_sync(load(write_profile), DataModeModule(clock, escape_works=False), clock)
    assert 4.5 < clock.t < 6.5, "the whole step waits about at_timeout"


def test_preflight_sync_in_command_mode(write_profile):
    clock = FakeClock()
    module = DataModeModule(clock, data_mode=False)
    status = preflight_sync(load(write_profile), module, clock)
    assert status.startswith("OK after 0.") and status.endswith(" s") and module.sent() == []


def test_after_pppd_opens_the_ppp_port_shared_and_respects_dtr_ignore(write_profile):
    clock = FakeClock()
    module = DataModeModule(clock, dtr_works=True)
    opened = []

    def opener(profile, port, exclusive):
        opened.append((port, exclusive))
        return module
    prof = load(write_profile)
    how = command_mode.restore_after_pppd(prof, opener=opener, clock=clock, wait=waiter(clock))
    assert opened == [("/dev/null", False)]
    assert how == "+++ escape", "no control lines on a serial backend without a port: the escape"
    text = "modem:\n  port: /dev/null\n  dtr: ignore\nnetwork:\n  apn: internet\n"
    prof = profile_mod.load(write_profile(text))
    module.data_mode, module.written = True, []
    assert command_mode.restore_after_pppd(prof, opener=opener, clock=clock, wait=waiter(clock)) == "+++ escape"


def test_after_pppd_a_port_that_is_gone_or_silent_is_no_error(write_profile):
    clock = FakeClock()
    prof = load(write_profile)

    def gone(profile, port, exclusive):
        raise OSError(2, "No such file or directory")
    assert command_mode.restore_after_pppd(prof, opener=gone, clock=clock, wait=waiter(clock)) == "port gone"
    module = DataModeModule(clock, escape_works=False)
    module.close = lambda: None
    assert command_mode.restore_after_pppd(prof, opener=lambda *a, **k: module, clock=clock,
                                           wait=waiter(clock)) == "no answer"
