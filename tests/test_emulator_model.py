"""The virtual module's model over a fake I/O and a virtual clock: no pty, no socket, no sleep.

Times are asserted in milliseconds from the moment that starts them (a reset, the
dial's CONNECT, the start of the network search), as the vendor's manual states them.
"""

from __future__ import annotations

import pytest

from bg_pppd.emulator.loop import Loop, TimerQueue
from bg_pppd.emulator.modem import Modem
from bg_pppd.emulator.scenario import Scenario


class FakeIO:
    """The model's surroundings, recorded: what it wrote to each port and when, on a clock
    that moves only when the test says so (timers run at their own due time)."""

    def __init__(self) -> None:
        self.t = 0.0
        self.timers = TimerQueue(lambda: self.t)
        self.out: list[tuple[float, str, bytes]] = []
        self.events: list[tuple[float, str, str]] = []
        self.net = bytearray()

    # ModemIO
    def now(self) -> float:
        return self.t

    def call_later(self, delay, fn):
        return self.timers.call_later(delay, fn)

    def write(self, data: bytes, port: str = "modem") -> None:
        self.out.append((self.t, port, data))

    def log(self, kind: str, text: str) -> None:
        self.events.append((self.t, kind, text))

    def network_start(self) -> None:
        self.log("io", "network start")

    def network_write(self, data: bytes) -> None:
        self.net += data

    def network_stop(self) -> None:
        self.log("io", "network stop")

    def port_vanish(self) -> None:
        self.log("io", "vanish")

    def port_appear(self) -> None:
        self.log("io", "appear")

    def lines_changed(self, lines: dict[str, bool]) -> None:
        self.log("lines", repr(lines))

    # the test's side
    def advance(self, seconds: float) -> None:
        """Move the clock on by ``seconds``, running each timer at the time it is due."""
        end = self.t + seconds
        while (due := self.timers.next_due()) is not None and due <= end:
            self.t = max(self.t, due)
            self.timers.run_due(self.t)
        self.t = end

    def mark(self) -> tuple[int, float]:
        """This moment, to ask later what was written after it (``output``, ``writes``)."""
        return len(self.out), self.t

    def output(self, since: tuple[int, float] = (0, 0.0), port: str = "modem") -> bytes:
        return b"".join(data for _, p, data in self.out[since[0]:] if p == port)

    def writes(self, since: tuple[int, float], port: str = "modem") -> list[tuple[int, bytes]]:
        """(milliseconds after ``since``, bytes) of every write since then."""
        return [(round((t - since[1]) * 1000), data) for t, p, data in self.out[since[0]:] if p == port]

    def io_events(self, since: tuple[int, float]) -> list[tuple[int, str]]:
        return [(round((t - since[1]) * 1000), text) for t, kind, text in self.events
                if kind == "io" and t >= since[1]]


START = (0, 0.0)  # the model's start: the first write, time 0


def model(**scenario) -> tuple[Modem, FakeIO]:
    io = FakeIO()
    modem = Modem(Scenario.from_dict({"boot_at_start": False, "registration": [[0, 1]], **scenario}), io)
    modem.start()
    return modem, io


def command(modem: Modem, io: FakeIO, line: str, wait: float = 0.0) -> bytes:
    """Type ``line`` and CR now; what the port got by ``wait`` seconds later."""
    start = io.mark()
    modem.receive(line.encode() + b"\r")
    io.advance(wait)
    return io.output(since=start)


# ----- boot silence ----------------------------------------------------------------------------

BOOT_URCS = [b"RDY", b"+CFUN: 1", b"+CPIN: READY", b"+QUSIM: 1", b"+QIND: SMS DONE", b"+QIND: PB DONE",
             b"APP RDY"]


