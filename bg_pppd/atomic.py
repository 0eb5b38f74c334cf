"""Atomic file writes: readers see the old file or the new one, never half.

Power can fail at any moment on a field device; a torn status or state file
must not cost the recovery ladder.
"""

from __future__ import annotations

import os
import tempfile
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


def write(path: str | os.PathLike[str], data: str | bytes, mode: int = 0o600) -> Path:
    """Write via a temporary file in the same directory, fsync, rename over ``path``."""
    target = Path(path)
    payload = data.encode("utf-8") if isinstance(data, str) else data
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
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
