"""A module at another baud rate than the profile's: which rates to try, and the one that worked last.

A crashed daemon or another tool can leave the main UART's rate changed (and
saved with ``AT&W``); at the wrong rate each side reads garbage. The pre-flight
then tries the rate that worked last (remembered in the state dir), 115200, and
the others in BAUDRATES order, a few ``AT`` at 100 ms each, and sets the
profile's rate back with ``AT+IPR=<rate>;&W``.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from bg_pppd.modem.at_channel import AtChannel, AtTimeout
from bg_pppd.profile.model import BAUDRATES

log = logging.getLogger("bg_pppd")

COMMON = 115200      # the module's factory rate, and most hosts'
PROBE_WAIT = 0.25    # AT at 0, 100 and 200 ms: a module at this rate answers the first
RECORD_MAX = 64      # a record is one number


def order(profile_rate: int, remembered: int | None) -> list[int]:
    """The rates to probe, the profile's own (already tried) left out."""
    rates = ([remembered] if remembered in BAUDRATES else []) + [COMMON, *BAUDRATES]
    return [r for r in dict.fromkeys(rates) if r != profile_rate]


def record_path(state_dir: str | os.PathLike | None, profile_name: str) -> Path | None:
    return Path(state_dir) / f"{profile_name}.baudrate" if state_dir else None


def remembered(path: Path | None) -> int | None:
    """The rate the module answered at last time it was not the profile's; None if none or unreadable."""
    from bg_pppd.util import safe_files as atomic

    if path is None:
        return None
    try:
        text = atomic.read_regular(path, RECORD_MAX, follow=False, ours=True).decode("ascii").strip()
    except (OSError, UnicodeDecodeError):
        return None
    return int(text) if text.isdigit() and int(text) in BAUDRATES else None


def remember(path: Path | None, rate: int) -> None:
    """Atomically (util.safe_files); a state dir that cannot be written only costs a longer probe."""
    from bg_pppd.util import safe_files as atomic

    if path is None:
        return
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        atomic.write(path, f"{rate}\n")
    except OSError as exc:
        log.warning("cannot remember the module's baud rate in %s (%s): the next probe starts at %d",
                    path, exc.strerror or exc, COMMON)


def answers(at: AtChannel, wait: float = PROBE_WAIT) -> bool:
    """A few AT at 100 ms: True when one is answered OK (the module runs at this port's rate)."""
    try:
        at.sync(wait)
        return True
    except AtTimeout:
        return False