def test_after_a_reset_a_uart_module_is_silent_for_reboot_time_then_sends_its_boot_urcs():
    modem, io = model(port="uart", reboot_time=5.5, boot_urc_gap=0.3)
    io.advance(10)
    reset = io.mark()
    modem.reboot("hardware reset")
    io.advance(1.0)
    modem.receive(b"AT\r")
    io.advance(4.499)
    assert io.output(since=reset) == b"", "booting: nothing echoed, nothing answered"
    assert (reset[1] + 1.0, "ignored", "AT\\r") in io.events
    io.advance(2.0)
    assert io.writes(reset) == [(5500 + 300 * i, b"\r\n" + urc + b"\r\n") for i, urc in enumerate(BOOT_URCS)]
    assert command(modem, io, "AT") == b"AT\r\r\nOK\r\n", "answers at once once booted"


def test_after_a_reset_a_usb_port_leaves_the_bus_then_comes_back_with_rdy():
    modem, io = model(port="usb", reboot_time=5.5, usb_drop_delay=0.3, boot_urc_gap=0.3)
    io.advance(2)
    reset = io.mark()
    modem.reboot("AT+CFUN=1,1")
    io.advance(5.499)
    assert io.io_events(reset) == [(300, "vanish")] and io.output(since=reset) == b""
    io.advance(0.001)
    assert io.io_events(reset) == [(300, "vanish"), (5500, "appear")]
    assert io.writes(reset) == [(5500, b"\r\nRDY\r\n")]


def test_the_boot_silence_scales_and_a_locked_sim_says_so_at_boot():
    modem, io = model(port="uart", reboot_time=5.5, boot_urc_gap=0.3, time_scale=0.1, sim="pin")
    modem.reboot("hardware reset")
    io.advance(2)
    assert [(ms, data.strip()) for ms, data in io.writes(START)] == [
        (550, b"RDY"), (580, b"+CFUN: 1"), (610, b"+CPIN: SIM PIN"), (640, b"+QUSIM: 1"),
        (670, b"+QIND: SMS DONE"), (700, b"APP RDY")]


def test_a_command_typed_while_booting_is_not_answered_after_the_boot():
    modem, io = model(port="uart", reboot_time=1.0, boot_urc_gap=0.0, echo=False)
    modem.reboot("hardware reset")
    modem.receive(b"AT+CSQ\r")
    io.advance(3)
    assert b"+CSQ" not in io.output() and b"OK" not in io.output()


# ----- +++ guard times -------------------------------------------------------------------------

def in_call(**scenario) -> tuple[Modem, FakeIO, float]:
    """A data call up; returns the moment of its CONNECT."""
    modem, io = model(echo=False, dial_delay=0.5, **scenario)
    dialled = io.mark()
    assert command(modem, io, "ATD*99#", wait=0.5) == b"\r\nCONNECT 150000000\r\n"
    assert io.writes(dialled) == [(500, b"\r\nCONNECT 150000000\r\n")]
    assert modem.status()["mode"] == "data"
    return modem, io, io.mark()


def test_plusses_after_1s_of_silence_then_1s_more_are_the_escape():
    modem, io, _ = in_call()
    modem.receive(b"ppp")
    io.advance(1.0)
    sent = io.mark()
    modem.receive(b"+++")
    io.advance(0.999)
    assert io.output(since=sent) == b"", "the guard time after is not over"
    io.advance(0.001)
    assert io.writes(sent) == [(1000, b"\r\nOK\r\n")]
    assert bytes(io.net) == b"ppp", "the escape itself never reaches the network"
    assert modem.status()["mode"] == "command" and modem.status()["session"], "the link is kept"


def test_plusses_before_1s_of_silence_are_data():
    modem, io, _ = in_call()
    modem.receive(b"ppp")
    io.advance(0.999)
    modem.receive(b"+++")
    assert bytes(io.net) == b"ppp+++", "passed on at once: no escape can start here"
    io.advance(3)
    assert b"OK" not in io.output() and modem.status()["mode"] == "data"


def test_the_silence_before_counts_from_connect():
    modem, io, connect = in_call()
    io.advance(0.9)
    modem.receive(b"+++")
    io.advance(3)
    assert io.output(since=connect) == b"" and bytes(io.net) == b"+++"


