"""Getting a port back to command mode: the one procedure, for the pre-flight and after pppd.

A module left in data mode (a crash, a kill -9, pppd that did not hang up) does
not answer AT. Neither does one that is booting, and that is the usual case at
power-on: so ``AT`` goes out every 100 ms until ``OK`` whatever else is tried
(the vendor's rule), and ``RDY`` / ``APP RDY`` get the next ``AT`` at once. The
vendor's ways out of data mode are tried only when something says data mode is
possible (modem.data_mode_clues): a DTR drop where the port has the line (100 ms
low; with AT&D1 or AT&D2 the module leaves data mode), then the ``+++`` escape
with its guard times (1 s of silence either side: no AT inside them, AT right up
to the first and right after the second, the port read all along), then ``ATH``
ends the stale PPP session. The disconnect chat script (templates/disconnect.chat.j2)
is the same procedure in chat's words, minus the DTR drop (chat has no control lines).

The callers differ in how long they wait (``Timings``) and in what they know:
after pppd the port was in data mode a moment ago (``maybe_in_call``), so the
escapes come promptly; the pre-flight waits for a clue.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bg_pppd.modem import at_replies as atparse
from bg_pppd.modem.at_channel import GUARD, AtChannel, AtTimeout, PortGone
from bg_pppd.modem.control_lines import Lines, NoLines, for_port
from bg_pppd.modem.data_mode_clues import GARBLED_READS, LONG_SILENCE, PortClues, escape_reason
from bg_pppd.profile.model import Profile
from bg_pppd.util.cancel import Cancellable, Cancelled

log = logging.getLogger("bg_pppd")

DTR_LOW = 0.1        # seconds DTR is held low: the module reacts to a drop of 100 ms
DTR_SYNC = 0.5       # AT after the drop: a module back in command mode answers at once
ESCAPE_WAIT = 1.0    # an OK this soon after the +++ guard time is the escape's
BOOTED = ("RDY", "APP RDY")  # the module's boot URCs: it takes AT from now on
ESCAPE_COST = DTR_LOW + DTR_SYNC + 2 * GUARD  # seconds the escapes take when neither works


class WrongRate(AtTimeout):
    """Bytes that are neither text nor PPP, or silence even after the escapes: the port
    probably runs at another baud rate than the module (the pre-flight probes the others)."""


@dataclass(frozen=True)
class Timings:
    """How long each step may take.

    ``first_sync``: how long AT goes unanswered before the escapes may start, once
    something says data mode is possible (never for a booting module alone). After
    pppd the port was ours a moment ago and answers at once or not at all: 1 s, and
    the escapes follow at once (the caller says ``maybe_in_call``). The pre-flight
    uses 1 s too, with a clue (DCD, PPP bytes, a call of ours, LONG_SILENCE).
    ``final_sync``, ``total``: AT keeps going until ``total`` is over, and for at least
    ``final_sync`` after a failed escape; the pre-flight's whole step waits about
    at_timeout, after pppd about 1 s beyond the escapes. ``use_dtr``: the pre-flight
    always tries the DTR drop (the module's AT&D is not known yet: it is set in the
    step after); after pppd, only when the profile did not set AT&D0 (dtr: ignore),
    which would make the drop do nothing. ``ath_timeout``: how long ATH may take (the
    module answers when the PPP session is torn down).
    """

    first_sync: float
    final_sync: float
    total: float = 0.0
    use_dtr: bool = True
    ath_timeout: float = 5.0


@dataclass(frozen=True)
class Back:
    """How the port came back: ``how`` is '' when AT was answered without an escape (at
    once, or once the module had booted), else 'DTR drop', '+++ escape' or 'late answer'
    (answered only after escapes that did not work); ``took`` the seconds; ``booted`` the
    seconds from the start to the RDY seen on the port, None when none came."""

    how: str
    took: float
    booted: float | None = None

    @property
    def was_in_data_mode(self) -> bool:
        return self.how in ("DTR drop", "+++ escape")


class _Watched:
    """The channel's transport with every byte read shown to the clues on its way, and the
    time of the last write kept (the guard time before ``+++`` counts from it)."""

    def __init__(self, inner: Any, clues: PortClues, clock: Callable[[], float]):
        self._inner, self._clues, self._clock = inner, clues, clock
        self.last_write = clock()

    def read(self, size: int = 1) -> bytes:
        data = self._inner.read(size)
        self._clues.feed(data)
        return data

    def write(self, data: bytes) -> int | None:
        self.last_write = self._clock()
        return self._inner.write(data)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


def _set_dtr(lines: Lines, asserted: bool) -> None:
    try:
        lines.set_dtr(asserted)
    except OSError as exc:  # the port (or the emulator's lines) went away under us
        raise PortGone(f"the port went away: {exc}") from None


def _dcd(lines: Lines) -> bool | None:
    """DCD, None where the port cannot tell (a pty, no lines, the emulator's socket gone)."""
    try:
        return lines.dcd()
    except OSError:
        return None


class _Sync:
    """One run of the procedure: the clues, the RDY seen, the escapes tried."""

    def __init__(self, at: AtChannel, lines: Lines, timings: Timings, clues: PortClues,
                 maybe_in_call: bool, dcd_tells: bool, wrong_rate: bool):
        self.at, self.lines, self.t, self.clues = at, lines, timings, clues
        self.port: _Watched = at.t  # type: ignore[assignment]  # to_command_mode put it there
        self.maybe_in_call, self.dcd_tells, self.wrong_rate = maybe_in_call, dcd_tells, wrong_rate
        self.began = at.clock()
        self.urcs_before = len(at.urcs)
        self.booted: float | None = None
        self.tried = False
        self.escaped_at: float | None = None  # the end of the +++ guard time after the plusses
        # a silence this long is no boot; shorter where at_timeout leaves no room for the escapes after it
        self.long_silence = min(LONG_SILENCE, max(timings.first_sync,
                                                  timings.total - ESCAPE_COST - timings.final_sync))
        self.deadline = self.began + max(timings.total, timings.first_sync + timings.final_sync)
        self.silent_until: float | None = None  # with wrong_rate: silence after the escapes up to here

    def _rdy(self) -> bool:
        if self.booted is None and any(u in BOOTED for u in self.at.urcs[self.urcs_before:]):
            self.booted = self.at.clock() - self.began
        return self.booted is not None

    def tick(self) -> bool:
        """One AT, up to 100 ms for its OK (less when RDY comes): True on OK."""
        try:
            self.at.sync(0.0)
            return True
        except AtTimeout:
            self._rdy()
            return False

    def listen(self, seconds: float, finals: tuple[str, ...] | None = None) -> str:
        """Read, sending nothing, for ``seconds``: 'ok' on a final result (of ``finals``, any
        if None), 'booted' on RDY, '' when neither came."""
        end = self.at.clock() + seconds
        while self.at.clock() < end:
            got = self.at.poll(0)  # one read: returns as soon as bytes come, else after 50 ms
            if any(atparse.is_final(line) and (finals is None or line in finals) for line in got):
                return "ok"
            if self._rdy():
                return "booted"
        return ""

    def escape(self) -> str:
        """DTR drop, then +++: 'DTR drop' or '+++ escape' when it worked, 'booted' or 'answered'
        when the module turned out to be elsewhere, '' when neither worked."""
        at = self.at
        if self.t.use_dtr and _dcd(self.lines) is not None:  # a port without lines cannot drop DTR
            _set_dtr(self.lines, False)
            heard = self.listen(DTR_LOW)
            _set_dtr(self.lines, True)
            if heard:
                return "DTR drop" if heard == "ok" else heard
            end = at.clock() + DTR_SYNC
            while at.clock() < end:
                if self.tick():
                    return "booted" if self.booted is not None else "DTR drop"
                if self.booted is not None:
                    return "booted"
        # the silence before the plusses, from the last AT: AT right up to the guard time
        heard = self.listen(GUARD - (at.clock() - self.port.last_write))
        if heard:
            return "answered" if heard == "ok" else heard
        at.write(b"+++")
        heard = self.listen(GUARD, ("OK",))  # the silence after: the module says OK at its end
        self.escaped_at = at.clock()
        if heard:
            return "+++ escape" if heard == "ok" else heard
        at.write(b"\r")  # ends whatever half-line a confused module holds
        return ""

    def run(self) -> Back:
        at, t = self.at, self.t
        while True:
            if self.tick():
                return self._answered()
            now = at.clock()
            if (self.wrong_rate and not self.maybe_in_call and not self.clues.ppp
                    and self.clues.garbled_reads >= GARBLED_READS):
                raise WrongRate(f"{self.clues.garbled_reads} reads of bytes that are neither text nor PPP")
            if not self.tried and self.booted is None:
                dcd = _dcd(self.lines) if self.dcd_tells else None
                why = escape_reason(now - self.began, t.first_sync, self.long_silence, self.maybe_in_call,
                                    dcd, self.clues.ppp)
                if why:
                    self.tried = True
                    log.debug("no OK to AT for %.1f s and %s: trying the data-mode escapes", now - self.began, why)
                    how = self.escape()
                    if how in ("DTR drop", "+++ escape"):
                        at.sync(max(t.final_sync, self.deadline - at.clock()))
                        at.command("ATH", timeout=t.ath_timeout)  # end the stale PPP session
                        return Back(how, at.clock() - self.began, self.booted)
                    self.deadline = max(self.deadline, at.clock() + t.final_sync)
                    if not how:
                        self.silent_until = at.clock() + t.final_sync
                    continue  # AT again at once: right after the guard time, or after the RDY
            if self.wrong_rate and self.silent_until is not None and now >= self.silent_until:
                raise WrongRate("no answer, not even after the data-mode escapes")
            if now > self.deadline:
                raise AtTimeout(f"no OK to AT within {now - self.began:.1f} s")

    def _answered(self) -> Back:
        at, took = self.at, self.at.clock() - self.began
        if self.escaped_at is not None and self.booted is None and at.clock() - self.escaped_at <= ESCAPE_WAIT:
            at.command("ATH", timeout=self.t.ath_timeout)  # the escape's OK came just after its guard time
            return Back("+++ escape", at.clock() - self.began)
        late = self.tried and self.booted is None
        return Back("late answer" if late else "", took, self.booted)


def to_command_mode(at: AtChannel, lines: Lines, timings: Timings, maybe_in_call: bool = False,
                    dcd_tells: bool = True, wrong_rate: bool = False) -> Back:
    """AT every 100 ms until OK; the escapes (DTR drop, +++, then ATH) on a clue of data mode.

    ``maybe_in_call``: the port may hold a call of ours (after pppd, or a run that did not
    hang up): the escapes start after ``first_sync``. ``dcd_tells``: DCD on means a call
    (the module's AT&C1; the profile's ``dcd: always`` may have saved AT&C0). ``wrong_rate``:
    raise WrongRate on garbled reads, or on silence after failed escapes, for the caller to
    probe other baud rates. AtTimeout when it never answers, after ``total`` (and at least
    ``final_sync`` after the escapes).

    ``at``'s clock decides how a stop cuts it short: a Cancellable's raises Cancelled
    (util.cancel) at the next read; nothing here sleeps, every wait reads the port.
    """
    clues = PortClues()
    inner = at.t
    at.t = _Watched(inner, clues, at.clock)  # the raw bytes, for the PPP and wrong-rate clues
    try:
        return _Sync(at, lines, timings, clues, maybe_in_call, dcd_tells, wrong_rate).run()
    finally:
        at.t = inner


AFTER_PPPD = Timings(first_sync=1.0, final_sync=1.0)
AFTER_PPPD_BUDGET = 15.0  # seconds: first sync, DTR, +++ with its guard times, ATH; a stop cuts it shorter


def restore_after_pppd(profile: Profile, cancel: threading.Event | None = None,
                       budget: float = AFTER_PPPD_BUDGET, opener: Callable | None = None,
                       clock: Callable[[], float] = time.monotonic,
                       wait: Callable[[float], bool] | None = None) -> str:
    """After pppd, the PPP port must take AT commands again. Never raises for the port's
    trouble (a vanished port: the next pre-flight waits for it); returns what happened.

    ``cancel`` (set: a stop) and ``budget`` (seconds) cut it short at the next read or wait;
    ``opener``, ``clock`` and ``wait`` (a sleep that returns True when cancelled) are the I/O.
    """
    from bg_pppd.modem.serial_port import open_port

    m = profile.modem
    port = m.ppp_port
    bounded = Cancellable(cancel, clock() + budget, clock, wait)
    try:
        ser = (opener or open_port)(profile, port, exclusive=False)
    except (OSError, ValueError):
        return "port gone"
    try:
        at = AtChannel(ser, timeout=2, clock=bounded.clock)
        lines = for_port(port, ser, m.line_backend) if m.dtr != "ignore" else NoLines()
        # pppd had the port in data mode a moment ago: the escapes after first_sync, no clue needed
        back = to_command_mode(at, lines, dataclasses.replace(AFTER_PPPD, use_dtr=m.dtr != "ignore"),
                               maybe_in_call=True)
        if back.was_in_data_mode:
            log.info("%s: %s back in command mode (%s, ATH)", profile.name, port,
                     "+++" if back.how == "+++ escape" else back.how)
        return back.how or "answered"
    except Cancelled:
        return "cut short"
    except (PortGone, AtTimeout, OSError):
        return "no answer"
    finally:
        with contextlib.suppress(OSError):  # a vanished port: keep the first error
            ser.close()
