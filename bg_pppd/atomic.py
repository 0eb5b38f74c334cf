"""Atomic file writes: readers see the old file or the new one, never half.

Power can fail at any moment on a field device; a torn status or state file
must not cost the recovery ladder.
"""

from __future__ import annotations

import os
from pathlib import Path


def symlink(target: str, link: Path) -> None:
    """Point ``link`` at ``target`` by rename: whoever opens ``link`` never finds it missing."""
    tmp = link.with_name(f".{link.name}.tmp")
    try:
        tmp.unlink()
    except FileNotFoundError:
        pass
    tmp.symlink_to(target)
    tmp.replace(link)


def _create_temporary(target: Path) -> tuple[int, str]:
    """A new file beside ``target`` (tempfile's mkstemp, without its imports on the start-up path)."""
    for attempt in range(100):
        tmp = str(target.with_name(f".{target.name}.{os.getpid()}.{attempt}.tmp"))
        try:
            return os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600), tmp
        except FileExistsError:
            continue  # left by a process that died with our pid, or another thread's write
    raise FileExistsError(f"no free temporary name beside {target}")


def write(path: str | os.PathLike[str], data: str | bytes, mode: int = 0o600) -> Path:
    """Write via a temporary file in the same directory, fsync, rename over ``path``."""
    target = Path(path)
    payload = data.encode("utf-8") if isinstance(data, str) else data
    fd, tmp = _create_temporary(target)
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as f:
            f.write(payload)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, target)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    try:
        dir_fd = os.open(target.parent, os.O_RDONLY)
    except OSError:
        return target
    try:
        os.fsync(dir_fd)
    except OSError:
        pass
    finally:
        os.close(dir_fd)
    return target