def test_three_plusses_spread_over_1s_are_data():
    modem, io, _ = in_call()
    io.advance(1.5)
    modem.receive(b"+")
    io.advance(0.5)
    modem.receive(b"+")
    io.advance(0.5)
    modem.receive(b"+")
    assert bytes(io.net) == b"+++", "the third came 1 s after the first: all three are data"
    io.advance(3)
    assert b"OK" not in io.output() and modem.status()["mode"] == "data"


def test_data_within_1s_after_the_plusses_makes_them_data():
    modem, io, _ = in_call()
    io.advance(1.5)
    modem.receive(b"+++")
    assert bytes(io.net) == b"", "held back while the escape may be under way"
    io.advance(0.999)
    modem.receive(b"y")
    assert bytes(io.net) == b"+++y"
    io.advance(3)
    assert b"OK" not in io.output() and modem.status()["mode"] == "data"


def test_a_urc_in_data_mode_waits_for_the_escape_and_rings_ri_for_120ms():
    modem, io, _ = in_call()
    io.advance(1.5)
    rang = io.mark()
    modem.ring("sms")
    assert modem.status()["ri"] is True
    io.advance(0.119)
    assert modem.status()["ri"] is True
    io.advance(0.002)
    assert modem.status()["ri"] is False, "off 120 ms after"
    assert io.output(since=rang) == b"", "no URC on the port in data mode"
    modem.receive(b"+++")
    io.advance(1.0)
    assert io.writes(rang) == [(1121, b"\r\nOK\r\n"), (1121, b'\r\n+CMTI: "ME",1\r\n')]


def test_after_ato_the_guard_time_counts_again_from_its_connect():
    modem, io, _ = in_call()
    io.advance(1.0)
    modem.receive(b"+++")
    io.advance(1.0)
    assert command(modem, io, "ATO") == b"\r\nCONNECT 150000000\r\n"
    io.advance(0.999)
    modem.receive(b"+++")
    io.advance(3)
    assert bytes(io.net) == b"+++" and modem.status()["mode"] == "data"
    io.advance(1.0)
    modem.receive(b"+++")
    io.advance(1.0)
    assert io.output().endswith(b"\r\nOK\r\n") and modem.status()["mode"] == "command"


def test_ath_hangs_up_after_hangup_delay_and_ato_then_has_no_call():
    modem, io, _ = in_call(hangup_delay=0.1)
    io.advance(1.0)
    modem.receive(b"+++")
    io.advance(1.0)
    sent = io.mark()
    modem.receive(b"ATH\r")
    io.advance(0.2)
    assert io.writes(sent) == [(100, b"\r\nOK\r\n")]
    assert not modem.status()["session"] and (sent[1] + 0.1, "io", "network stop") in io.events
    assert command(modem, io, "ATO") == b"\r\nNO CARRIER\r\n"


# ----- the registration timeline ---------------------------------------------------------------

def urcs(io: FakeIO, since: tuple[int, float], port: str = "modem") -> list[tuple[int, bytes]]:
    """The URCs written since then: one framed line each (an answer ends with its final result)."""
    return [(ms, data.strip()) for ms, data in io.writes(since, port) if data.count(b"\r\n") == 2
            and data.startswith(b"\r\n+C")]


def test_the_registration_timeline_in_ms_with_its_urcs():
    modem, io = model(echo=False, registration=[[0, 2], [20, 1]])
    assert command(modem, io, "AT+CEREG=1") == b"\r\nOK\r\n"
    io.advance(19.998)
    assert command(modem, io, "AT+CEREG?") == b"\r\n+CEREG: 1,2\r\n\r\nOK\r\n"
    io.advance(0.002)
    assert command(modem, io, "AT+CEREG?") == b"\r\n+CEREG: 1,1\r\n\r\nOK\r\n", "registered at 20 s sharp"
    io.advance(1)
    assert urcs(io, START) == [(20001, b"+CEREG: 1")], "the URC follows the change by 1 ms"


