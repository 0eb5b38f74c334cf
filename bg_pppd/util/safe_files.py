"""Safe files for a root daemon: atomic writes, private directories, bounded reads.

Power can fail at any moment on a field device; a torn status or state file
must not cost the recovery ladder. And bg-pppd runs as root: a directory or a
file that another user can change is never written through or trusted (a
swapped peer file hands them root's pppd, a symlinked lock truncates a root
file), and a FIFO or /dev/zero where a file should be is refused, not read.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

from bg_pppd.util.errors import UnsafePath

_KINDS = ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO"), (stat.S_ISCHR, "a character device"),
          (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"), (stat.S_ISLNK, "a symlink"),
          (stat.S_ISREG, "a regular file"))
_MAX_LINKS = 40  # the kernel's limit on symlinks in one lookup


def trusted_uid(uid: int) -> bool:
    """Root, or the user we run as: nobody else may own what we trust."""
    return uid == 0 or uid == os.geteuid()


def _owners() -> str:
    return "root" if os.geteuid() == 0 else f"root or uid {os.geteuid()}"


def kind(mode: int) -> str:
    return next((name for test, name in _KINDS if test(mode)), "of an unknown kind")


def _walk(path: str) -> list[tuple[str, os.stat_result | None]]:
    """Each directory and symlink that resolving ``path`` passes, then what it names (None: missing).

    Resolved by hand, component by component, so that every symlink's own directory is seen.
    """
    pending = list(reversed((path if path.startswith("/") else f"{os.getcwd()}/{path}").split("/")))
    current, seen, links = "/", [("/", os.lstat("/"))], 0
    while pending:
        name = pending.pop()
        if name in ("", "."):
            continue
        if name == "..":
            current = os.path.dirname(current)  # current never holds a symlink
            continue
        here = os.path.join(current, name)
        try:
            st = os.lstat(here)
        except (FileNotFoundError, NotADirectoryError):
            seen.append((here, None))
            break
        seen.append((here, st))
        if stat.S_ISLNK(st.st_mode):
            links += 1
            if links > _MAX_LINKS:
                raise OSError(errno.ELOOP, os.strerror(errno.ELOOP), path)
            target = os.readlink(here)
            current = "/" if target.startswith("/") else current
            pending.extend(reversed(target.split("/")))
        else:
            current = here
    return seen


def distrust(path: str | os.PathLike[str], shared_ok: bool = False) -> str | None:
    """Why another user could change ``path`` or what leads to it, or None when nobody can.

    Everything on the way must be owned by root or us, and no directory, symlink or file
    writable by others, except a sticky directory (/tmp) on the way: there, others cannot
    rename what we own. ``shared_ok``: a sticky directory is fine as ``path`` itself too.
    A missing part is fine when what leads to it is.
    """
    seen = _walk(os.fspath(path))
    for index, (where, st) in enumerate(seen):
        if st is None:
            return None
        if not trusted_uid(st.st_uid):
            return f"{where} is owned by uid {st.st_uid}, not {_owners()}"
        if stat.S_ISLNK(st.st_mode) or not st.st_mode & 0o022:
            continue
        last = index == len(seen) - 1
        if stat.S_ISDIR(st.st_mode) and st.st_mode & stat.S_ISVTX and (shared_ok or not last):
            continue
        return f"{where} can be changed by other users (mode {stat.S_IMODE(st.st_mode):04o})"
    return None


def private_dir(path: str | os.PathLike[str], shared_ok: bool = False, fix: str = "") -> Path:
    """``path`` as a directory that only root or we can change: created (0700, parents too) or checked.

    An existing one must not be a symlink, nor owned by another user, nor group or world
    writable (``shared_ok``: a sticky one like /tmp is fine). UnsafePath says why and ``fix``.
    """
    target = Path(path)
    missing = []
    probe = target
    while not os.path.lexists(probe) and probe != probe.parent:
        missing.append(probe)
        probe = probe.parent
    where = f"; {fix}" if fix else ""
    reason = distrust(probe, shared_ok=shared_ok or bool(missing))
    if reason:
        raise UnsafePath(target, f"not safe for bg-pppd's files: {reason}{where}")
    for directory in reversed(missing):
        try:
            os.mkdir(directory, 0o700)
        except FileExistsError:
            pass  # made meanwhile: checked below like any existing one
    st = os.lstat(target)
    if not stat.S_ISDIR(st.st_mode):
        raise UnsafePath(target, f"is {kind(st.st_mode)}, not a directory{where}")
    reason = distrust(target, shared_ok=shared_ok)
    if reason:
        raise UnsafePath(target, f"not safe for bg-pppd's files: {reason}{where}")
    return target


def open_nofollow(path: str | os.PathLike[str], flags: int, mode: int = 0o600) -> int:
    """os.open that never follows a symlink at ``path`` (UnsafePath says so) and never leaks the fd."""
    try:
        return os.open(path, flags | os.O_NOFOLLOW | os.O_CLOEXEC, mode)
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.ENOTDIR) and os.path.islink(path):  # ENOTDIR: O_DIRECTORY
            raise UnsafePath(path, "is a symlink: bg-pppd never follows one here; remove it") from None
        raise


def read_regular(path: str | os.PathLike[str], limit: int, follow: bool = True,
                 ours: bool = False, mode: int | None = None) -> bytes:
    """The content of a regular file of at most ``limit`` bytes, else OSError saying why.

    A FIFO would block and /dev/zero never ends: both are refused, not read (checked
    before the open, and after it on the very file opened, with O_NONBLOCK so the open
    cannot hang). ``follow``: a symlink may lead to the file. ``ours``: a file only we
    could have written (our uid, not writable by others, no second hard link); ``mode``:
    exactly that mode too. UnsafePath when it is not.
    """
    try:
        st = os.stat(path) if follow else os.lstat(path)
    except OSError:
        st = None  # let the open say why
    if st is not None and not stat.S_ISREG(st.st_mode):
        raise OSError(errno.EINVAL, f"not a regular file ({kind(st.st_mode)})", os.fspath(path))
    flags = os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY
    fd = open_nofollow(path, flags) if not follow else os.open(path, flags | os.O_CLOEXEC)
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise OSError(errno.EINVAL, f"not a regular file ({kind(st.st_mode)})", os.fspath(path))
        if (ours or mode is not None) and (st.st_uid != os.geteuid() or st.st_mode & 0o022 or st.st_nlink != 1):
            raise UnsafePath(path, "is not a file of ours (our uid, only we can write it, one link)")
        if mode is not None and stat.S_IMODE(st.st_mode) != mode:
            raise UnsafePath(path, f"has mode {stat.S_IMODE(st.st_mode):04o}, not {mode:04o}")
        chunks, size = [], 0
        while size <= limit:
            chunk = os.read(fd, min(65536, limit + 1 - size))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        if size > limit:
            raise OSError(errno.EFBIG, f"too large (more than {limit} bytes)", os.fspath(path))
        return b"".join(chunks)
    finally:
        os.close(fd)


def symlink(target: str, link: Path) -> None:
    """Point ``link`` at ``target`` by rename: whoever opens ``link`` never finds it missing."""
    tmp = link.with_name(f".{link.name}.tmp")
    try:
        tmp.unlink()
    except FileNotFoundError:
        pass
    tmp.symlink_to(target)
    tmp.replace(link)


def _create_temporary(name: str, dir_fd: int) -> tuple[int, str]:
    """A new file beside ``name`` (tempfile's mkstemp, without its imports on the start-up path)."""
    for attempt in range(100):
        tmp = f".{name}.{os.getpid()}.{attempt}.tmp"
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600,
                         dir_fd=dir_fd)
            return fd, tmp
        except FileExistsError:
            continue  # left by a process that died with our pid, or another thread's write
    raise FileExistsError(f"no free temporary name beside {name}")


