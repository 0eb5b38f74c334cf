"""The vendor's bring-up, step by step, before ``ATD*99#``.

Steps are data (a name and a function) run in order by one loop that times
them and reports them; a step either returns a short summary or raises the
diagnosis with its exit status. A port that vanishes or a module that
reboots in the middle starts the sequence over from the port, a bounded
number of times.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bg_pppd.modem import at_replies as atparse
from bg_pppd.modem import diagnostics, radio
from bg_pppd.modem import module_quirks as models
from bg_pppd.modem.at_channel import AtChannel, AtTimeout, PortGone
from bg_pppd.modem.command_mode import Timings, WrongRate, to_command_mode
from bg_pppd.modem.control_lines import Lines, for_port
from bg_pppd.modem.radio_setup import RadioSteps
from bg_pppd.modem.registration_wait import RegistrationSteps
from bg_pppd.modem.serial_port import PortInUse, held_elsewhere, open_port
from bg_pppd.modem.sim_unlock import SimSteps
from bg_pppd.profile.model import Profile
from bg_pppd.util.errors import BgPppdError, NotRegistered, NotResponding, RegistrationDenied

log = logging.getLogger("bg_pppd")

REBOOT_URCS = ("RDY", "POWERED DOWN")
MAX_RESTARTS = 3


@dataclass
class Report:
    """What the pre-flight learnt; also the ``check --json`` object."""

    profile: str
    port: str
    ready: bool = False
    model: str | None = None
    revision: str | None = None
    imei: str | None = None
    iccid: str | None = None
    sim: str | None = None
    registration: str | None = None
    operator: str | None = None
    access_technology: str | None = None
    band: str | None = None
    signal: dict[str, Any] = field(default_factory=dict)
    firmware: str | None = None     # AT+QGMR: the full firmware id (AT+CGMR gives the base only)
    apn: str | None = None          # the APN this attempt set in context 1
    # what was done short of a reset to get registered: {"action": "cops=0" | "cfun 0/1", "at": s, "why": ...}
    interventions: list[dict[str, Any]] = field(default_factory=list)
    # what the module said about a failure (AT+QENG="servingcell", AT+CEER, +QCSQ, +QNWINFO): {command: answer}
    diagnostics: dict[str, str] = field(default_factory=dict)
    steps: list[dict[str, Any]] = field(default_factory=list)
    urcs: list[str] = field(default_factory=list)
    error: str | None = None
    exit_code: int = 0


class Restart(Exception):
    """The module rebooted or its port vanished: start again from the port."""


class PortOwned(BgPppdError):
    """Another program (pppd) owns the port: nothing the module did, and a reset cannot mend it."""

    port_held = True


class Preflight(SimSteps, RadioSteps, RegistrationSteps):
    """The steps in order; the SIM, radio and registration steps are in their own modules."""

    def __init__(self, profile: Profile, state_dir: str | os.PathLike | None = None,
                 on_step: Callable[[str, str, float], None] | None = None,
                 opener: Callable[[Profile], Any] = open_port,
                 clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep,
                 choose_apn: Callable[[str | None], str] | None = None,
                 for_dial: bool = False, maybe_in_call: bool = False):
        self.p = profile
        # the last run or attempt ended without pppd hanging up cleanly: the sync tries the
        # data-mode escapes without waiting for another clue (modem.command_mode)
        self.maybe_in_call = maybe_in_call
        # dialling next (the daemon): nothing but what ATD needs runs once registered (the IMEI
        # is read before the registration wait, the radio report left to the monitor); `check`
        # reads the whole report after registration
        self.for_dial = for_dial
        # the APN to set, given the ICCID the SIM step read (None: not read); default: the first
        self.choose_apn = choose_apn or (lambda iccid: profile.network.apn[0])
        self.state_dir = Path(state_dir) if state_dir else None
        self.on_step = on_step or (lambda name, status, elapsed: None)
        self.opener, self.clock, self.sleep = opener, clock, sleep
        self.report = Report(profile.name, profile.modem.port)
        self.serial: Any = None
        self.at: AtChannel | None = None
        self.lines: Lines | None = None
        self.model = models.lookup("")
        self.start = 0.0

    # ----- the sequence ----------------------------------------------------------------------

    def steps(self) -> list[tuple[str, Callable[[], str]]]:
        return [
            ("port", self.step_port),
            ("sync", self.step_sync),
            ("setup", self.step_setup),
            ("baudrate", self.step_baudrate),
            ("sim", self.step_sim),
            ("radio", self.step_radio),
            ("context", self.step_context),
            *([("identity", self.step_identity)] if self.for_dial else []),
            ("registration", self.step_registration),
            *([] if self.for_dial else [("report", self.step_report)]),
        ]

    def run(self) -> Report:
        """Run every step; raise the diagnosis (its ``exit_code``) or return the report."""
        self.start = self.clock()
        restarts = 0
        try:
            while True:
                try:
                    for name, step in self.steps():
                        self._run_step(name, step)
                    self.report.ready = True
                    return self.report
                except Restart as why:
                    restarts += 1
                    self.on_step("restart", str(why), self.clock() - self.start)
                    self.report.steps.append({"step": "restart", "status": str(why),
                                              "elapsed": round(self.clock() - self.start, 3)})
                    self.close()
                    if restarts > MAX_RESTARTS:
                        raise NotResponding(f"the module keeps rebooting ({why})") from None
        finally:
            self.close()

    def _run_step(self, name: str, step: Callable[[], str]) -> None:
        self.on_step(name, "", self.clock() - self.start)
        began = self.clock()
        try:
            summary = step()
        except PortGone as exc:
            raise Restart(f"port vanished during {name}: {exc}") from None
        except AtTimeout as exc:
            if self.at and any(u.startswith(REBOOT_URCS) for u in self.at.urcs):
                raise Restart(f"module rebooted during {name}") from None
            self._record(name, "failed", began)
            raise NotResponding(f"{name}: {exc}") from None
        except (NotRegistered, RegistrationDenied):
            self._record(name, "failed", began)
            if self.at is not None:  # what the module says about it, for the log and status
                self.report.diagnostics = diagnostics.capture(
                    lambda c, prefix, t: self.cmd(c, prefix, timeout=t))
                if self.report.diagnostics:
                    log.info("%s: the module's diagnostics: %s", self.p.name,
                             diagnostics.one_line(self.report.diagnostics))
            raise
        except Exception:
            self._record(name, "failed", began)
            raise
        if self.at and any(u.startswith(REBOOT_URCS) for u in self.at.take_urcs()) and name != "sync":
            raise Restart(f"module rebooted during {name}")
        self._record(name, summary, began)

    def _record(self, name: str, status: str, began: float) -> None:
        took = self.clock() - began
        self.report.steps.append({"step": name, "status": status, "took": round(took, 3)})
        self.on_step(name, status or "ok", self.clock() - self.start)

    def close(self) -> None:
        if self.serial is not None:
            try:
                self.serial.close()
            except OSError:
                pass
        self.serial = self.at = None

    # ----- helpers ---------------------------------------------------------------------------

    def cmd(self, text: str, prefix: str | None = None, timeout: float | None = None):
        assert self.at is not None
        return self.at.command(text, timeout=timeout, info_prefix=prefix)

    def _on_urc(self, line: str) -> None:
        self.report.urcs.append(line)
        del self.report.urcs[:-50]

    # ----- steps -----------------------------------------------------------------------------

    def step_port(self, baudrate: int | None = None) -> str:
        """Wait for the AT port and the PPP port, all within boot_timeout.

        A USB module's ports vanish while it reboots and come back one by one (udev
        makes the by-id / by-path links as each interface appears); pppd takes a
        missing device path for an option it does not know. ``baudrate``: open at
        another rate than the profile's (the sync's probe for a module left at one).
        """
        m = self.p.modem
        port, wait = m.port, self.p.recovery.boot_timeout
        deadline = self.clock() + wait
        waited = False
        while missing := [p for p in dict.fromkeys((port, m.ppp_port)) if not os.path.exists(p)]:
            if self.clock() > deadline:
                what = "port" if missing[0] == port else "PPP port (modem.data_port)"
                raise NotResponding(f"{what} {missing[0]} does not exist (waited {wait:g} s)")
            waited = True
            self.sleep(0.1)
        while True:
            try:
                self.serial = self.opener(self.p, baudrate=baudrate) if baudrate else self.opener(self.p)
                break
            except PortInUse as exc:
                raise PortOwned(str(exc)) from None
            except OSError as exc:
                if held_elsewhere(exc):
                    raise PortOwned(f"cannot open {port}: {exc}: another program holds it") from None
                if os.path.exists(port) and self.clock() < deadline:
                    self.sleep(0.1)  # udev may not have set permissions yet
                    continue
                raise NotResponding(f"cannot open {port}: {exc}") from None
        self.at = AtChannel(self.serial, timeout=self.p.recovery.at_timeout, clock=self.clock,
                            on_urc=self._on_urc)
        # the emulator simulates the lines of its link, the PPP port: a separate AT port has none
        backend = m.line_backend if port == m.ppp_port else "serial"
        self.lines = for_port(port, self.serial, backend)
        return "appeared" if waited else "present"

    def step_sync(self) -> str:
        """AT every 100 ms until OK, never late for a booting module; one left in data mode
        is brought back on a clue of it (modem.command_mode: the procedure after pppd too).

        On the main UART, bytes that are neither text nor PPP (or silence even after the
        escapes) mean another baud rate: the rate that worked last, 115200, then the others
        are probed (modem.baud_probe), the profile's is set with ``AT+IPR=<rate>;&W`` and
        the port reopened at it. The whole step waits about at_timeout (the last sync gets
        at least 1 s), and a failure names at_timeout, not what was left of it.
        """
        from bg_pppd.modem import baud_probe

        m, total = self.p.modem, self.p.recovery.at_timeout
        if m.multiplex == "cmux":  # a killed daemon may have left the module multiplexing: closed first
            from bg_pppd.modem.multiplexer import close_leftover

            self.close()  # close_leftover opens the raw UART itself (one AT when not multiplexing)
            close_leftover(self.p, clock=self.clock, sleep=self.sleep, opener=self.opener)
            self.step_port()
        assert self.at is not None and self.lines is not None
        began = self.clock()
        timings = Timings(first_sync=min(total, 1.0), final_sync=1.0, total=total, use_dtr=True,
                          ath_timeout=max(total, 1.0))
        try:
            back = to_command_mode(self.at, self.lines, timings, maybe_in_call=self.maybe_in_call,
                                   dcd_tells=m.dcd == "carrier", wrong_rate=not m.separate_at_port)
        except WrongRate as exc:
            why = exc
        except AtTimeout:
            raise AtTimeout(f"no OK to AT within {total:g} s, nor after trying to leave data mode") from None
        else:
            if back.was_in_data_mode:
                return f"OK after {back.how} (module was in data mode)"
            if back.booted is not None:
                return f"OK {back.took - back.booted:.2f} s after RDY ({back.took:.1f} s)"
            return f"OK after {back.took:.1f} s"
        record = baud_probe.record_path(self.state_dir, self.p.name)
        found = None
        for n, rate in enumerate(baud_probe.order(m.baudrate, baud_probe.remembered(record))):
            if n and self.clock() - began > total - 1.0:
                break  # the last sync at the profile's rate keeps its second of at_timeout
            self.close()
            self.step_port(rate)
            if baud_probe.answers(self.at):
                found = rate
                break
        if found is not None:
            log.info("%s: the module answers at %d baud, not at the profile's %d (%s): "
                     "setting AT+IPR=%d;&W", self.p.name, found, m.baudrate, why, m.baudrate)
            if not self.cmd(f"AT+IPR={m.baudrate};&W").ok:
                raise NotResponding(f"the module answers at {found} baud and refused AT+IPR={m.baudrate}")
            baud_probe.remember(record, found)
        self.close()
        self.step_port()
        assert self.at is not None
        try:
            self.at.sync(max(1.0, total - (self.clock() - began)))
        except AtTimeout:
            raise AtTimeout(f"no OK to AT within {total:g} s, at {m.baudrate} baud nor at another "
                            f"rate ({why})") from None
        if found is None:
            return f"OK at {m.baudrate} baud, late ({why})"
        return f"OK at {m.baudrate} baud after AT+IPR={m.baudrate};&W (the module was at {found})"

    def step_setup(self) -> str:
        self.cmd("ATE0")
        self.cmd("AT+CMEE=2")
        ident = self.cmd("ATI")
        if ident.ok:
            lines = [line for line in ident.info if not line.startswith("Revision")]
            if len(lines) >= 2:
                self.report.model = lines[1]
            rev = next((line for line in ident.info if line.startswith("Revision:")), None)
            if rev:
                self.report.revision = rev.split(":", 1)[1].strip()
        # the full firmware id (AT+CGMR and ATI give only the base build): what the quirks key on
        fw = self.cmd("AT+QGMR")
        ids = [line.strip() for line in fw.info if line.strip() and ":" not in line] if fw.ok else []
        self.report.firmware = ids[0] if ids else None
        self.model = models.lookup(self.report.model or "", self.report.firmware or "")
        self._qcfg_asked = False  # AT+QCFG=? is asked again of whatever module answers now
        d = {"hangup": 2, "command": 1, "ignore": 0}[self.p.modem.dtr]
        c = {"carrier": 1, "always": 0}[self.p.modem.dcd]
        self.cmd(f"AT&D{d}&C{c}")
        ident_text = " ".join(filter(None, (self.report.model or "unknown model", self.report.firmware)))
        return f"{ident_text}, echo off, &D{d}&C{c}"

    def step_baudrate(self) -> str:
        m = self.p.modem
        if not m.save_baudrate:
            return "left as is"
        current = atparse.parse_ipr(self.cmd("AT+IPR?", "+IPR:").first("+IPR:") or "")
        if current == m.baudrate:
            return f"{current} already saved"
        if not self.cmd(f"AT+IPR={m.baudrate};&W").ok:
            raise NotResponding(f"the module refused AT+IPR={m.baudrate}")
        return f"{current} -> {m.baudrate}, saved"

    def step_context(self) -> str:
        """Context 1 with the APN this attempt tries (``choose_apn``: the one that worked on this
        SIM, or the next after a failure); ``report.apn`` once the module has it."""
        net = self.p.network
        apn = self.choose_apn(self.report.iccid)
        if apn not in net.apn:  # only ever one of the profile's (validated) APNs goes into a command
            apn = net.apn[0]
        r = self.cmd("AT+CGDCONT?", "+CGDCONT:")
        for line in r.info:
            ctx = atparse.parse_cgdcont(line)
            if ctx and ctx[0] == 1 and ctx[1] == net.pdp_type and ctx[2] == apn:
                self.report.apn = apn
                return f"{net.pdp_type} {apn!r} already set"
        w = self.cmd(f'AT+CGDCONT=1,"{net.pdp_type}","{apn}"')
        if not w.ok:
            raise NotResponding(f"the module refused the PDP context: {w.final}")
        self.report.apn = apn
        return f"set {net.pdp_type} {apn!r}"

    def _read_imei(self) -> None:
        r = self.cmd("AT+CGSN")
        if r.ok and r.info:
            self.report.imei = r.info[0].split(":")[-1].strip()

    def step_identity(self) -> str:
        """The IMEI, read before the registration wait when dialling (nothing but ATD after it)."""
        self._read_imei()
        return self.report.imei or "no IMEI"

    def step_report(self) -> str:
        if self.report.imei is None:
            self._read_imei()
        found = radio.read_radio(self.cmd)
        for name in radio.RADIO_KEYS:
            if name in found:
                setattr(self.report, name, found[name])
        return radio.summary(found)
