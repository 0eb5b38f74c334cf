"""The virtual module's behaviour: AT interpreter, SIM, registration, data mode.

Pure logic over an injected I/O object (clock, timers, port, network side), so
the same model runs in the pty emulator and could run under a fake clock.
Behaviour follows the vendor's AT reference, not what bg-pppd expects.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from bg_pppd.emulator.command_syntax import split_commands, split_extended
from bg_pppd.emulator.lcp import TerminateAckWatch
from bg_pppd.emulator.scenario import Scenario

GUARD = 1.0          # +++ guard time, before and after (vendor: at least 1 s)
RI_PULSE = 0.12      # RI low for 120 ms on a URC in data mode
MAX_LINE = 560

CME_TEXT = {
    3: "operation not allowed", 4: "operation not supported", 10: "SIM not inserted",
    11: "SIM PIN required", 12: "SIM PUK required", 13: "SIM failure", 14: "SIM busy",
    16: "incorrect password", 30: "no network service", 50: "Incorrect parameters", 100: "unknown",
}
NUMERIC = {"OK": 0, "CONNECT": 1, "RING": 2, "NO CARRIER": 3, "ERROR": 4, "NO DIALTONE": 6,
           "BUSY": 7, "NO ANSWER": 8}
ACT = {"catm1": 8, "nbiot": 9, "gsm": 3}
SYSMODE = {"catm1": "eMTC", "nbiot": "NBIoT", "gsm": "GSM"}
NWINFO = {"catm1": "CAT-M1", "nbiot": "CAT-NB1", "gsm": "EGPRS"}
BAUDRATES = (9600, 19200, 38400, 57600, 115200, 230400, 460800, 921600)


class Timer(Protocol):
    def cancel(self) -> None: ...


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


@dataclass
class Reply:
    info: list[str] = field(default_factory=list)
    final: str = "OK"
    delay: float = 0.0
    then: Callable[[], None] | None = None


class CmeError(Exception):
    def __init__(self, code: int):
        self.code = code


class Channel:
    """One of the module's serial ports: its own echo, result format, input line and mode.

    A USB module has a modem port (PPP) and an AT port; each interprets its own
    commands, while SIM, registration, the data call and power are the module's.
    """

    def __init__(self, name: str):
        self.name = name
        self.mode = "command"         # command | data
        self.echo = self.verbose = True
        self.cmee = 0
        self.line = bytearray()
        self.queue: list[str] = []
        self.busy = False
        self.last_rx = 0.0
        self.held = 0                 # '+' characters held back while an escape may be under way
        self.held_first = 0.0
        self.escape_timer: Timer | None = None
        self.pending_urcs: list[str] = []

    def power_loss(self) -> None:
        self.mode = "command"
        self.line.clear()
        self.queue.clear()
        self.busy = False
        self.held = 0
        self.pending_urcs.clear()


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
        self.qcfg = {"iotopmode": scenario.iotopmode, "nwscanseq": scenario.nwscanseq,
                      "nwscanmode": scenario.nwscanmode}
        self.dials = 0
        self.commands = 0
        self.dtr = True
        self.ri = False
        # the modem (PPP) port, and on USB with at_port the AT port, where URCs go
        self.channels = {"modem": Channel("modem")}
        if scenario.at_port:
            self.channels["at"] = Channel("at")
        self.data_ch = self.channels["modem"]
        self.urc_ch = self.channels.get("at", self.data_ch)
        self.call_ch = self.data_ch   # the port that holds the data call
        self.ch = self.data_ch        # the port whose command is being executed
        self._reset_volatile()
        self._noise_index = 0
        self._rebooted_once = False
        self._lines_seen: dict[str, bool] = {}
        self._hung_once = False
        self._crashed_once = False

    # the command handlers act on the port that sent the command
    echo = property(lambda self: self.ch.echo, lambda self, v: setattr(self.ch, "echo", v))
    verbose = property(lambda self: self.ch.verbose, lambda self, v: setattr(self.ch, "verbose", v))
    cmee = property(lambda self: self.ch.cmee, lambda self, v: setattr(self.ch, "cmee", v))

    # ----- power -----------------------------------------------------------------------------

    def _reset_volatile(self) -> None:
        for ch in self.channels.values():
            ch.echo, ch.verbose, ch.cmee = bool(self.saved["E"]), bool(self.saved["V"]), 0
        self.dcd_mode, self.dtr_mode, self.ipr = self.saved["&C"], self.saved["&D"], self.saved["ipr"]
        self.cfun = 1
        self.reg_n = {"+CEREG": 0, "+CGREG": 0, "+CREG": 0}
        self.reg_reported: dict[str, int] = {}
        self.rdy_at: float | None = None
        self.attach_at: float | None = None
        self.sim_ready_at: float | None = None

    def start(self) -> None:
        if self.sc.boot_at_start:
            self._boot(self.sc.scaled("boot_time"), vanished=False)
        else:
            self.power = "on"
            self.rdy_at = self.io.now()
            self._sim_became_ready(self.rdy_at)  # the registration timeline starts now
            self._start_noise()

    def _later(self, delay: float, fn: Callable[[], None]) -> None:
        gen = self.generation

        def run() -> None:
            if gen == self.generation:
                fn()
        self.io.call_later(delay, run)

    def _power_loss(self, why: str) -> None:
        self.io.log("event", f"power-down {why}")
        self.generation += 1
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
            self._later(drop, self.io.port_vanish)
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
        self._later(silence, appear)

    def _boot_urcs(self, gen: int) -> None:
        self.power = "on"
        self.commands = 0
        now = self.io.now()
        self.rdy_at = now
        cpin = {"ready": "+CPIN: READY", "pin": "+CPIN: SIM PIN", "puk": "+CPIN: SIM PUK"}.get(self.sim)
        urcs = ["RDY", "+CFUN: 1"] + ([cpin] if cpin else []) + ["+QUSIM: 1", "+QIND: SMS DONE"]
        if self.sim == "ready":
            urcs.append("+QIND: PB DONE")
        urcs.append("APP RDY")
        gap = self.sc.scaled("boot_urc_gap")
        for i, text in enumerate(urcs):
            self._later(i * gap, lambda t=text: self.urc(t))
        self.io.log("event", "ready")
        if self.sim == "ready":
            self._sim_became_ready(now + self.sc.scaled("sim_busy"))
        self._start_noise()

    def _sim_became_ready(self, at: float) -> None:
        self.sim_ready_at = at
        self._attach(at)

    def _attach(self, at: float | None = None) -> None:
        """(Re)start the network search; each registration change may raise a URC."""
        if self.cfun != 1 or self.sim != "ready":
            self.attach_at = None
            return
        self.attach_at = self.io.now() if at is None else at
        gen = self.generation
        for t, _stat in self.sc.registration_timeline():
            delay = self.attach_at + t - self.io.now()
            self._later(max(0.0, delay) + 0.001, lambda g=gen: self._report_registration())

    # ----- registration ----------------------------------------------------------------------

    def _rat_allowed(self) -> bool:
        mode, scan = int(self.qcfg["iotopmode"]), int(self.qcfg["nwscanmode"])
        if self.sc.rat == "gsm":
            return scan != 3
        return scan != 1 and mode in ((0, 2) if self.sc.rat == "catm1" else (1, 2))

    def network_stat(self) -> int:
        if self.power != "on" or self.attach_at is None or self.cfun != 1 or self.sim != "ready":
            return 0
        elapsed = self.io.now() - self.attach_at
        if elapsed < 0:
            return 0
        stat = 0
        for t, s in self.sc.registration_timeline():
            if elapsed >= t:
                stat = s
        if not self._rat_allowed() and stat in (1, 5):
            return 2
        return stat

    def registered(self) -> bool:
        return self.network_stat() in (1, 5)

    def reg_stat(self, name: str) -> int:
        stat = self.network_stat()
        lte = self.sc.rat != "gsm"
        if (name == "+CEREG" and not lte) or (name == "+CGREG" and lte):
            return 2 if stat == 2 else 0
        return stat

    def _reg_fields(self, name: str, stat: int, n: int) -> str:
        text = f"{stat}"
        if n >= 2 and stat in (1, 5):
            act = ACT[self.sc.rat] if name != "+CGREG" else 3
            text += f',"1A2B","01A2D001",{act}'
        return text

    def _report_registration(self) -> None:
        for name, n in self.reg_n.items():
            stat = self.reg_stat(name)
            if n and self.reg_reported.get(name) != stat:
                self.reg_reported[name] = stat
                self.urc(f"{name}: {self._reg_fields(name, stat, n)}")

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

    def set_dtr(self, asserted: bool) -> None:
        """DTR drop (asserted -> not) acts per AT&D: 1 command mode, link kept; 2 hang up."""
        was, self.dtr = self.dtr, asserted
        self.io.log("event", f"dtr {'on' if asserted else 'off'}")
        if not (was and not asserted) or self.power != "on":
            return
        if self.dtr_mode == 1 and self.data_ch.mode == "data":
            self._to_command_mode(self.data_ch, "dtr")
        elif self.dtr_mode == 2 and self.session:
            self._end_session("dtr", result="OK")
        self._check_lines()

    def ring(self, kind: str = "sms") -> None:
        text = {"sms": '+CMTI: "ME",1', "call": "RING"}.get(kind, kind)
        self.io.log("event", f"ring {text}")
        self.ri = True
        self._check_lines()
        self._later(RI_PULSE, self._ri_off)
        self.urc(text)  # vendor: not sent to a port in data mode; held until command mode

    def _ri_off(self) -> None:
        self.ri = False
        self._check_lines()

    # ----- output ----------------------------------------------------------------------------

    def _frame(self, text: str, ch: Channel | None = None) -> bytes:
        verbose = (ch or self.ch).verbose
        return f"\r\n{text}\r\n".encode() if verbose else f"{text}\r\n".encode()

    def _final(self, text: str, ch: Channel | None = None) -> bytes:
        if (ch or self.ch).verbose:
            return f"\r\n{text}\r\n".encode()
        code = NUMERIC.get(text.split(" ")[0] if text.startswith("CONNECT") else text)
        return f"{code}\r".encode() if code is not None else f"{text}\r\n".encode()

    def urc(self, text: str) -> None:
        """URCs go to the URC port (USB: the AT port), only between answers, never in data mode."""
        if self.power != "on":
            return
        ch = self.urc_ch
        if ch.mode == "data" or ch.busy:
            ch.pending_urcs.append(text)
            return
        self.io.log("urc", text)
        self.io.write(self._frame(text, ch), ch.name)

    def _flush_urcs(self, ch: Channel) -> None:
        if ch is not self.urc_ch:
            return
        urcs, ch.pending_urcs = ch.pending_urcs, []
        for text in urcs:
            self.urc(text)

    def _start_noise(self) -> None:
        if not self.sc.noise or self.sc.noise_interval <= 0:
            return

        def tick() -> None:
            if self.power == "on" and self.urc_ch.mode == "command" and not self.urc_ch.busy:
                self.urc(self.sc.noise[self._noise_index % len(self.sc.noise)])
                self._noise_index += 1
            self._later(self.sc.scaled("noise_interval"), tick)
        self._later(self.sc.scaled("noise_interval"), tick)

    # ----- input -----------------------------------------------------------------------------

    def receive(self, data: bytes, port: str = "modem") -> None:
        ch = self.channels[port]
        if self.power != "on":
            self.io.log("ignored", repr(data)[2:-1])  # booting, hung or off: nothing read or echoed
            return
        if ch.mode == "data":
            self._receive_data(ch, data)
            return
        for byte in data:
            if ch.mode == "data":  # a dial answered within this chunk
                self._receive_data(ch, bytes([byte]))
                continue
            if ch.echo and self.power == "on":
                self.io.write(bytes([byte]), ch.name)
            if byte == 0x0D:
                line = ch.line.decode("latin-1")
                ch.line.clear()
                if "AT" in line.upper():  # the module hunts for "AT"; anything before it is noise
                    line = line[line.upper().index("AT"):]
                    ch.queue.append(line.strip())
                    self._next_line(ch)
            elif byte in (0x08, 0x7F):
                del ch.line[-1:]
            elif byte >= 0x20 and len(ch.line) < MAX_LINE:
                ch.line.append(byte)

    def _next_line(self, ch: Channel) -> None:
        if ch.busy or not ch.queue or self.power != "on":
            return
        line = ch.queue.pop(0)
        self.io.log("cmd", line if ch is self.data_ch else f"[{ch.name}] {line}")
        self.commands += 1
        if self.sc.hang_after is not None and self.commands > self.sc.hang_after and not self._hung_once:
            self._hung_once = True  # firmware lock-up: only a reset brings it back
            self.power = "hung"
            self.io.log("event", "hung: no more answers")
            return
        if self.sc.reboot_on and line.upper().startswith(self.sc.reboot_on.upper()) and not self._crashed_once:
            self._crashed_once = True  # a firmware crash on this command: no answer, a reboot
            self.reboot("by itself")
            return
        ch.busy = True
        self.ch = ch
        quirk = self.sc.replies.get(line)
        reply = Reply(list(quirk[:-1]), quirk[-1]) if quirk else self.execute(line)
        delay = reply.delay + self.sc.scaled("response_delay") + self.sc.extra_delay(line)
        gen = self.generation

        def answer() -> None:
            if gen != self.generation or self.power != "on":
                return
            self.ch = ch
            out = b"".join(self._frame(t, ch) if ch.verbose else f"{t}\r\n".encode() for t in reply.info)
            self.io.write(out + self._final(reply.final, ch), ch.name)
            self.io.log("final", reply.final)
            ch.busy = False
            if reply.then:
                reply.then()
            self._check_lines()
            if self.sc.reboot_after is not None and self.commands == self.sc.reboot_after \
                    and not self._rebooted_once:
                self._rebooted_once = True  # a one-off crash, not a boot loop
                self.reboot("by itself")
                return
            if ch.mode == "command":
                self._flush_urcs(ch)
                self._next_line(ch)
        if delay > 0:
            self._later(delay, answer)
        else:
            answer()

    def _receive_data(self, ch: Channel, data: bytes) -> None:
        now = self.io.now()
        out = bytearray()
        for byte in data:
            if byte == 0x2B and ch.held < 3 and (
                    (ch.held == 0 and now - ch.last_rx >= GUARD)
                    or (ch.held and now - ch.held_first < GUARD)):
                if ch.held == 0:
                    ch.held_first = now
                ch.held += 1
                if ch.held == 3:
                    ch.escape_timer = self.io.call_later(GUARD, lambda: self._escape_complete(ch))
            else:
                out += self._release_held(ch)
                out.append(byte)
            ch.last_rx = now
        if out:
            self.io.network_write(bytes(out))

    def _release_held(self, ch: Channel) -> bytes:
        held, ch.held = b"+" * ch.held, 0
        if ch.escape_timer:
            ch.escape_timer.cancel()
            ch.escape_timer = None
        return held

    def _escape_complete(self, ch: Channel) -> None:
        ch.escape_timer = None
        if ch.held == 3 and ch.mode == "data" and self.io.now() - ch.last_rx >= GUARD - 0.01:
            ch.held = 0
            self._to_command_mode(ch, "+++")

    def _to_command_mode(self, ch: Channel, how: str) -> None:
        self.io.log("event", f"command mode ({how}), link kept")
        ch.mode = "command"
        self.io.write(self._final("OK", ch), ch.name)
        self._flush_urcs(ch)

    def network_data(self, data: bytes) -> None:
        if self.session and self.call_ch.mode == "data" and self.power == "on":
            self.io.write(data, self.call_ch.name)
            if self.lcp_end is not None and self.lcp_end.feed(data):
                self.lcp_end = None  # once per session
                session = self.sessions
                self._later(self.sc.scaled("hangup_delay"), lambda: self._ppp_terminated(session))

    def _ppp_terminated(self, session: int) -> None:
        """The host's LCP Terminate-Request was acknowledged: the data call is over."""
        if self.session and self.sessions == session:
            self._end_session("PPP terminated", result="NO CARRIER" if self.sc.no_carrier_on_end else None)

    def network_closed(self) -> None:
        if self.session:
            self._end_session("network", result="NO CARRIER" if self.sc.no_carrier_on_end else None)

    def _end_session(self, why: str, result: str | None) -> None:
        self.io.log("event", f"call ended ({why})")
        ch = self.call_ch
        self.session = False
        self.io.network_stop()
        ch.mode = "command"
        ch.held = 0
        if result:
            self.io.write(self._final(result, ch), ch.name)
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
        if self.cmee == 0:
            return "ERROR"
        return f"+CME ERROR: {code}" if self.cmee == 1 else f"+CME ERROR: {CME_TEXT.get(code, 'unknown')}"

    def _one(self, cmd: str) -> Reply:
        if cmd == "":
            return Reply()
        if cmd[0] in "+$":
            name, form, args = split_extended(cmd)
            handler = getattr(self, "at_" + name[1:].replace("&", "_").lower(), None)
            if handler is None:
                return Reply(final="ERROR")
            return handler(form, args)
        if cmd.startswith("D"):
            return self.at_dial(cmd[1:])
        letter, digits = (cmd[:2], cmd[2:]) if cmd.startswith("&") else (cmd[:1], cmd[1:])
        value = int(digits) if digits else 0
        basic: dict[str, Callable[[int], Reply]] = {
            "E": self._set_echo, "V": self._set_verbose, "&D": self._set_dtr_mode,
            "&C": self._set_dcd_mode, "Q": lambda v: Reply(), "Z": self._restore,
            "&F": self._factory, "&W": self._save, "I": self._ident, "H": self._hangup,
            "O": self._online,
        }
        if letter not in basic:
            return Reply(final="ERROR")
        return basic[letter](value)

    def _set_echo(self, v: int) -> Reply:
        if v not in (0, 1):
            return Reply(final="ERROR")
        self.echo = bool(v)
        return Reply()

    def _set_verbose(self, v: int) -> Reply:
        if v not in (0, 1):
            return Reply(final="ERROR")
        self.verbose = bool(v)
        return Reply()

    def _set_dtr_mode(self, v: int) -> Reply:
        if v not in (0, 1, 2):
            return Reply(final="ERROR")
        self.dtr_mode = v
        return Reply()

    def _set_dcd_mode(self, v: int) -> Reply:
        if v not in (0, 1):
            return Reply(final="ERROR")
        self.dcd_mode = v
        return Reply()

    def _restore(self, v: int) -> Reply:
        self.echo, self.verbose = bool(self.saved["E"]), bool(self.saved["V"])
        self.dcd_mode, self.dtr_mode = self.saved["&C"], self.saved["&D"]
        return Reply()

    def _factory(self, v: int) -> Reply:
        self.echo, self.verbose, self.dcd_mode, self.dtr_mode = True, True, 1, 2
        return Reply()

    def _save(self, v: int) -> Reply:
        self.saved.update({"E": int(self.echo), "V": int(self.verbose), "&C": self.dcd_mode,
                           "&D": self.dtr_mode, "ipr": self.ipr})
        self.io.log("event", f"settings saved (ipr {self.ipr})")
        return Reply()

    def _ident(self, v: int) -> Reply:
        return Reply([self.sc.manufacturer, self.sc.model, f"Revision: {self.sc.revision}"])

    def _hangup(self, v: int) -> Reply:
        if self.session:
            return Reply(delay=self.sc.scaled("hangup_delay"),
                         then=lambda: self._end_session("ATH", result=None))
        return Reply()

    def _online(self, v: int) -> Reply:
        if not self.session or self.ch is not self.call_ch:
            return Reply(final="NO CARRIER")
        return Reply(final=self.sc.connect_text, then=self._enter_data_mode)

    def _enter_data_mode(self) -> None:
        self.call_ch = self.ch
        self.ch.mode = "data"
        self.ch.last_rx = self.io.now()
        self.ch.held = 0

    def at_dial(self, number: str) -> Reply:
        number = number.strip().upper()
        if number not in ("*99#", "*99***1#") and not number.startswith("*99***"):
            return Reply(final="NO CARRIER", delay=self.sc.scaled("dial_delay"))
        cid = int(number[6:-1]) if number.startswith("*99***") else 1
        delay = self.sc.scaled("dial_delay")
        self.dials += 1
        if self.dials <= len(self.sc.dial_results):
            return Reply(final=str(self.sc.dial_results[self.dials - 1]), delay=delay)
        if not self.registered() or cid not in self.contexts:
            return Reply(final="NO CARRIER", delay=delay)

        def connected() -> None:
            self.session = True
            self.sessions += 1
            self.lcp_end = TerminateAckWatch()
            self._enter_data_mode()
            self.io.log("event", "data mode")
            self.io.network_start()
        return Reply(final=self.sc.connect_text, delay=delay, then=connected)

    # extended commands: at_<name>(form, args); form is '', '?', '=?' or '='

    def _need_sim(self) -> None:
        if self.cfun == 0:
            raise CmeError(13)
        if self.sim == "absent":
            raise CmeError(10)
        if self.sim == "failure":
            raise CmeError(13)
        if self.sim_ready_at is not None and self.io.now() < self.sim_ready_at:
            raise CmeError(14)

    def at_cmee(self, form: str, args: list[str]) -> Reply:
        if form == "?":
            return Reply([f"+CMEE: {self.cmee}"])
        if form == "=" and args[0] in ("0", "1", "2"):
            self.cmee = int(args[0])
            return Reply()
        return Reply(final="ERROR") if form != "=?" else Reply(["+CMEE: (0-2)"])

    def at_cpin(self, form: str, args: list[str]) -> Reply:
        if form == "?":
            self._need_sim()
            text = {"pin": "SIM PIN", "puk": "SIM PUK"}.get(self.sim, "READY")
            return Reply([f"+CPIN: {text}"])
        if form != "=":
            return Reply(final="ERROR")
        self._need_sim()
        if self.sim == "pin" and len(args) == 1:
            if args[0] == self.pin:
                self.io.log("event", "PIN accepted")
                return Reply(then=self._pin_ok)
            self.pin_tries -= 1
            self.io.log("event", f"wrong PIN, {self.pin_tries} tries left")
            if self.pin_tries <= 0:
                self.sim = "puk"
            raise CmeError(16)
        if self.sim == "puk" and len(args) == 2:
            if args[0] == self.puk:
                self.pin, self.pin_tries = args[1], 3
                return Reply(then=self._pin_ok)
            self.puk_tries -= 1
            raise CmeError(16)
        raise CmeError(3)

    def _pin_ok(self) -> None:
        self.sim = "ready"
        self.pin_tries = 3
        gap = self.sc.scaled("boot_urc_gap")
        for i, text in enumerate(["+CPIN: READY", "+QUSIM: 1", "+QIND: SMS DONE", "+QIND: PB DONE"], 1):
            self._later(i * gap, lambda t=text: self.urc(t))
        self._sim_became_ready(self.io.now())

    def at_qpinc(self, form: str, args: list[str]) -> Reply:
        if not self.sc.qpinc:
            return Reply(final="ERROR")
        return Reply([f'+QPINC: "SC",{self.pin_tries},{self.puk_tries}'])

    def at_qccid(self, form: str, args: list[str]) -> Reply:
        self._need_sim()
        return Reply([f"+QCCID: {self.sc.iccid}"])

    at_ccid = at_qccid

    def at_cimi(self, form: str, args: list[str]) -> Reply:
        self._need_sim()
        if self.sim != "ready":
            raise CmeError(11 if self.sim == "pin" else 12)
        return Reply([self.sc.imsi])

    def at_cgsn(self, form: str, args: list[str]) -> Reply:
        return Reply([self.sc.imei])

    at_gsn = at_cgsn

    def at_cgmi(self, form: str, args: list[str]) -> Reply:
        return Reply([self.sc.manufacturer])

    at_gmi = at_cgmi

    def at_cgmm(self, form: str, args: list[str]) -> Reply:
        return Reply([self.sc.model])

    at_gmm = at_cgmm

    def at_cgmr(self, form: str, args: list[str]) -> Reply:
        return Reply([self.sc.revision])

    at_gmr = at_cgmr

    def at_cfun(self, form: str, args: list[str]) -> Reply:
        if form == "?":
            return Reply([f"+CFUN: {self.cfun}"])
        if form != "=" or args[0] not in ("0", "1", "4"):
            return Reply(final="ERROR")
        if len(args) > 1 and args[1] == "1":
            def restart() -> None:
                if self.sc.powered_down_urc:
                    self.urc("POWERED DOWN")
                self.reboot("AT+CFUN=1,1")
            return Reply(then=restart)
        self.cfun = int(args[0])
        self._attach()
        return Reply(delay=self.sc.scaled("cfun_delay"))

    def _registration(self, name: str, form: str, args: list[str]) -> Reply:
        if form == "?":
            n = self.reg_n[name]
            return Reply([f"{name}: {n},{self._reg_fields(name, self.reg_stat(name), n)}"])
        if form == "=?":
            return Reply([f"{name}: (0-2)"])
        if form == "=" and args[0] in ("0", "1", "2"):
            self.reg_n[name] = int(args[0])
            self.reg_reported[name] = self.reg_stat(name)
            return Reply()
        return Reply(final="ERROR")

    def at_cereg(self, form: str, args: list[str]) -> Reply:
        return self._registration("+CEREG", form, args)

    def at_cgreg(self, form: str, args: list[str]) -> Reply:
        return self._registration("+CGREG", form, args)

    def at_creg(self, form: str, args: list[str]) -> Reply:
        return self._registration("+CREG", form, args)

    def at_cgatt(self, form: str, args: list[str]) -> Reply:
        return Reply([f"+CGATT: {int(self.registered())}"]) if form == "?" else Reply()

    def at_cops(self, form: str, args: list[str]) -> Reply:
        if form == "?":
            if self.registered():
                act = ACT[self.sc.rat] if self.sc.rat != "gsm" else 0
                return Reply([f'+COPS: 0,0,"{self.sc.operator}",{act}'])
            return Reply(["+COPS: 0"])
        if form == "=?":
            op = self.sc.operator
            return Reply([f'+COPS: (1,"{op}","{op}","{self.sc.mcc_mnc}",8),,(0-4),(0-2)'],
                         delay=self.sc.scaled("cfun_delay") * 10)
        return Reply(delay=self.sc.scaled("cfun_delay"))

    def at_csq(self, form: str, args: list[str]) -> Reply:
        return Reply([f"+CSQ: {self.sc.rssi if self.registered() else 99},99"])

    def at_qcsq(self, form: str, args: list[str]) -> Reply:
        if not self.registered():
            return Reply(['+QCSQ: "NOSERVICE"'])
        rssi = -113 + 2 * self.sc.rssi
        if self.sc.rat == "gsm":
            return Reply([f'+QCSQ: "GSM",{rssi}'])
        sc = self.sc
        return Reply([f'+QCSQ: "{SYSMODE[sc.rat]}",{rssi},{sc.rsrp},{sc.sinr},{sc.rsrq}'])

    def at_qnwinfo(self, form: str, args: list[str]) -> Reply:
        if not self.registered():
            return Reply(["+QNWINFO: No Service"])
        band = self.sc.band if self.sc.rat != "gsm" else "GSM 900"
        return Reply([f'+QNWINFO: "{NWINFO[self.sc.rat]}","{self.sc.mcc_mnc}","{band}",{self.sc.channel}'])

    def at_qcfg(self, form: str, args: list[str]) -> Reply:
        if form != "=" or not args or args[0].lower() not in self.qcfg:
            return Reply(final="ERROR")
        key = args[0].lower()
        if len(args) == 1:
            return Reply([f'+QCFG: "{key}",{self.qcfg[key]}'])
        value = args[1]
        valid = {"iotopmode": ("0", "1", "2"), "nwscanmode": ("0", "1", "3")}
        if key in valid and value not in valid[key]:
            return Reply(final="ERROR")
        if key == "nwscanseq" and (len(value) % 2 or not value.isdigit()):
            return Reply(final="ERROR")
        self.qcfg[key] = value if key == "nwscanseq" else int(value)
        self.io.log("event", f"qcfg {key}={value} (written to NV, rescan)")
        self._attach()
        return Reply()

    def at_cgdcont(self, form: str, args: list[str]) -> Reply:
        if form == "?":
            return Reply([f'+CGDCONT: {cid},"{t}","{apn}","0.0.0.0",0,0,0'
                          for cid, (t, apn) in sorted(self.contexts.items())])
        if form == "=?":
            return Reply(['+CGDCONT: (1-15),"IP",,,(0-2),(0-4),(0,1)'])
        if form != "=" or not args[0].isdigit() or not 1 <= int(args[0]) <= 15:
            return Reply(final="ERROR")
        cid = int(args[0])
        if len(args) == 1:
            self.contexts.pop(cid, None)
            return Reply()
        if args[1] not in ("IP", "IPV6", "IPV4V6"):
            return Reply(final="ERROR")
        self.contexts[cid] = [args[1], args[2] if len(args) > 2 else ""]
        self.io.log("event", f"context {cid} = {self.contexts[cid]}")
        return Reply()

    def at_ipr(self, form: str, args: list[str]) -> Reply:
        if form == "?":
            return Reply([f"+IPR: {self.ipr}"])
        if form == "=?":
            return Reply([f"+IPR: (),({','.join(map(str, BAUDRATES))})"])
        if form == "=" and args[0].isdigit() and int(args[0]) in BAUDRATES:
            self.ipr = int(args[0])
            return Reply()
        return Reply(final="ERROR")

    def at_qpowd(self, form: str, args: list[str]) -> Reply:
        def off() -> None:
            self.urc("POWERED DOWN")
            self.power_off()
        return Reply(then=lambda: self._later(0.05, off))

    def status(self) -> dict[str, Any]:
        return {"power": self.power, "mode": self.data_ch.mode, "session": self.session, "dtr": self.dtr,
                "dcd": self.dcd, "ri": self.ri, "sim": self.sim, "stat": self.network_stat(),
                "dials": self.dials, "echo": self.data_ch.echo, "ipr": self.ipr, "saved_ipr": self.saved["ipr"],
                "contexts": {str(k): v for k, v in self.contexts.items()}, "qcfg": dict(self.qcfg)}
