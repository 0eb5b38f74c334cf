"""The recovery ladder kept across runs, and the boot it belongs to.

Times are on CLOCK_BOOTTIME, which counts suspend and never jumps, tagged with the
boot's id: a reset's wait is paced across restarts of the daemon, and started afresh
after a reboot (how long ago the last reset was is then unknown). A damaged file is
recovered from conservatively (as if a reset had just happened), never fatal.
"""

from __future__ import annotations

import json
import math
import os
import time
from pathlib import Path

from bg_pppd.daemon.recovery import Ladder
from bg_pppd.util import safe_files as atomic
from bg_pppd.util.errors import UnsafePath

STATE_DIR_FIX = "remove it (bg-pppd creates it, mode 0700) or choose another --state-dir"
MAX_STATE_BYTES = 64 * 1024     # a ladder is a few hundred bytes


def boot_id() -> str:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return ""


def boottime() -> float:
    """A clock that counts suspend and never jumps: right for intervals and for persisting."""
    return time.clock_gettime(time.CLOCK_BOOTTIME)


def to_wall(t: float | None, now: float | None = None) -> float | None:
    """A time on boottime() as wall-clock seconds (``now``: boottime() at this moment)."""
    if t is None:
        return None
    now = boottime() if now is None else now
    return time.time() - (now - t)


def iso(wall: float | None) -> str | None:
    """ISO 8601 local time; None for no time, or one no calendar can show (NaN, far out)."""
    if wall is None or not math.isfinite(wall):
        return None
    try:
        return time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(wall))
    except (OverflowError, OSError, ValueError):
        return None


def prepare_state_dir(state_dir: str | os.PathLike) -> str:
    """The state dir holds what must survive (the ladder, a rejected PIN): UnsafePath for one that
    another user can change. One that cannot be made (a read-only disk) costs only the
    persistence: the reason is returned, for a warning."""
    try:  # the files in it are checked one by one: a sticky shared one is fine
        atomic.private_dir(state_dir, shared_ok=True, fix=STATE_DIR_FIX)
    except UnsafePath:
        raise
    except OSError as exc:
        return f"state dir {state_dir}: {exc.strerror or exc}"
    return ""


class LadderStore:
    """The ladder on disk, with times on CLOCK_BOOTTIME and the boot they belong to."""

    def __init__(self, state_dir: str | os.PathLike, name: str):
        self.path = Path(state_dir) / f"{name}.json"

    def load(self, now: float) -> tuple[Ladder, str]:
        """The saved ladder, or after any damage the conservative one, with a note; never raises."""
        try:
            raw = atomic.read_regular(self.path, MAX_STATE_BYTES, follow=False, ours=True)
        except FileNotFoundError:
            return Ladder(), ""
        except OSError as exc:
            return self._conservative(now), f"cannot read {self.path} ({exc.strerror})"
        try:
            data = json.loads(raw.decode("utf-8"))
            if not isinstance(data, dict):
                raise ValueError("not a mapping")
            ladder = Ladder.from_dict(data["ladder"])
        except Exception:  # any damage at all (bytes, shape, nesting): the file is only a hint
            return self._conservative(now), f"{self.path} was damaged"
        if ladder.last_reset is not None and ladder.last_reset < 0:
            return self._conservative(now), f"{self.path} was damaged (a reset before the boot)"
        if ladder.last_reset is not None and (data.get("boot_id") != boot_id() or ladder.last_reset > now):
            # another boot: how long ago that reset was is unknown, so count the wait from now
            ladder.last_reset = now
            return ladder, "the system rebooted since the last reset: its wait starts again now"
        return ladder, ""

    @staticmethod
    def _conservative(now: float) -> Ladder:
        """Unknown history: assume a reset just happened, so nothing resets early."""
        return Ladder(failures=0, resets=1, last_reset=now, last_error="state file lost")

    def save(self, ladder: Ladder) -> None:
        atomic.private_dir(self.path.parent, shared_ok=True, fix=STATE_DIR_FIX)
        payload = {"version": 1, "boot_id": boot_id(), "ladder": ladder.to_dict(),
                   "saved": iso(time.time())}
        atomic.write(self.path, json.dumps(payload, indent=1) + "\n")
