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
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn

from bg_pppd.modem import at_replies as atparse
from bg_pppd.modem import diagnostics, radio, radio_settings
from bg_pppd.modem import module_quirks as models
from bg_pppd.modem.at_channel import AtChannel, AtTimeout, PortGone
from bg_pppd.modem.command_mode import Timings, WrongRate, to_command_mode
from bg_pppd.modem.control_lines import Lines, for_port
from bg_pppd.modem.registration_plan import CFUN, COPS, GIVE_UP, WAIT, Done, RegistrationPlan
from bg_pppd.modem.serial_port import PortInUse, open_port
from bg_pppd.profile.model import Profile
from bg_pppd.util.errors import BgPppdError, NotRegistered, NotResponding, RegistrationDenied, SimProblem

log = logging.getLogger("bg_pppd")

SCAN_CODES = {"catm1": "02", "nbiot": "03", "egprs": "01"}
REBOOT_URCS = ("RDY", "POWERED DOWN")
MAX_RESTARTS = 3
ICCID_RE = re.compile(r"[0-9]{18,20}[Ff]?")  # ITU-T E.118, as +QCCID gives it (a trailing F pads)
PIN_RECORD_MAX = 4096  # a record is one line; anything longer is not one


def read_pin_record(path: Path) -> tuple[str | None, str | None]:
    """The digest a PIN record holds: (digest, None); (None, None) when there is no record;
    (None, why) when it cannot be read, is not ours or is damaged: the caller takes that as
    a rejection. Never follows a symlink, never blocks on a FIFO, never reads more than a record.
    """
    from bg_pppd.util import safe_files as atomic

    try:
        data = atomic.read_regular(path, PIN_RECORD_MAX, follow=False, ours=True)
    except (FileNotFoundError, NotADirectoryError):
        return None, None
    except OSError as exc:
        return None, f"cannot read it: {exc.strerror or exc}"
    try:
        words = data.decode("ascii").split()
    except UnicodeDecodeError:
        return None, "it is damaged: not text"
    if not words or not re.fullmatch(r"[0-9a-f]{64}", words[0]):
        return None, "it is damaged: not a PIN record"
    return words[0], None


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


