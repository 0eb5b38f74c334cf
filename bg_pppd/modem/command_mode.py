"""Getting a port back to command mode: the one procedure, for the pre-flight and after pppd.

A module left in data mode (a crash, a kill -9, pppd that did not hang up) does
not answer AT. The vendor's ways back, fastest first: AT at once (it already
answers, e.g. after NO CARRIER); a DTR drop where the port has the line (100 ms
low; with AT&D1 or AT&D2 the module leaves data mode); the ``+++`` escape with
its guard times (1 s of silence either side); then ``ATH`` ends the stale PPP
session. The disconnect chat script (templates/disconnect.chat.j2) is the same
procedure in chat's words, minus the DTR drop (chat has no control lines).

The callers differ only in how long they wait, in ``Timings`` (see there why).
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from bg_pppd.modem.at_channel import AtChannel, AtTimeout, PortGone
from bg_pppd.modem.control_lines import Lines, NoLines, for_port
from bg_pppd.profile.model import Profile
from bg_pppd.util.cancel import Cancellable, Cancelled

log = logging.getLogger("bg_pppd")

DTR_LOW = 0.1        # seconds DTR is held low: the module reacts to a drop of 100 ms
AFTER_DTR = 0.3      # what the module says after the drop (OK, NO CARRIER) arrives within this
DTR_SYNC = 0.5       # AT after the drop: a module back in command mode answers at once
ESCAPE_WAIT = 1.0    # OK after the +++ (after the second guard time)


@dataclass(frozen=True)
class Timings:
    """How long each step may take.

    ``first_sync``: how long AT may go unanswered before the port counts as in data
    mode. The pre-flight waits up to 2 s (a module just booted, or one at
    at_timeout < 2 s); after pppd, the port was ours a moment ago and answers at once
    or not at all: 1 s. ``final_sync``, ``total``: the last AT after the escape gets
    what is left of ``total`` and at least ``final_sync``; the pre-flight's whole step
    waits about at_timeout (at least 1 s for the last AT), after pppd 1 s.
    ``use_dtr``: the pre-flight always tries the DTR drop (the module's AT&D is not
    known yet: it is set in the step after); after pppd, only when the profile did not
    set AT&D0 (dtr: ignore), which would make the drop do nothing. ``ath_timeout``:
    how long ATH may take (the module answers when the PPP session is torn down).
    """

    first_sync: float
    final_sync: float
    total: float = 0.0
    use_dtr: bool = True
    ath_timeout: float = 5.0


@dataclass(frozen=True)
class Back:
    """How the port came back: ``how`` is '' when AT was answered at once, else 'DTR drop',
    '+++ escape' or 'late answer' (it answered only the last AT); ``took`` the seconds."""

    how: str
    took: float

    @property
    def was_in_data_mode(self) -> bool:
        return self.how in ("DTR drop", "+++ escape")


def dtr_pulse(lines: Lines, sleep: Callable[[float], None]) -> bool:
    """DTR low for DTR_LOW; False when the port has no control lines."""
    try:
        if lines.dcd() is None:
            return False
        lines.set_dtr(False)
        sleep(DTR_LOW)
        lines.set_dtr(True)
    except OSError as exc:  # the port (or the emulator's lines) went away under us
        raise PortGone(f"the port went away: {exc}") from None
    return True


def to_command_mode(at: AtChannel, lines: Lines, timings: Timings,
                    sleep: Callable[[float], None] = time.sleep) -> Back:
    """AT, else DTR drop, else +++, then ATH when it was in data mode; AtTimeout (of the last AT)
    when it never answers.

    ``at``'s clock and ``sleep`` decide how a stop cuts it short: a Cancellable's raise
    Cancelled (util.cancel), at the next read or wait.
    """
    began = at.clock()
    try:
        return Back("", at.sync(timings.first_sync))
    except AtTimeout:
        pass
    how = ""
    if timings.use_dtr and dtr_pulse(lines, sleep):
        at.poll(AFTER_DTR)
        try:
            at.sync(DTR_SYNC)
            how = "DTR drop"
        except AtTimeout:
            pass
    if not how:
        if at.escape(timeout=ESCAPE_WAIT, sleep=sleep):
            how = "+++ escape"
        else:
            at.write(b"\r")  # ends whatever half-line a confused module holds
        # the last AT gets what is left of ``total``, and at least final_sync
        at.sync(max(timings.final_sync, timings.total - (at.clock() - began)))
        how = how or "late answer"
    if how != "late answer":
        at.command("ATH", timeout=timings.ath_timeout)  # end the stale PPP session
    return Back(how, at.clock() - began)


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
        back = to_command_mode(at, lines, dataclasses.replace(AFTER_PPPD, use_dtr=m.dtr != "ignore"),
                               bounded.sleep)
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
