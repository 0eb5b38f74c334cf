"""The vendor's bring-up, step by step, before ``ATD*99#``.

Steps are data (a name and a function) run in order by one loop that times
them and reports them; a step either returns a short summary or raises the
diagnosis with its exit status. A port that vanishes or a module that
reboots in the middle starts the sequence over from the port, a bounded
number of times.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import atparse, models, radio
from .atchannel import AtChannel, AtTimeout, PortGone
from .errors import NotRegistered, NotResponding, RegistrationDenied, SimProblem
from .lines import Lines, for_port
from .port import open_port
from .profile import Profile

SCAN_CODES = {"catm1": "02", "nbiot": "03", "egprs": "01"}
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
    steps: list[dict[str, Any]] = field(default_factory=list)
    urcs: list[str] = field(default_factory=list)
    error: str | None = None
    exit_code: int = 0


class Restart(Exception):
    """The module rebooted or its port vanished: start again from the port."""


class Preflight:
    def __init__(self, profile: Profile, state_dir: str | os.PathLike | None = None,
                 on_step: Callable[[str, str, float], None] | None = None,
                 opener: Callable[[Profile], Any] = open_port,
                 clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep):
        self.p = profile
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
            ("registration", self.step_registration),
            ("report", self.step_report),
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

    def step_port(self) -> str:
        """Wait for the port: a USB module's ports vanish while it reboots."""
        port = self.p.modem.port
        deadline = self.clock() + self.p.recovery.boot_timeout
        waited = False
        while not os.path.exists(port):
            if self.clock() > deadline:
                raise NotResponding(f"port {port} does not exist (waited {self.p.recovery.boot_timeout:g} s)")
            waited = True
            self.sleep(0.1)
        while True:
            try:
                self.serial = self.opener(self.p)
                break
            except OSError as exc:
                if os.path.exists(port) and self.clock() < deadline and "busy" not in str(exc).lower():
                    self.sleep(0.1)  # udev may not have set permissions yet
                    continue
                raise NotResponding(f"cannot open {port}: {exc}") from None
        self.at = AtChannel(self.serial, timeout=self.p.recovery.at_timeout, clock=self.clock,
                            on_urc=self._on_urc)
        self.lines = for_port(port, self.serial)
        return "appeared" if waited else "present"

    def step_sync(self) -> str:
        """AT every 100 ms until OK; a module left in data mode is brought back first."""
        at, total = self.at, self.p.recovery.at_timeout
        assert at is not None
        first = min(total, 2.0)
        try:
            took = at.sync(first)
            return f"OK after {took:.1f} s"
        except AtTimeout:
            pass
        recovered = self._leave_data_mode()
        remaining = max(0.1, total - (self.clock() - self.start))
        took = at.sync(remaining)
        if recovered:
            self.cmd("ATH", timeout=max(total, 1.0))  # end the stale PPP session
            return f"OK after {recovered} (module was in data mode)"
        return f"OK after {took + first:.1f} s"

    def _leave_data_mode(self) -> str:
        at = self.at
        assert at is not None and self.lines is not None
        if self.lines.dcd() is not None:  # the port has control lines: try DTR first, it is fast
            self.lines.set_dtr(False)
            self.sleep(0.1)
            self.lines.set_dtr(True)
            if "OK" in at.poll(0.3):
                return "DTR drop"
        if at.escape(timeout=1.0, sleep=self.sleep):
            return "+++ escape"
        self.write_cr()
        return ""

    def write_cr(self) -> None:
        assert self.at is not None
        self.at.write(b"\r")

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
        self.model = models.lookup(self.report.model or "")
        d = {"hangup": 2, "command": 1, "ignore": 0}[self.p.modem.dtr]
        c = {"carrier": 1, "always": 0}[self.p.modem.dcd]
        self.cmd(f"AT&D{d}&C{c}")
        return f"{self.report.model or 'unknown model'}, echo off, &D{d}&C{c}"

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

    def _pin_marker(self) -> Path | None:
        """Where a rejected PIN is remembered (as a digest with the ICCID), across runs."""
        return self.state_dir / f"{self.p.name}.rejected-pin" if self.state_dir else None

    def _pin_digest(self, iccid: str) -> str:
        import hashlib  # only on the PIN path: OpenSSL's load is slow on small boards

        return hashlib.sha256(f"{iccid}:{self.p.sim.pin}".encode()).hexdigest()

    def step_sim(self) -> str:
        """Never enter a PIN twice, never touch a PUK: either would lock the SIM for good."""
        deadline = self.clock() + max(self.p.recovery.boot_timeout, 1.0)
        entered = False
        while True:
            r = self.cmd("AT+CPIN?", "+CPIN:")
            state = atparse.parse_cpin(r.first("+CPIN:") or "") if r.ok else None
            code = r.cme
            if state == "READY":
                self.report.sim = "ready"
                iccid = self.cmd("AT+QCCID", "+QCCID:")
                if iccid.ok:
                    line = iccid.first("+QCCID:") or (iccid.info[0] if iccid.info else "")
                    self.report.iccid = line.split(":", 1)[-1].strip() or None
                return "PIN accepted" if entered else "ready"
            if code == 14 or (entered and state == "SIM PIN"):
                if self.clock() > deadline:
                    raise SimProblem("the SIM stayed busy")
                self.sleep(min(0.5, self.p.network.poll_interval))
                continue
            if code == 10:
                raise SimProblem("no SIM card (+CME ERROR: 10 SIM not inserted)")
            if code == 13:
                raise SimProblem("SIM failure (+CME ERROR: 13): check the card and its contacts")
            if state == "SIM PUK" or code == 12:
                self.report.sim = "puk"
                raise SimProblem("the SIM is PUK-locked: unlock it with the PUK by hand; bg-pppd "
                                 "never enters a PUK", permanent=True)
            if state == "SIM PIN" or code == 11:
                self.report.sim = "pin"
                self._enter_pin()
                entered = True
                continue
            if state:
                raise SimProblem(f"the SIM asks for {state}, which bg-pppd does not handle", permanent=True)
            raise SimProblem(f"cannot read the SIM state: {r.final}")

    def _enter_pin(self) -> None:
        pin = self.p.sim.pin
        if not pin:
            raise SimProblem("the SIM needs a PIN: set sim.pin or sim.pin_file in the profile",
                             permanent=True)
        iccid_r = self.cmd("AT+QCCID", "+QCCID:")
        iccid = (iccid_r.first("+QCCID:") or "").split(":", 1)[-1].strip() if iccid_r.ok else ""
        marker = self._pin_marker()
        if marker and marker.exists() and marker.read_text().strip() == self._pin_digest(iccid):
            raise SimProblem(f"this PIN was rejected before for this SIM; not entering it again "
                             f"(fix sim.pin; record in {marker})", permanent=True)
        tries = atparse.parse_qpinc(self.cmd('AT+QPINC="SC"', "+QPINC:").first("+QPINC:") or "")
        if tries and tries[0] <= 1:
            raise SimProblem(f"only {tries[0]} PIN try left: not risking a PUK lock; "
                             "enter the PIN by hand", permanent=True)
        r = self.cmd(f'AT+CPIN="{pin}"', timeout=max(self.p.recovery.at_timeout, 1.0))
        if r.ok:
            if marker and marker.exists():
                marker.unlink()
            return
        if r.cme == 16:
            if marker:
                from . import atomic

                marker.parent.mkdir(parents=True, exist_ok=True)
                atomic.write(marker, self._pin_digest(iccid) + "\n")
            left = atparse.parse_qpinc(self.cmd('AT+QPINC="SC"', "+QPINC:").first("+QPINC:") or "")
            extra = f", {left[0]} tries left" if left else ""
            raise SimProblem(f"the SIM rejected the PIN (incorrect password); not retried{extra}",
                             permanent=True)
        raise SimProblem(f"entering the PIN failed: {r.final}")

    def desired_radio(self) -> dict[str, str]:
        techs = list(self.p.network.technologies)
        if not techs:
            return {}
        lte = [t for t in techs if t != "egprs"]
        want: dict[str, str] = {}
        if lte:
            want["iotopmode"] = "2" if len(lte) == 2 else ("0" if lte == ["catm1"] else "1")
        want["nwscanseq"] = "".join(SCAN_CODES[t] for t in techs)
        if self.model.has_gsm:
            want["nwscanmode"] = "0" if "egprs" in techs and lte else ("1" if "egprs" in techs else "3")
        return want

    def step_radio(self) -> str:
        """Scan settings live in the module's flash: written only when they differ."""
        want = self.desired_radio()
        if not want:
            return "left as is"
        if "egprs" in self.p.network.technologies and not self.model.has_gsm:
            self.report.steps.append({"step": "radio", "status": f"{self.model.name} has no EGPRS"})
        changed = []
        for key, value in want.items():
            r = self.cmd(f'AT+QCFG="{key}"', "+QCFG:")
            if not r.ok:
                continue  # not every variant has every setting (nwscanmode)
            current = atparse.parse_qcfg(r.first("+QCFG:") or "", key)
            same = current is not None and (current.startswith(value) if key == "nwscanseq"
                                            else current == value)
            if same:
                continue
            if not self.cmd(f'AT+QCFG="{key}",{value},1').ok:
                raise NotResponding(f'the module refused AT+QCFG="{key}",{value}')
            changed.append(f"{key} {current}->{value}")
        return ", ".join(changed) or "already set"

    def step_context(self) -> str:
        net = self.p.network
        r = self.cmd("AT+CGDCONT?", "+CGDCONT:")
        for line in r.info:
            ctx = atparse.parse_cgdcont(line)
            if ctx and ctx[0] == 1 and ctx[1] == net.pdp_type and ctx[2] == net.apn:
                return f"{net.pdp_type} {net.apn!r} already set"
        w = self.cmd(f'AT+CGDCONT=1,"{net.pdp_type}","{net.apn}"')
        if not w.ok:
            raise NotResponding(f"the module refused the PDP context: {w.final}")
        return f"set {net.pdp_type} {net.apn!r}"

    def step_registration(self) -> str:
        net = self.p.network
        deadline = self.clock() + net.registration_timeout
        names = radio.registration_commands(self.p.network.technologies, self.model.has_gsm)
        polls = 0
        last: dict[str, atparse.Registration] = {}
        while True:
            polls += 1
            for name in names:
                r = self.cmd(f"AT{name}?", f"{name}:")
                reg = atparse.parse_reg(r.first(f"{name}:") or "", name) if r.ok else None
                if reg is None:
                    continue
                last[name] = reg
                if reg.registered:
                    self.report.registration = "roaming" if reg.stat == 5 else "home"
                    return f"{reg.text} via {name[1:]} after {polls} poll(s)"
            if any(reg.stat == 3 for reg in last.values()):
                self.report.registration = "denied"
                raise RegistrationDenied("the network denied registration (stat 3): check the SIM's "
                                         "subscription and the allowed technologies")
            if self.clock() >= deadline:
                states = ", ".join(f"{n[1:]} {r.text}" for n, r in last.items()) or "no answer"
                self.report.registration = "not registered"
                raise NotRegistered(f"not registered after {net.registration_timeout:g} s ({states})")
            self.sleep(min(net.poll_interval, max(0.0, deadline - self.clock())))

    def step_report(self) -> str:
        r = self.cmd("AT+CGSN")
        if r.ok and r.info:
            self.report.imei = r.info[0].split(":")[-1].strip()
        found = radio.read_radio(self.cmd)
        for name in radio.RADIO_KEYS:
            if name in found:
                setattr(self.report, name, found[name])
        return radio.summary(found)