class Preflight:
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
                if os.path.exists(port) and self.clock() < deadline and "busy" not in str(exc).lower():
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

    def _pin_record(self) -> Path | None:
        """Where a PIN attempt is recorded (a digest of ICCID and PIN) from before it is sent
        until the SIM says OK: whatever else happens, that PIN is never entered again."""
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
                    raise SimProblem(f"the SIM stayed busy for {max(self.p.recovery.boot_timeout, 1.0):g} s")
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
        """One attempt per SIM and PIN, ever, unless the SIM says OK.

        The attempt is recorded durably before ``AT+CPIN=`` is sent and cleared only
        on OK: a rejection, another error, no answer, a vanished port or a kill in
        between all leave it, and the next run takes it as a rejected PIN. No record
        can be written (no state dir, read-only, full): the PIN is not sent at all.
        """
        pin = self.p.sim.pin
        if not pin:
            raise SimProblem("the SIM needs a PIN: set sim.pin or sim.pin_file in the profile",
                             permanent=True)
        iccid_r = self.cmd("AT+QCCID", "+QCCID:")
        iccid = (iccid_r.first("+QCCID:") or "").split(":", 1)[-1].strip() if iccid_r.ok else ""
        if not ICCID_RE.fullmatch(iccid):
            # the record names the SIM: without its ICCID a rejected PIN would not be recognised
            # on the next run and could be entered again; try again at the next attempt
            raise SimProblem(f"not entering the PIN now: the SIM's ICCID cannot be read "
                             f"(AT+QCCID: {iccid_r.final if not iccid_r.ok else repr(iccid)})")
        record = self._pin_record()
        if record is None:
            raise SimProblem("not entering the PIN: no state dir to record the attempt in (an attempt "
                             "whose outcome is not recorded could be repeated)", permanent=True)
        recover = f"to recover: check the SIM by hand (AT+CPIN?), fix sim.pin, remove {record}"
        digest = self._pin_digest(iccid)
        recorded, damaged = read_pin_record(record)
        if damaged:
            raise SimProblem(f"the PIN record {record} cannot be trusted ({damaged}): counted as a PIN "
                             f"rejected before, not entered; {recover}", permanent=True)
        if recorded == digest:
            raise SimProblem(f"this PIN was rejected before for this SIM (or got no answer): not entered "
                             f"again; {recover}", permanent=True)
        tries = atparse.parse_qpinc(self.cmd('AT+QPINC="SC"', "+QPINC:").first("+QPINC:") or "")
        if tries and tries[0] <= 1:
            raise SimProblem(f"only {tries[0]} PIN try left: not risking a PUK lock; "
                             "enter the PIN by hand", permanent=True)
        self._record_attempt(record, f"{digest} in-flight\n")
        try:
            r = self.cmd(f'AT+CPIN="{pin}"', timeout=max(self.p.recovery.at_timeout, 1.0))
        except (AtTimeout, PortGone) as exc:
            raise SimProblem(f"no answer to the PIN ({exc}): counted as rejected, not entered again; "
                             f"{recover}", permanent=True) from None
        if r.ok:
            self._clear_record(record)
            return
        if r.cme == 16:
            try:  # the in-flight record already says as much; this only makes it plain
                self._record_attempt(record, f"{digest} rejected\n")
            except SimProblem:
                pass
            left = atparse.parse_qpinc(self.cmd('AT+QPINC="SC"', "+QPINC:").first("+QPINC:") or "")
            extra = f", {left[0]} tries left" if left else ""
            raise SimProblem(f"the SIM rejected the PIN (incorrect password); not retried{extra}; "
                             f"{recover}", permanent=True)
        raise SimProblem(f"entering the PIN failed ({r.final}): counted as rejected, not entered again; "
                         f"{recover}", permanent=True)

    def _record_attempt(self, record: Path, text: str) -> None:
        from bg_pppd.util import safe_files as atomic

        try:
            record.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            atomic.write(record, text)  # fsync'd, then renamed into place
        except OSError as exc:
            raise SimProblem(f"not entering the PIN: cannot record the attempt in {record} "
                             f"({exc.strerror or exc}); an attempt whose outcome is not recorded could "
                             "be repeated and lock the SIM: make the state dir writable", permanent=True) from None

    def _clear_record(self, record: Path) -> None:
        try:
            record.unlink()
        except FileNotFoundError:
            pass
        except OSError as exc:
            log.warning("%s: the SIM took the PIN, but %s cannot be removed (%s): remove it by hand, or "
                        "the next PIN entry is refused", self.p.name, record, exc.strerror or exc)

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

    # the settings AT+QCFG=? listed (lower case); None: not asked yet, or the module lists none
    _qcfg_listed: set[str] | None = None
    _qcfg_asked = False

    def _qcfg_has(self, key: str) -> bool:
        """Whether this firmware has ``AT+QCFG="<key>"``: what ``AT+QCFG=?`` lists (asked once per
        module), or where it answers no list, the quirks table's word for nwscanmode."""
        if not self._qcfg_asked:
            self._qcfg_asked = True
            r = self.cmd("AT+QCFG=?", "+QCFG:")
            self._qcfg_listed = atparse.parse_qcfg_list(r.info) if r.ok else None
        if self._qcfg_listed:
            return key.lower() in self._qcfg_listed
        return self.model.has_nwscanmode if key == "nwscanmode" else True

    def apply_radio(self) -> str:
        """Scan settings, bands and PSM/eDRX, each written only when the module reports otherwise
        (they live in its flash); a setting this firmware lacks is skipped with a note. Called by
        the radio step, and again after ``AT+COPS=0``, which resets nwscanmode on some firmware.
        """
        done: list[str] = []
        notes: list[str] = []
        checked = False
        if "egprs" in self.p.network.technologies and not self.model.has_gsm:
            notes.append(f"{self.model.name} has no EGPRS")
        for key, value in self.desired_radio().items():
            if not self._qcfg_has(key):
                notes.append(f"no {key} on this firmware: not set")
                continue
            r = self.cmd(f'AT+QCFG="{key}"', "+QCFG:")
            current = atparse.parse_qcfg(r.first("+QCFG:") or "", key) if r.ok else None
            if current is None:
                notes.append(f"{key} not readable ({r.final if not r.ok else 'no value'}): not set")
                continue
            checked = True
            if current.startswith(value) if key == "nwscanseq" else current == value:
                continue
            if not self.cmd(f'AT+QCFG="{key}",{value},1').ok:
                raise NotResponding(f'the module refused AT+QCFG="{key}",{value}')
            done.append(f"{key} {current}->{value}")
        if self.p.network.bands:
            checked = self._apply_bands(done, notes) or checked
        if self.p.network.psm == "off":
            checked = self._psm_off(done, notes) or checked
        for note in notes:
            log.info("%s: radio: %s", self.p.name, note)
        text = ", ".join(done) or ("already set" if checked else "left as is")
        return "; ".join([text, *notes])

    def _apply_bands(self, done: list[str], notes: list[str]) -> bool:
        """network.bands through AT+QCFG="band" (masks: LTE band n = bit n-1; GSM 900/1800/850/1900
        = 1/2/4/8); technologies the profile leaves out keep the module's masks."""
        if not self._qcfg_has("band"):
            notes.append("no band setting on this firmware: bands not set")
            return False
        r = self.cmd('AT+QCFG="band"', "+QCFG:")
        current = atparse.parse_qcfg_band(r.first("+QCFG:") or "") if r.ok else None
        if current is None:
            notes.append(f"bands not readable ({r.final if not r.ok else r.first('+QCFG:')}): not set")
            return False
        write = radio_settings.band_write(current, self.p.network.bands)
        if write is None:
            return True
        command, changes = write
        w = self.cmd(command)
        if not w.ok:
            notes.append(f"the module refused {command} ({w.final}): check network.bands against "
                         f"the bands the {self.model.name or 'module'} has; bands left as they were")
            log.warning("%s: %s", self.p.name, notes[-1])
            return True
        done.extend(changes)
        return True

    def _psm_off(self, done: list[str], notes: list[str]) -> bool:
        """network.psm off: PSM and eDRX switched off (an always-on link does not sleep), each only
        when the module reports it on."""
        checked = False
        r = self.cmd("AT+CPSMS?", "+CPSMS:")
        on = radio_settings.psm_on(r.info) if r.ok else None
        if on is None:
            notes.append(f"no PSM setting (AT+CPSMS?: {r.final if not r.ok else 'no mode'})")
        else:
            checked = True
            if on:
                w = self.cmd("AT+CPSMS=0")
                if w.ok:
                    done.append("PSM on->off")
                else:
                    notes.append(f"the module refused AT+CPSMS=0 ({w.final}): PSM stays on")
                    log.warning("%s: %s", self.p.name, notes[-1])
        r = self.cmd("AT+CEDRXS?", "+CEDRXS:")
        if not r.ok:
            notes.append(f"no eDRX setting (AT+CEDRXS?: {r.final})")
            return checked
        acts = radio_settings.edrx_on(r.info)
        if acts:
            w = self.cmd("AT+CEDRXS=0")
            if w.ok:
                done.append(f"eDRX on (AcT {','.join(map(str, acts))})->off")
            else:
                notes.append(f"the module refused AT+CEDRXS=0 ({w.final}): eDRX stays on")
                log.warning("%s: %s", self.p.name, notes[-1])
        return True

    def step_radio(self) -> str:
        """Scan settings, bands and PSM/eDRX live in the module's flash: written only when they differ."""
        return self.apply_radio()

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

    def step_registration(self) -> str:
        """Registered the moment the module says so, in any domain (a BG600L on EGPRS answers
        ``+CGREG: 0,1`` while ``+CEREG: 0,4``).

        One poll first (a module that is registered already costs nothing more); then the
        registration URCs (``AT+CEREG=2``, ``AT+CGREG=2`` where EGPRS is allowed) end the wait
        the moment one says home or roaming, and a poll every ``poll_interval`` stays the
        fallback. A registration that does not come gets ``AT+COPS=0``, then the radio off/on,
        as ``registration_plan`` schedules them, before the attempt fails.

        The URC mode is left at 2, not restored: it only makes the module report (held back in
        data mode like every URC, read as URCs by the channel and by the radio monitor on an AT
        port), and turning it off again would be one more command between registered and ATD.
        """
        net = self.p.network
        at = self.at
        assert at is not None
        names = radio.registration_commands(self.p.network.technologies, self.model.has_gsm)
        plan = RegistrationPlan(net.reselect_wait, net.registration_timeout)
        began = self.clock()
        last: dict[str, atparse.Registration] = {}
        done: list[Done] = []
        polls, seen = 0, len(at.urcs)
        next_poll, urcs_on = began, False
        prefixes = tuple(f"{name}:" for name in names)

        def registration_urc(line: str) -> bool:
            return line.startswith(prefixes)

        while True:
            if self.clock() >= next_poll:
                polls += 1
                found = self._poll_registration(names, last)
                if found:
                    return self._registered(found, last[found], f"after {polls} poll(s)", done)
                next_poll = self.clock() + net.poll_interval
                if not urcs_on:
                    urcs_on = True
                    for name in names:
                        self.cmd(f"AT{name}=2")  # refused: the polls still see it
                    next_poll = self.clock()  # a change before the URCs were on: seen by a poll now
                    continue
            if len(at.urcs) < seen:
                seen = 0  # the queue was taken meanwhile
            found, seen = self._registration_urcs(names, last, at.urcs[seen:]), len(at.urcs)
            if found:
                return self._registered(found, last[found], f"from its URC after {polls} poll(s)", done)
            elapsed = self.clock() - began
            states = ", ".join(f"{n[1:]} {r.word}" for n, r in last.items()) or "no answer"
            step = plan.next(elapsed, states, done)
            if step.action == GIVE_UP:
                self._not_registered(last, done, elapsed)
            if step.action != WAIT:
                done.append(Done(step.action, elapsed, step.why))
                self._intervene(done[-1])
                next_poll = self.clock()  # where the module stands after it
                continue
            at.wait_urc(registration_urc, max(0.0, min(next_poll, began + step.at) - self.clock()))

    def _poll_registration(self, names: list[str], last: dict[str, atparse.Registration]) -> str | None:
        """Ask each domain; the first that says registered, else None (``last`` keeps each answer)."""
        for name in names:
            r = self.cmd(f"AT{name}?", f"{name}:")
            reg = atparse.parse_reg(r.first(f"{name}:") or "", name) if r.ok else None
            if reg is not None:
                last[name] = reg
                if reg.registered:
                    return name
        return None

    def _registration_urcs(self, names: list[str], last: dict[str, atparse.Registration],
                           urcs: list[str]) -> str | None:
        """The registration URCs among ``urcs`` (``+CEREG: <stat>[,<tac>,<ci>,<AcT>]``), in order:
        the domain of the first that says registered, else None."""
        for line in urcs:
            for name in names:
                reg = atparse.parse_reg(line, name) if line.startswith(f"{name}:") else None
                if reg is not None:
                    last[name] = reg
                    if reg.registered:
                        return name
        return None

    def _registered(self, name: str, reg: atparse.Registration, how: str, done: list[Done]) -> str:
        self.report.registration = reg.word
        after = f", after {' and '.join(d.action for d in done)}" if done else ""
        return f"{reg.text} via {name[1:]} {how}{after}"

    def _intervene(self, what: Done) -> None:
        """One intervention short of a reset, logged and kept in the report (status shows it)."""
        net = self.p.network
        self.report.interventions.append(what.record())
        if what.action == COPS:
            log.info("%s: registration %s: AT+COPS=0 (automatic network selection), then the scan "
                     "settings again", self.p.name, what.why)
            # the module may answer only once the network has: give it the time until the next stage
            wait = min(180.0, max(self.p.recovery.at_timeout, net.registration_timeout - what.after))
            try:
                r = self.cmd("AT+COPS=0", timeout=wait)
                if not r.ok:
                    log.warning("%s: AT+COPS=0 answered %s: going on", self.p.name, r.final)
            except AtTimeout as exc:  # the channel resynchronises at the next command
                log.warning("%s: %s: going on", self.p.name, exc)
            self.step_radio()  # AT+COPS=0 resets nwscanmode on some firmware
            return
        log.info("%s: registration %s: radio off and on (AT+CFUN=0, AT+CFUN=1), not a reset",
                 self.p.name, what.why)
        off = self.cmd("AT+CFUN=0")  # the channel's at_timeout: ~0.3 s is usual, 15 s allowed
        if not off.ok:
            log.warning("%s: AT+CFUN=0 answered %s: going on", self.p.name, off.final)
            return
        on = self.cmd("AT+CFUN=1")
        if not on.ok:
            self.report.registration = atparse.NOT_REGISTERED
            raise NotRegistered(f"the module refused AT+CFUN=1 ({on.final}) after AT+CFUN=0: its radio "
                                "may be off until a reset")
        # AT+CFUN=0 powers the SIM down too: a SIM with its PIN enabled asks for it again, and the
        # search waits for it (the same PIN the SIM took minutes ago: step_sim's rules still hold)
        self.step_sim()

    def _not_registered(self, last: dict[str, atparse.Registration], done: list[Done], elapsed: float) -> NoReturn:
        """The attempt fails: a denial stays a denial, and the message says what was tried."""
        names = {COPS: "AT+COPS=0", CFUN: "the radio off/on"}
        tried = " and ".join(f"{names.get(d.action, d.action)} at {round(d.after, 1):g} s" for d in done)
        if any(reg.denied for reg in last.values()):
            self.report.registration = atparse.DENIED
            raise RegistrationDenied(f"the network denied registration (stat 3), also after {tried}: "
                                     "check the SIM's subscription and the allowed technologies")
        states = ", ".join(f"{n[1:]} {r.text}" for n, r in last.items()) or "no answer"
        self.report.registration = atparse.NOT_REGISTERED
        raise NotRegistered(f"not registered after {elapsed:.0f} s ({states}; {tried} did not help)")

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
