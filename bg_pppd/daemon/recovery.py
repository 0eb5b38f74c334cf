"""The vendor's recovery ladder as pure logic over plain data and a given time.

After ``dial_attempts`` consecutive failed attempts the module is reset; the
first reset is immediate, each later one waits ``reset_waits`` (10 min,
30 min, 1 h; the last repeats) since the previous reset. While a reset is
not yet allowed, dialling goes on with growing pauses. A link that stays up
``stable_after`` clears it all. No I/O here: the supervisor persists the
state and does what the decision says.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any


@dataclass
class Ladder:
    """What must survive restarts: plain numbers, times on the caller's clock."""

    failures: int = 0              # consecutive failed attempts since the last reset or stable link
    resets: int = 0                # resets since the ladder was last cleared
    last_reset: float | None = None
    last_error: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Ladder:
        """A ladder from a saved file, which may be damaged: ValueError unless every field makes sense."""
        if not isinstance(data, dict):
            raise ValueError("not a mapping")
        failures = data.get("failures", 0)
        resets = data.get("resets", 0)
        last = data.get("last_reset")
        error = data.get("last_error", "")
        for count in (failures, resets):  # bool is an int to Python, never a count here
            if type(count) is not int or not 0 <= count < 2**31:
                raise ValueError("bad counts")
        if last is not None and (type(last) not in (int, float) or not math.isfinite(last)):
            raise ValueError("bad time")
        if not isinstance(error, str):
            raise ValueError("bad error text")
        return cls(failures, resets, None if last is None else float(last), error[:1000])


@dataclass(frozen=True)
class Decision:
    action: str        # "dial" or "reset"
    at: float          # when, on the same clock
    reason: str


@dataclass(frozen=True)
class Policy:
    dial_attempts: int = 3
    retry_wait: float = 10.0
    reset_waits: tuple[float, ...] = (600.0, 1800.0, 3600.0)
    stable_after: float = 60.0
    max_retry_pause: float = 600.0  # growing pauses stop growing here
    min_pause: float = 0.5          # whatever the profile says (its floor too): never a hot loop

    def reset_allowed_at(self, ladder: Ladder) -> float | None:
        """Earliest time for the next reset; None when the next reset is the first (immediate)."""
        if ladder.resets == 0 or ladder.last_reset is None:
            return None
        wait = self.reset_waits[min(ladder.resets - 1, len(self.reset_waits) - 1)] if self.reset_waits else 0.0
        return ladder.last_reset + self._at_least(wait)

    def pause(self, beyond: int) -> float:
        """The pause after the ``beyond``-th attempt past dial_attempts: doubling, capped, floored.

        The exponent is capped first: the failure count persists across restarts and can be
        huge, and ``float * 2 ** 1100`` overflows.
        """
        grown = self._at_least(self.retry_wait) * (2 ** min(max(beyond, 0), 32))
        return self._at_least(min(grown, self.max_retry_pause))

    def _at_least(self, seconds: float) -> float:
        return seconds if seconds >= self.min_pause else self.min_pause  # NaN too

    @property
    def stable_wait(self) -> float:
        """How long a link must stay up to count as stable (never 0: a flapping link must count)."""
        return self._at_least(self.stable_after)

    def failed(self, ladder: Ladder, now: float, error: str = "") -> Decision:
        """An attempt failed (pre-flight, dial, negotiation, or a link that dropped too soon)."""
        ladder.failures += 1
        ladder.last_error = error
        if ladder.failures < self.dial_attempts:
            return Decision("dial", now + self._at_least(self.retry_wait),
                            f"attempt {ladder.failures} of {self.dial_attempts} failed")
        allowed = self.reset_allowed_at(ladder)
        if allowed is None or now >= allowed:
            which = "first reset, immediate" if allowed is None else f"reset {ladder.resets + 1}"
            return Decision("reset", now, f"{ladder.failures} consecutive failures: {which}")
        beyond = ladder.failures - self.dial_attempts  # 0, 1, 2, ... while the reset must wait
        at = min(now + self.pause(beyond), allowed)
        return Decision("dial", at, f"{ladder.failures} consecutive failures; next reset not before "
                                    f"+{allowed - now:.0f} s, dialling again meanwhile")

    def reset_started(self, ladder: Ladder, now: float) -> None:
        """A reset begins: it counts from here, before it can be cut short. A stop, crash or kill
        while the reset command runs (a reboot, a power switch) must pace the next run's reset
        as a finished one would, or each new start resets at once: a reset (or reboot) loop."""
        ladder.resets += 1
        ladder.last_reset = now
        ladder.failures = 0

    def reset_done(self, ladder: Ladder, now: float, confirmed: bool = True) -> Decision:
        """The reset counted by reset_started ended; the next waits from now. One that failed
        (not confirmed: the module did not go away and come back) paces the ladder all the same:
        the module may have been power-cycled, and a broken reset method must never turn into
        a power-cycle loop."""
        ladder.last_reset = now
        ladder.failures = 0
        return Decision("dial", now, f"reset {ladder.resets} " + ("done" if confirmed else "failed"))

    def link_stable(self, ladder: Ladder) -> None:
        ladder.failures = 0
        ladder.resets = 0
        ladder.last_reset = None
        ladder.last_error = ""

    def link_down(self, ladder: Ladder, now: float, up_since: float, error: str = "") -> Decision:
        """A drop after ``stable_after`` is redialled at once; an earlier one is a failed attempt."""
        if now - up_since >= self.stable_wait:
            self.link_stable(ladder)
            return Decision("dial", now, "link dropped after being stable: redial at once")
        return self.failed(ladder, now, error or "link dropped before it was stable")
