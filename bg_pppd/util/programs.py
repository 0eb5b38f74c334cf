"""Where the system programs bg-pppd runs are: pppd, chat, resolvconf, resolvectl, ping.

They live in sbin directories that a non-login PATH (systemd's, cron's) may
lack, so those are searched after PATH. Not shutil.which: importing shutil
drags bz2 and lzma in, which `up` would pay for before every first dial.
A candidate that another user could change is passed over: root runs these.
"""

from __future__ import annotations

import os

SBIN = ("/usr/sbin", "/usr/bin", "/sbin", "/bin")


def find(name: str) -> str | None:
    """The first executable file ``name`` in PATH, then SBIN; a path with a slash is taken as is."""
    if os.sep in name:
        return name if _executable(name) else None
    for directory in (*os.environ.get("PATH", "").split(os.pathsep), *SBIN):
        path = os.path.join(directory, name)
        if directory and _executable(path):
            return path
    return None


def _executable(path: str) -> bool:
    """An executable file that root may run: nobody else can change it or its directories
    (a PATH with a user's or a world-writable directory must not hand them root's pppd)."""
    if not (os.path.isfile(path) and os.access(path, os.X_OK)):
        return False
    from bg_pppd.util.safe_files import distrust

    try:
        return distrust(path) is None
    except OSError:
        return False
