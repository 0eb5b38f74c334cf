"""When to step in while the module does not register: pure policy over the time into the wait.

The schedule (issue 17, field notes: "intervene before power-cycling"): still searching or
denied at ``reselect_after`` -> ``AT+COPS=0`` (automatic reselection; the caller then writes
the scan settings again, which some firmware resets); still not registered at
``registration_timeout`` -> the radio off and on (``AT+CFUN=0``, ``AT+CFUN=1``) and one more
``registration_timeout`` from then; only after that does the attempt fail and the vendor's
reset ladder take over. None of these is a power cycle, and each is done at most once.

No clock and no port here: the caller says how long it has waited, what the module says now
and what was done, and gets the next action and the moment it is due.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

COPS = "cops=0"       # AT+COPS=0, then the scan settings again
CFUN = "cfun 0/1"     # AT+CFUN=0, AT+CFUN=1
GIVE_UP = "give up"   # the attempt fails: NotRegistered / RegistrationDenied
WAIT = "wait"         # nothing to do before ``at``


@dataclass(frozen=True)
class Done:
    """An intervention made: what, how many seconds into the registration wait, and why."""

    action: str
    after: float
    why: str

    def record(self) -> dict[str, object]:
        """The form ``report.interventions`` (and so ``status``) holds."""
        return {"action": self.action, "after": round(self.after, 3), "why": self.why}


@dataclass(frozen=True)
class Next:
    """The plan's answer: ``action`` is due at ``at`` seconds into the wait (WAIT: look again then)."""

    action: str
    at: float
    why: str = ""


class RegistrationPlan:
    """The intervention schedule for one registration wait (one pre-flight attempt)."""

    def __init__(self, reselect_after: float, timeout: float):
        if not 0 < reselect_after < timeout:
            raise ValueError("reselect_after must be above 0 and less than the registration timeout")
        self.reselect_after, self.timeout = reselect_after, timeout

    def next(self, elapsed: float, state: str, done: Sequence[Done]) -> Next:
        """What to do now that ``elapsed`` seconds have passed and the module says ``state``
        (a word of the registration vocabulary: searching, denied, not registered, unknown,
        or "no answer"); the caller stops asking once it is registered."""
        actions = [d.action for d in done]
        if CFUN in actions:
            end = done[actions.index(CFUN)].after + self.timeout
            if elapsed >= end:
                return Next(GIVE_UP, elapsed, f"still {state} {self.timeout:g} s after the radio off/on")
            return Next(WAIT, end)
        if elapsed >= self.timeout:
            return Next(CFUN, elapsed, f"still {state} after {self.timeout:g} s")
        if COPS not in actions:
            if elapsed >= self.reselect_after:
                return Next(COPS, elapsed, f"still {state} after {self.reselect_after:g} s")
            return Next(WAIT, self.reselect_after)
        return Next(WAIT, self.timeout)

