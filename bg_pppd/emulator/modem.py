"""The virtual module: power and boot, SIM state, the data call, control lines, URC routing.

Pure logic over an injected I/O object (clock, timers, port, network side), so the same
model runs in the pty emulator (runtime.py) and under a virtual clock in unit tests.
Its parts: each port is a ``Channel`` (channel.py, with its ``+++`` detector), the radio
is a ``Network`` (network.py), the scenario's faults are ``Faults`` (faults.py), and the
AT commands are registered by topic in commands/. Behaviour follows the vendor's AT
reference, not what bg-pppd expects.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from bg_pppd.emulator.channel import Channel, Timer
from bg_pppd.emulator.command_syntax import split_commands, split_extended
from bg_pppd.emulator.commands import CmeError, Reply, lookup
from bg_pppd.emulator.faults import Faults
from bg_pppd.emulator.lcp import TerminateAckWatch
from bg_pppd.emulator.mux_ports import MuxPorts
from bg_pppd.emulator.network import Network
from bg_pppd.emulator.scenario import Scenario

RI_PULSE = 0.12      # RI low for 120 ms on a URC in data mode; never scaled

CME_TEXT = {
    3: "operation not allowed", 4: "operation not supported", 10: "SIM not inserted",
    11: "SIM PIN required", 12: "SIM PUK required", 13: "SIM failure", 14: "SIM busy",
    16: "incorrect password", 30: "no network service", 50: "Incorrect parameters", 100: "unknown",
}


class ModemIO(Protocol):
    """What the model needs from its surroundings. ``port`` names one of the module's ports."""

    def now(self) -> float: ...
    def call_later(self, delay: float, fn: Callable[[], None]) -> Timer: ...
    def write(self, data: bytes, port: str = "modem") -> None: ...
    def log(self, kind: str, text: str) -> None: ...
    def network_start(self) -> None: ...
    def network_write(self, data: bytes) -> None: ...
    def network_stop(self) -> None: ...
    def port_vanish(self) -> None: ...
    def port_appear(self) -> None: ...
    def lines_changed(self, lines: dict[str, bool]) -> None: ...


