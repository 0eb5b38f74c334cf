"""User hooks: commands run without a shell, with the link's facts in the environment.

A hook can be slow or fail; neither may stall or stop the supervisor, so
each runs in its own thread with a timeout and its failure is only logged.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence

from bg_pppd.link.pppd import LinkInfo
from bg_pppd.profile.model import COMMAND_CWD
from bg_pppd.util import commands
from bg_pppd.util.worker import Worker

log = logging.getLogger("bg_pppd")


def environment(profile: str, event: str, info: LinkInfo | None,
                extra: Mapping[str, str] | None = None) -> dict[str, str]:
    info = info or LinkInfo()
    return {**os.environ, "BG_PPPD_PROFILE": profile, "BG_PPPD_EVENT": event,
            "BG_PPPD_INTERFACE": info.interface, "BG_PPPD_LOCAL_IP": info.local_ip,
            "BG_PPPD_REMOTE_IP": info.remote_ip, "BG_PPPD_DNS": " ".join(info.dns), **(extra or {})}


def run(argv: Sequence[str], profile: str, event: str, info: LinkInfo | None,
        timeout: float, extra: Mapping[str, str] | None = None) -> Worker | None:
    """Start the hook in its own thread; ``extra`` adds event-specific variables (BG_PPPD_URCS)."""
    if not argv:
        return None

    def go() -> None:
        # in COMMAND_CWD, where the profile check resolved its relative arguments; stdin empty
        done = commands.run(argv, timeout, env=environment(profile, event, info, extra), cwd=COMMAND_CWD)
        if done.timed_out:
            log.warning("%s: hook on_%s timed out after %g s: %s", profile, event, timeout, argv[0])
        elif done.exit_code is None:  # missing, not executable, a NUL in an argument or the environment
            log.warning("%s: hook on_%s cannot run %s: %s", profile, event, argv[0], done.error)
        elif done.exit_code:
            log.warning("%s: hook on_%s exited %d %s", profile, event, done.exit_code, done.last_line())
    try:
        return Worker(f"hook-{event}", lambda _w: go())
    except RuntimeError as exc:  # no thread to spare: the hook is skipped, the link goes on
        log.warning("%s: hook on_%s not run: %s", profile, event, exc)
        return None