def test_the_timeline_scales_and_reports_each_change():
    modem, io = model(echo=False, time_scale=0.5, registration=[[0, 2], [4, 3], [10, 5]])
    command(modem, io, "AT+CEREG=2")
    io.advance(10)
    assert urcs(io, START) == [(2001, b"+CEREG: 3"), (5001, b'+CEREG: 5,"1A2B","01A2D001",8')]


def test_cfun_0_stops_the_search_and_cfun_1_starts_the_timeline_again():
    modem, io = model(echo=False, registration=[[0, 2], [20, 1]], cfun_delay=0.2)
    command(modem, io, "AT+CEREG=1")
    io.advance(25)
    off = io.mark()
    assert command(modem, io, "AT+CFUN=0", wait=0.2) == b"\r\nOK\r\n"
    assert command(modem, io, "AT+CEREG?") == b"\r\n+CEREG: 1,0\r\n\r\nOK\r\n"
    io.advance(5)
    on = io.mark()
    assert command(modem, io, "AT+CFUN=1", wait=0.2) == b"\r\nOK\r\n\r\n+CEREG: 2\r\n", \
        "the search starts at once; its URC waits for the answer"
    io.advance(30)
    assert urcs(io, off) == [(5400, b"+CEREG: 2"), (25201, b"+CEREG: 1")]
    assert on[1] - off[1] == pytest.approx(5.2)


def test_the_search_starts_when_the_pin_is_entered():
    modem, io = model(echo=False, sim="pin", registration=[[0, 2], [3, 1]], boot_urc_gap=0.0)
    assert command(modem, io, "AT+CEREG?") == b"\r\n+CEREG: 0,0\r\n\r\nOK\r\n", "no search with the SIM locked"
    io.advance(10)
    entered = io.t
    command(modem, io, 'AT+CPIN="1234"')
    io.advance(2.999)
    assert command(modem, io, "AT+CEREG?").startswith(b"\r\n+CEREG: 0,2\r\n")
    io.advance(0.001)
    assert command(modem, io, "AT+CEREG?").startswith(b"\r\n+CEREG: 0,1\r\n")
    assert io.t - entered == pytest.approx(3.0)


def test_after_boot_the_sim_is_busy_then_the_search_starts():
    modem, io = model(echo=False, port="uart", reboot_time=1.0, boot_urc_gap=0.0, sim_busy=2.0,
                      registration=[[0, 2], [1, 1]])
    modem.reboot("hardware reset")
    io.advance(1.0)
    command(modem, io, "AT+CMEE=1")
    assert command(modem, io, "AT+CPIN?") == b"\r\n+CME ERROR: 14\r\n"
    assert command(modem, io, "AT+CEREG?") == b"\r\n+CEREG: 0,0\r\n\r\nOK\r\n"
    io.advance(2.0)
    assert command(modem, io, "AT+CPIN?") == b"\r\n+CPIN: READY\r\n\r\nOK\r\n"
    assert command(modem, io, "AT+CEREG?") == b"\r\n+CEREG: 0,2\r\n\r\nOK\r\n"
    io.advance(1.0)
    assert command(modem, io, "AT+CEREG?") == b"\r\n+CEREG: 0,1\r\n\r\nOK\r\n", "RDY + 2 s busy + 1 s"


def test_the_dial_waits_for_registration():
    modem, io = model(echo=False, registration=[[0, 2], [5, 1]], dial_delay=0.5)
    assert command(modem, io, "ATD*99#", wait=0.5) == b"\r\nNO CARRIER\r\n"
    io.advance(4.5)
    assert command(modem, io, "ATD*99#", wait=0.5) == b"\r\nCONNECT 150000000\r\n"


