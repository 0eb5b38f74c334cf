"""The pre-flight's SIM step: ready, or a PIN entered once per SIM and PIN, ever; never a PUK.

A PIN rejected twice locks the SIM for good on a device nobody visits: the attempt is
recorded durably before it is sent (STATE_DIR/NAME.rejected-pin), and a recorded attempt
is never repeated.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

from bg_pppd.modem import at_replies as atparse
from bg_pppd.modem.at_channel import AtTimeout, PortGone
from bg_pppd.util.errors import SimProblem

log = logging.getLogger("bg_pppd")

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


class SimSteps:
    """Preflight's SIM step (a mixin: it uses the pre-flight's profile, channel and report)."""

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