class Modem:
    def __init__(self, scenario: Scenario, io: ModemIO):
        self.sc, self.io = scenario, io
        self.power = "off"            # off | booting | on | hung
        self.session = False          # a PPP data call exists (data mode or escaped)
        self.sessions = 0             # calls so far: a timer from an ended call does nothing
        self.lcp_end: TerminateAckWatch | None = None
        self.generation = 0           # bumps on power loss: stale timers do nothing
        self.sim = scenario.sim
        self.pin, self.puk = scenario.pin, scenario.puk
        self.pin_tries, self.puk_tries = scenario.pin_tries, 10
        self.saved = {"E": int(scenario.echo), "V": 1, "&C": 1, "&D": 2, "ipr": scenario.baudrate}
        self.contexts = {int(k): list(v) for k, v in scenario.contexts.items()}
        self.dials = 0
        self.ceer = "No cause information available"  # AT+CEER: why the last call or attach ended
        self.dtr = True
        self.ri = False
        self.faults = Faults(scenario)
        self.network = Network(scenario, io.now, self.later, self.urc,
                               can_search=lambda: self.sim == "ready", powered=lambda: self.power == "on")
        # the modem (PPP) port, and on USB with at_port the AT port, where URCs go
        self.channels = {"modem": self._channel("modem")}
        if scenario.at_port:
            self.channels["at"] = self._channel("at")
        self.data_ch = self.channels["modem"]
        self.urc_ch = self.channels.get("at", self.data_ch)
        self.call_ch = self.data_ch   # the port that holds the data call
        self.ch = self.data_ch        # the port whose command is being executed
        self.mux: MuxPorts | None = None  # CMUX mode (AT+CMUX): DLC 1 AT port, DLC 2 this modem port
        self._reset_volatile()
        self._lines_seen: dict[str, bool] = {}

    def _channel(self, name: str) -> Channel:
        return Channel(name, self.io.now, self.io.call_later, lambda ch: self._to_command_mode(ch, "+++"))

    def make_channel(self, name: str) -> Channel:
        """A new port (a mux DLC) with the saved echo and result format."""
        ch = self._channel(name)
        ch.echo, ch.verbose = bool(self.saved["E"]), bool(self.saved["V"])
        return ch

    def _send(self, data: bytes, port: str) -> None:
        """To one of the module's ports: in CMUX mode the modem port and DLC 1 are mux channels."""
        if self.mux is not None and self.mux.dlci(port) is not None:
            self.mux.write(port, data)
        else:  # not multiplexed: the UART, or a USB module's AT port beside it
            self.io.write(data, port)

    # ----- power -----------------------------------------------------------------------------

    def _reset_volatile(self) -> None:
        for ch in self.channels.values():
            ch.echo, ch.verbose, ch.cmee = bool(self.saved["E"]), bool(self.saved["V"]), 0
        self.dcd_mode, self.dtr_mode, self.ipr = self.saved["&C"], self.saved["&D"], self.saved["ipr"]
        self.network.reset()
        self.rdy_at: float | None = None
        self.sim_ready_at: float | None = None

    def start(self) -> None:
        if self.sc.boot_at_start:
            self._boot(self.sc.scaled("boot_time"), vanished=False)
        else:
            self.power = "on"
            self.rdy_at = self.io.now()
            self.sim_became_ready(self.rdy_at)  # the registration timeline starts now
            self._start_noise()

    def later(self, delay: float, fn: Callable[[], None]) -> None:
        """Run ``fn`` after ``delay`` unless the module lost power meanwhile."""
        gen = self.generation

        def run() -> None:
            if gen == self.generation:
                fn()
        self.io.call_later(delay, run)

    def _power_loss(self, why: str) -> None:
        self.io.log("event", f"power-down {why}")
        self.generation += 1
        if self.mux is not None:  # the UART is plain AT again after the boot
            self.mux_ended()
        if self.session:
            self.session = False
            self.io.network_stop()
        self.ri = False
        for ch in self.channels.values():
            ch.power_loss()
        self._reset_volatile()
        self._check_lines()

    def reboot(self, why: str = "reset") -> None:
        """AT+CFUN=1,1, a hardware reset, or the module rebooting by itself."""
        self._power_loss(why)
        vanish = self.sc.port == "usb"
        silence = self.sc.scaled("reboot_time")
        if vanish:  # USB drops off the bus a moment after the reset
            drop = self.sc.scaled("usb_drop_delay")
            self.later(drop, self.io.port_vanish)
            silence = max(silence, drop + 0.05)
        self._boot(silence, vanished=vanish)

    def power_off(self) -> None:
        self._power_loss("off")
        self.power = "off"
        if self.sc.port == "usb":
            self.io.port_vanish()

    def power_on(self) -> None:
        if self.power == "off":
            self._boot(self.sc.scaled("boot_time"), vanished=self.sc.port == "usb")

    def _boot(self, silence: float, vanished: bool) -> None:
        self.power = "booting"
        self.io.log("event", "booting")
        gen = self.generation

        def appear() -> None:
            if vanished:
                self.io.port_appear()
            self._boot_urcs(gen)
        self.later(silence, appear)

    def _boot_urcs(self, gen: int) -> None:
        self.power = "on"
        self.faults.booted()
        now = self.io.now()
        self.rdy_at = now
        cpin = {"ready": "+CPIN: READY", "pin": "+CPIN: SIM PIN", "puk": "+CPIN: SIM PUK"}.get(self.sim)
        urcs = ["RDY", "+CFUN: 1"] + ([cpin] if cpin else []) + ["+QUSIM: 1", "+QIND: SMS DONE"]
        if self.sim == "ready":
            urcs.append("+QIND: PB DONE")
        urcs.append("APP RDY")
        gap = self.sc.scaled("boot_urc_gap")
        for i, text in enumerate(urcs):
            self.later(i * gap, lambda t=text: self.urc(t))
        self.io.log("event", "ready")
        if self.sim == "ready":
            self.sim_became_ready(now + self.sc.scaled("sim_busy"))
        self._start_noise()

    def sim_became_ready(self, at: float) -> None:
        """The SIM answers from ``at`` on (+CME ERROR: 14 before), and the network search starts then."""
        self.sim_ready_at = at
        self.network.attach(at)

    def _start_noise(self) -> None:
        def quiet() -> bool:
            return self.power == "on" and self.urc_ch.mode == "command" and not self.urc_ch.busy
        self.faults.start_noise(self.later, quiet, self.urc)

    # ----- lines -----------------------------------------------------------------------------

    @property
    def dcd(self) -> bool:
        return self.session if self.dcd_mode == 1 else True

    def lines(self) -> dict[str, bool]:
        return {"dtr": self.dtr, "dcd": self.dcd, "ri": self.ri}

    def _check_lines(self) -> None:
        """Tell watchers when DCD or RI changed (the simulated serial-state notification)."""
        now = self.lines()
        if now != self._lines_seen:
            self._lines_seen = now
            self.io.lines_changed(now)
        if self.mux is not None:  # the mux carries them as MSCs, one per DLC whose signals changed
            self.mux.mux.update_signals()

    def set_dtr(self, asserted: bool) -> None:
        """DTR drop (asserted -> not) acts per AT&D: 1 command mode, link kept; 2 hang up."""
        was, self.dtr = self.dtr, asserted
        self.io.log("event", f"dtr {'on' if asserted else 'off'}")
        if not (was and not asserted) or self.power != "on":
            return
        self._dtr_dropped()

    def _dtr_dropped(self) -> None:
        if self.dtr_mode == 1 and self.data_ch.mode == "data":
            self._to_command_mode(self.data_ch, "dtr")
        elif self.dtr_mode == 2 and self.session:
            self.end_session("dtr", result="OK")
        self._check_lines()

    def mux_dtr(self, asserted: bool) -> None:
        """The host's DTR in its MSC for DLC 2 (the RTC bit): a drop acts as the line's does."""
        self.io.log("event", f"dtr {'on' if asserted else 'off'} (mux MSC, DLC 2)")
        if not asserted and self.power == "on":
            self._dtr_dropped()

    # ----- CMUX ------------------------------------------------------------------------------

    def start_mux(self, n1: int) -> None:
        """AT+CMUX's OK is out: from now on the UART carries 27.010 frames only."""
        self.mux = MuxPorts(self, n1)
        self.data_ch.line.clear()
        self.io.log("event", f"mux mode (AT+CMUX, N1 {n1}): DLC 1 AT port, DLC 2 modem port")

    def mux_ended(self) -> None:
        """Mux closed down (CLD, DISC on DLC 0) or lost with power: one plain AT port again."""
        mux, self.mux = self.mux, None
        if mux is None:
            return
        mux.leave()
        self.data_ch.line.clear()
        self.io.log("event", "mux mode left: plain AT on the UART")

    def ring(self, kind: str = "sms") -> None:
        text = {"sms": '+CMTI: "ME",1', "call": "RING"}.get(kind, kind)
        self.io.log("event", f"ring {text}")
        self.ri = True
        self._check_lines()
        self.later(RI_PULSE, self._ri_off)
        self.urc(text)  # vendor: not sent to a port in data mode; held until command mode

    def _ri_off(self) -> None:
        self.ri = False
        self._check_lines()

    # ----- output ----------------------------------------------------------------------------

    def urc(self, text: str) -> None:
        """URCs go to the URC port (USB: the AT port), only between answers, never in data mode."""
        if self.power != "on":
            return
        for ch in self.mux.urc_targets() if self.mux is not None else [self.urc_ch]:
            if ch.mode == "data" or ch.busy:
                ch.pending_urcs.append(text)
                continue
            self.io.log("urc", text)
            self._send(ch.frame(text), ch.name)

    def _flush_urcs(self, ch: Channel) -> None:
        if ch is not self.urc_ch and (self.mux is None or ch not in self.mux.urc_targets()):
            return
        urcs, ch.pending_urcs = ch.pending_urcs, []
        for text in urcs:
            self.urc(text)

    # ----- input -----------------------------------------------------------------------------

    def receive(self, data: bytes, port: str = "modem") -> None:
        if self.power != "on":
            self.io.log("ignored", repr(data)[2:-1])  # booting, hung or off: nothing read or echoed
            return
        if self.mux is not None and port == "modem":  # the UART in CMUX mode: frames only
            self.mux.mux.feed(data)
            return
        self.receive_on(self.channels[port], data)

    def receive_on(self, ch: Channel, data: bytes) -> None:
        """What the host sent on one port (a pty, or a mux DLC)."""
        if self.power != "on":
            return
        if ch.mode == "data":
            self._receive_data(ch, data)
            return
        echo = bytearray()  # echoed in one write up to each line's end (one mux frame, not one a byte)
        for byte in data:
            if ch.mode == "data":  # a dial answered within this chunk
                self._receive_data(ch, bytes([byte]))
                continue
            if ch.echo and self.power == "on":
                echo.append(byte)
            line = ch.edit(byte)
            if line is not None:
                if echo:
                    self._send(bytes(echo), ch.name)
                    echo.clear()
                ch.queue.append(line)
                self._next_line(ch)
        if echo and self.power == "on":
            self._send(bytes(echo), ch.name)

    def _next_line(self, ch: Channel) -> None:
        if ch.busy or not ch.queue or self.power != "on":
            return
        line = ch.queue.pop(0)
        self.io.log("cmd", line if ch is self.data_ch else f"[{ch.name}] {line}")
        fault = self.faults.on_command(line)
        if fault == "hang":  # firmware lock-up: only a reset brings it back
            self.power = "hung"
            self.io.log("event", "hung: no more answers")
            return
        if fault == "crash":  # a firmware crash on this command: no answer, a reboot
            self.reboot("by itself")
            return
        ch.busy = True
        self.ch = ch
        quirk = self.faults.quirk(line)
        reply = Reply(*quirk) if quirk else self.execute(line)
        delay = self.faults.answer_delay(reply.delay, line)
        gen = self.generation

        def answer() -> None:
            if gen != self.generation or self.power != "on":
                return
            self.ch = ch
            out = b"".join(ch.frame(t) for t in reply.info)
            self._send(out + ch.final(reply.final), ch.name)
            self.io.log("final", reply.final)
            ch.busy = False
            if reply.then:
                reply.then()
            self._check_lines()
            if self.faults.reboot_due():  # a one-off crash, not a boot loop
                self.reboot("by itself")
                return
            if ch.mode == "command":
                self._flush_urcs(ch)
                self._next_line(ch)
        if delay > 0:
            self.later(delay, answer)
        else:
            answer()

    def _receive_data(self, ch: Channel, data: bytes) -> None:
        out = ch.escape.feed(data)
        if out:
            self.io.network_write(out)

    def _to_command_mode(self, ch: Channel, how: str) -> None:
        self.io.log("event", f"command mode ({how}), link kept")
        ch.mode = "command"
        self._send(ch.final("OK"), ch.name)
        self._flush_urcs(ch)

    # ----- the data call ---------------------------------------------------------------------

    def call_connected(self) -> None:
        """The dial's CONNECT is out: the call exists, the port is in data mode, the network starts."""
        self.session = True
        self.sessions += 1
        self.lcp_end = TerminateAckWatch()
        self.enter_data_mode()
        self.io.log("event", "data mode")
        self.io.network_start()

    def enter_data_mode(self) -> None:
        """The port that sent the command (ATD, ATO) holds the call, in data mode from now."""
        self.call_ch = self.ch
        self.ch.mode = "data"
        self.ch.escape.start()

    def network_data(self, data: bytes) -> None:
        if self.session and self.call_ch.mode == "data" and self.power == "on":
            self._send(data, self.call_ch.name)
            if self.lcp_end is not None and self.lcp_end.feed(data):
                self.lcp_end = None  # once per session
                session = self.sessions
                self.later(self.sc.scaled("hangup_delay"), lambda: self._ppp_terminated(session))

    def _ppp_terminated(self, session: int) -> None:
        """The host's LCP Terminate-Request was acknowledged: the data call is over."""
        if self.session and self.sessions == session:
            self.end_session("PPP terminated", result="NO CARRIER" if self.sc.no_carrier_on_end else None)

    def network_closed(self) -> None:
        if self.session:
            self.end_session("network", result="NO CARRIER" if self.sc.no_carrier_on_end else None)

    def end_session(self, why: str, result: str | None) -> None:
        self.io.log("event", f"call ended ({why})")
        ch = self.call_ch
        self.session = False
        self.io.network_stop()
        ch.mode = "command"
        ch.escape.release()  # plusses held back are dropped with the call
        if result:
            self._send(ch.final(result), ch.name)
        self._flush_urcs(ch)
        self._check_lines()

    # ----- commands --------------------------------------------------------------------------

    def execute(self, line: str) -> Reply:
        cmds = split_commands(line)
        if cmds is None:
            return Reply(final="ERROR")
        total = Reply()
        for cmd in cmds or [""]:
            try:
                reply = self._one(cmd)
            except CmeError as exc:
                return Reply(total.info, self._cme(exc.code), total.delay)
            total.info += reply.info
            total.delay += reply.delay
            total.then = reply.then or total.then
            if reply.final != "OK":
                return Reply(total.info, reply.final, total.delay, total.then)
        return total

    def _cme(self, code: int) -> str:
        if self.ch.cmee == 0:
            return "ERROR"
        return f"+CME ERROR: {code}" if self.ch.cmee == 1 else f"+CME ERROR: {CME_TEXT.get(code, 'unknown')}"

    def _one(self, cmd: str) -> Reply:
        """One command of a line, by the registry (commands/); not registered: ERROR."""
        if cmd == "":
            return Reply()
        if cmd[0] in "+$":
            name, form, args = split_extended(cmd)
            entry = lookup(name)
            if entry is None or entry.kind != "extended":
                return Reply(final="ERROR")
            return entry.handler(self, form, args)
        if cmd.startswith("D"):
            return lookup("D").handler(self, cmd[1:])
        letter, digits = (cmd[:2], cmd[2:]) if cmd.startswith("&") else (cmd[:1], cmd[1:])
        value = int(digits) if digits else 0
        entry = lookup(letter)
        if entry is None or entry.kind != "basic":
            return Reply(final="ERROR")
        return entry.handler(self, value)

    def status(self) -> dict[str, Any]:
        return {"power": self.power, "mode": self.data_ch.mode, "session": self.session, "dtr": self.dtr,
                "dcd": self.dcd, "ri": self.ri, "sim": self.sim, "stat": self.network.stat(),
                "dials": self.dials, "echo": self.data_ch.echo, "ipr": self.ipr, "saved_ipr": self.saved["ipr"],
                "contexts": {str(k): v for k, v in self.contexts.items()}, "qcfg": dict(self.network.qcfg),
                "cmux": sorted(self.mux.mux.open) if self.mux is not None else None}