def _open_parent(target: Path) -> int:
    """The directory ``target`` goes in, opened without following a symlink, and only ours to change."""
    parent = target.parent
    fd = open_nofollow(parent, os.O_RDONLY | os.O_DIRECTORY)
    try:
        st = os.fstat(fd)
        if not trusted_uid(st.st_uid):
            raise UnsafePath(parent, f"is owned by uid {st.st_uid}, not {_owners()}: bg-pppd does not "
                                     "write where another user can swap its files")
        if st.st_mode & 0o022 and not st.st_mode & stat.S_ISVTX:  # sticky (/tmp): ours stay ours
            raise UnsafePath(parent, f"can be changed by other users (mode {stat.S_IMODE(st.st_mode):04o}): "
                                     "bg-pppd does not write where another user can swap its files")
    except BaseException:
        os.close(fd)
        raise
    return fd


def write(path: str | os.PathLike[str], data: str | bytes, mode: int = 0o600) -> Path:
    """Write via a temporary file in the same directory, fsync, rename over ``path``.

    The rename replaces a symlink at ``path`` (it never writes through it); the directory
    must be a real one of root's or ours that no other user can change, or a sticky one,
    where nobody else can rename or remove our files (UnsafePath otherwise).
    """
    target = Path(path)
    payload = data.encode("utf-8") if isinstance(data, str) else data
    dir_fd = _open_parent(target)
    try:
        fd, tmp = _create_temporary(target.name, dir_fd)
        try:
            os.fchmod(fd, mode)
            with os.fdopen(fd, "wb") as f:
                f.write(payload)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, target.name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
        except BaseException:
            try:
                os.unlink(tmp, dir_fd=dir_fd)
            except FileNotFoundError:
                pass
            raise
        try:
            os.fsync(dir_fd)
        except OSError:
            pass
    finally:
        os.close(dir_fd)
    return target