def test_dial_strings_of_27007_with_the_context_left_out_or_garbled():
    """D*99***# is the default context; a non-numeric one is an error, never a crashed emulator."""
    modem, io = model(echo=False, registration=[[0, 1]], dial_delay=0.5)
    assert command(modem, io, "ATD*99***x#", wait=0.5) == b"\r\nERROR\r\n"
    assert command(modem, io, "ATD*99***#", wait=0.5) == b"\r\nCONNECT 150000000\r\n"


# ----- faults and answers on the virtual clock --------------------------------------------------

def test_slow_answers_come_at_their_time():
    modem, io = model(echo=False, response_delay=0.25, slow_commands={"AT+CPIN": 1.0})
    sent = io.mark()
    modem.receive(b"AT+CPIN?\r")
    io.advance(2)
    assert io.writes(sent) == [(1250, b"\r\n+CPIN: READY\r\n\r\nOK\r\n")]


def test_a_second_command_waits_for_the_first_answer():
    modem, io = model(echo=False, cfun_delay=0.2)
    modem.receive(b"AT+CFUN=1\rAT\r")
    io.advance(1)
    assert io.writes(START) == [(200, b"\r\nOK\r\n"), (200, b"\r\nOK\r\n")]


# ----- the loop's clock seam -------------------------------------------------------------------

def test_the_loop_runs_its_timers_by_the_injected_clock():
    now = [1000.0]
    loop = Loop(clock=lambda: now[0])
    fired: list[tuple[str, float]] = []
    loop.call_later(3600, lambda: fired.append(("late", loop.now())))
    cancelled = loop.call_later(0, lambda: fired.append(("cancelled", loop.now())))
    cancelled.cancel()
    loop.call_later(0, lambda: (fired.append(("due", loop.now())), loop.stop()))
    loop.run()  # the hour-long timer would keep a real clock waiting; this one is not moved
    assert fired == [("due", 1000.0)]


def test_timers_run_in_due_order_ties_in_the_order_set():
    now = [0.0]
    timers = TimerQueue(lambda: now[0])
    ran: list[str] = []
    timers.call_later(2, lambda: ran.append("b"))
    timers.call_later(1, lambda: ran.append("a1"))
    timers.call_later(1, lambda: ran.append("a2"))
    timers.run_due(0.999)
    assert ran == [] and timers.next_due() == 1
    timers.run_due(2)
    assert ran == ["a1", "a2", "b"] and timers.next_due() is None


# ----- the command registry --------------------------------------------------------------------

def test_list_commands_prints_each_registered_command_with_a_line_and_exits_0(capsys):
    from bg_pppd.cli.main import main
    from bg_pppd.emulator.commands import registered

    assert main(["emulate", "--list-commands"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == len(registered()) >= 30
    for entry, line in zip(registered(), lines):
        assert line.startswith(", ".join("AT" + n for n in entry.names) + " ")
        assert entry.summary and line.endswith(entry.summary)
    for name in ("ATE", "ATD", "AT+CPIN", "AT+CEREG", "AT+CGDCONT", "AT+QCFG", "AT&W"):
        assert any(line.split("  ")[0].split(", ")[0] == name for line in lines), name


def test_what_is_not_registered_is_error():
    modem, io = model(echo=False)
    for line in ("AT+BOGUS", "AT+BOGUS?", "ATX", "AT$CPIN?", "AT+DIAL"):
        assert command(modem, io, line) == b"\r\nERROR\r\n", line
    assert command(modem, io, "AT+CCID") == b"\r\n+QCCID: 89882280666012345678\r\n\r\nOK\r\n", "an alias"


def test_the_emulator_imports_only_itself_and_util():
    """It must run beside any version of the daemon's layers: nothing of cli, daemon, link,
    modem or profile."""
    import ast

    from tests.conftest import ROOT

    wrong = []
    for path in sorted((ROOT / "bg_pppd" / "emulator").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module or ""] if isinstance(node, ast.ImportFrom) and node.level == 0 else []
            wrong += [f"{path.name}: {n}" for n in names if n.startswith("bg_pppd")
                      and not n.startswith(("bg_pppd.emulator", "bg_pppd.util"))]
    assert wrong == []
