"""User hooks: commands run without a shell, with the link's facts in the environment.

A hook can be slow or fail; neither may stall or stop the supervisor, so
each runs in its own thread with a timeout and its failure is only logged.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Mapping, Sequence

from bg_pppd.link.pppd import LinkInfo
from bg_pppd.profile.model import COMMAND_CWD

log = logging.getLogger("bg_pppd")


def environment(profile: str, event: str, info: LinkInfo | None,
                extra: Mapping[str, str] | None = None) -> dict[str, str]:
    info = info or LinkInfo()
    return {**os.environ, "BG_PPPD_PROFILE": profile, "BG_PPPD_EVENT": event,
            "BG_PPPD_INTERFACE": info.interface, "BG_PPPD_LOCAL_IP": info.local_ip,
            "BG_PPPD_REMOTE_IP": info.remote_ip, "BG_PPPD_DNS": " ".join(info.dns), **(extra or {})}


def run(argv: Sequence[str], profile: str, event: str, info: LinkInfo | None,
        timeout: float, extra: Mapping[str, str] | None = None) -> threading.Thread | None:
    """Start the hook in its own thread; ``extra`` adds event-specific variables (BG_PPPD_URCS)."""
    if not argv:
        return None
    import subprocess  # not on the way to the first dial: only profiles with hooks need it

    def go() -> None:
        try:
            # in COMMAND_CWD, where the profile check resolved its relative arguments
            result = subprocess.run(list(argv), env=environment(profile, event, info, extra), timeout=timeout,
                                    stdin=subprocess.DEVNULL, capture_output=True, text=True, cwd=COMMAND_CWD)
        except subprocess.TimeoutExpired:
            log.warning("%s: hook on_%s timed out after %g s: %s", profile, event, timeout, argv[0])
            return
        except (OSError, ValueError) as exc:  # ValueError: a NUL in an argument or the environment
            log.warning("%s: hook on_%s cannot run %s: %s", profile, event, argv[0],
                        getattr(exc, "strerror", None) or exc)
            return
        if result.returncode:
            tail = (result.stderr or result.stdout).strip().splitlines()[-1:] or [""]
            log.warning("%s: hook on_%s exited %d %s", profile, event, result.returncode, tail[0])
    thread = threading.Thread(target=go, name=f"hook-{event}", daemon=True)
    try:
        thread.start()
    except RuntimeError as exc:  # no thread to spare: the hook is skipped, the link goes on
        log.warning("%s: hook on_%s not run: %s", profile, event, exc)
        return None
    return thread
