"""The run dir: locks (one daemon per profile and per port) and pppd's pid file.

Everything is written atomically, in directories only root can change (checked,
not assumed: a run dir in /tmp is shared with every user). The status file lives
here too (``RunDir.status_path``); status.py reads and writes it.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import signal
import stat
import threading
import time
from pathlib import Path

from bg_pppd.util import safe_files as atomic
from bg_pppd.util.errors import BgPppdError, UnsafePath

RUN_DIR_FIX = "remove it (bg-pppd creates it, mode 0700) or choose another --run-dir"
_LOCK_TEXT_WAIT = 0.2           # how long a reader waits for a new lock holder to write its pid


class AlreadyRunning(BgPppdError):
    """Another bg-pppd holds a lock we need: ``pid`` (-1: not known) and its ``role`` (up, check)."""

    def __init__(self, message: str, pid: int = -1, role: str = "", port: str = ""):
        super().__init__(message)
        self.pid, self.role, self.port = pid, role, port
        self.port_held = bool(port)  # a port another bg-pppd runs on: not this module's failure

    @property
    def running(self) -> str:
        """``bg-pppd up is running (pid 123)``"""
        return f"bg-pppd {self.role or 'up'} is running (pid {self.pid if self.pid > 0 else '?'})"


def port_lock_names(*ports: str) -> list[str]:
    """Every name a port is locked under: as written and its real path, so that the by-id,
    by-path and symlinked names of one device collide (the real path only once it exists)."""
    names: list[str] = []
    for port in ports:
        for name in (os.path.normpath(port), os.path.realpath(port)) if port else ():
            if name not in names:
                names.append(name)
    return names


def _flock_holder(fd: int) -> int | None:
    """The pid holding an flock on ``fd``'s file, from /proc/locks (the kernel knows it the
    moment the lock is taken; the pid text in the file comes a moment later)."""
    st = os.fstat(fd)
    try:
        with open("/proc/locks", encoding="ascii", errors="replace") as f:
            table = f.read(1 << 20)
    except OSError:
        return None
    for line in table.splitlines():
        fields = line.split()
        if len(fields) < 6 or fields[1] != "FLOCK":
            continue  # "->" marks a waiter, POSIX and OFD locks are not ours
        try:
            major, minor, inode = fields[5].split(":")
            if (int(major, 16), int(minor, 16), int(inode)) == (os.major(st.st_dev), os.minor(st.st_dev),
                                                               st.st_ino):
                pid = int(fields[4])
                return pid if pid > 0 else None
        except ValueError:
            continue
    return None


def _lock_text(fd: int) -> tuple[int | None, str]:
    """The pid and role a lock holder wrote: ``PID ROLE``."""
    words = os.pread(fd, 64, 0).decode("ascii", errors="replace").split()
    pid = int(words[0]) if words and words[0].isdigit() else None
    return pid, " ".join(words[1:2])


def _holder(fd: int) -> tuple[int, str]:
    """Who holds the lock on ``fd``: (pid, role); pid -1 when it cannot be told."""
    pid = _flock_holder(fd)
    deadline = time.monotonic() + _LOCK_TEXT_WAIT
    while True:
        text_pid, role = _lock_text(fd)
        if text_pid is not None and (pid is None or text_pid == pid):
            return text_pid, role
        if time.monotonic() > deadline:  # the text is still the last holder's, or not written yet
            return (pid if pid is not None else -1), ""
        time.sleep(0.01)


class RunDir:
    def __init__(self, run_dir: str | os.PathLike, name: str):
        self.base = Path(run_dir)
        self.dir = self.base / name
        self.ports_dir = self.base / "ports"
        self.name = name
        self.lock_path = self.dir / "lock"
        self.status_path = self.dir / "status.json"
        self.pppd_pid_path = self.dir / "pppd.pid"
        self._fds: list[int] = []
        self._names: dict[str, int] = {}  # port lock name -> its fd
        self._current: dict[str, str] = {}  # port -> the real path it led to at lock_current
        self._taken: set[str] = set()       # the names lock_current locked (acquire's stay)
        self._mutex = threading.Lock()  # lock_current runs on the workers' threads

    def ensure(self) -> None:
        """The run dir (may be shared and sticky, like /tmp) and the profile's own (never shared)."""
        atomic.private_dir(self.base, shared_ok=True, fix=RUN_DIR_FIX)
        atomic.private_dir(self.dir, fix=RUN_DIR_FIX)

    def _flock(self, path: Path, role: str) -> int:
        fd = atomic.open_nofollow(path, os.O_RDWR | os.O_CREAT | os.O_NONBLOCK)
        try:
            st = os.fstat(fd)
            if not (stat.S_ISREG(st.st_mode) and st.st_uid == os.geteuid() and st.st_nlink == 1):
                raise UnsafePath(path, "is not a lock file of ours (a regular file we own, one link): "
                                       "remove it")
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            pid, other = _holder(fd)
            os.close(fd)
            raise AlreadyRunning(f"already running (pid {pid if pid > 0 else '?'}, lock {path})",
                                 pid, other) from None
        except BaseException:
            os.close(fd)
            raise
        text = f"{os.getpid()} {role}\n".encode()
        os.pwrite(fd, text, 0)  # over the last holder's text, then cut: never empty in between
        os.ftruncate(fd, len(text))
        return fd

    def acquire(self, *ports: str) -> None:
        """Lock the profile and its ports (AT and PPP): no twins, even under two profile names."""
        self.ensure()
        self._fds.append(self._flock(self.lock_path, "up"))
        try:
            self.lock_ports(*ports, role="up")
        except BaseException:
            self.release()
            raise

    def lock_ports(self, *ports: str, role: str) -> None:
        """Lock every name of ``ports`` (the caller holds them until release)."""
        atomic.private_dir(self.ports_dir, fix=RUN_DIR_FIX)
        for port in port_lock_names(*ports):
            path = self._port_lock_path(port)
            try:
                fd = self._flock(path, role)
            except AlreadyRunning as exc:
                self.release()
                raise AlreadyRunning(f"port {port} is in use by another bg-pppd: {exc.running} and holds "
                                     f"{path}", exc.pid, exc.role, port) from None
            self._fds.append(fd)
            self._names[port] = fd

    def _port_lock_path(self, name: str) -> Path:
        return self.ports_dir / (re.sub(r"[^A-Za-z0-9._-]", "_", name) + ".lock")

    def lock_current(self, port: str, role: str = "up") -> None:
        """Lock the device ``port`` names now, by its real path, before talking on it.

        A port missing at start was locked only as written: the symlink that appears later
        (udev's, or a by-id name) may lead to another profile's port, which that profile
        locked by its real path. Held until release, or until ``port`` leads elsewhere
        (a re-enumerated USB module): then the old device's lock is let go.
        AlreadyRunning when another bg-pppd holds it.
        """
        real = os.path.realpath(port)
        with self._mutex:
            if real not in self._names:
                atomic.private_dir(self.ports_dir, fix=RUN_DIR_FIX)
                path = self._port_lock_path(real)
                try:
                    self._names[real] = self._flock(path, role)
                except AlreadyRunning as exc:
                    raise AlreadyRunning(f"port {port} (now {real}) is in use by another bg-pppd: {exc.running} "
                                         f"and holds {path}", exc.pid, exc.role, port) from None
                self._fds.append(self._names[real])
                self._taken.add(real)
            old, self._current[port] = self._current.get(port), real
            if old in self._taken and old not in self._current.values():  # never one acquire took
                self._taken.discard(old)
                fd = self._names.pop(old)
                self._fds.remove(fd)
                os.close(fd)

    def hold_for_check(self, *ports: str) -> None:
        """``check`` talks on the ports: refuse while ``up`` runs this profile or uses a port.

        A run dir that does not exist means that no ``up`` ran since boot: nothing to lock,
        and nothing is created (a non-root check needs no run dir).
        """
        if not os.path.lexists(self.base):
            return
        pid = self.running_pid()
        if pid is not None:
            busy = AlreadyRunning("", pid, "up")
            raise AlreadyRunning(f"{busy.running}: use `bg-pppd status {self.name}`", pid, "up")
        try:
            self.lock_ports(*ports, role="check")
        except AlreadyRunning as exc:
            raise AlreadyRunning(f"port {exc.port} is in use: {exc.running}: use `bg-pppd status`",
                                 exc.pid, exc.role, exc.port) from None

    def release(self) -> None:
        with self._mutex:
            for fd in self._fds:
                os.close(fd)
            self._fds.clear()
            self._names.clear()
            self._current.clear()
            self._taken.clear()

    def verify(self) -> None:
        """Before acting on what the run dir says (down signals a pid): it must be only root's."""
        for path, shared in ((self.base, True), (self.dir, False)):
            reason = atomic.distrust(path, shared_ok=shared)
            if reason:
                raise UnsafePath(path, f"not safe to trust: {reason}; {RUN_DIR_FIX}")

    def running_pid(self) -> int | None:
        """The pid of the daemon holding the profile lock (-1: running, pid not known), or None.

        OSError when the lock cannot be read (not root: permission denied).
        """
        try:
            fd = atomic.open_nofollow(self.lock_path, os.O_RDONLY | os.O_NONBLOCK)
        except FileNotFoundError:
            return None
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return _holder(fd)[0]
        finally:
            os.close(fd)
        return None

    def write_pppd_pid(self, pid: int | None) -> None:
        """Record (or with None, forget) pppd's pid for the next run's orphan check.

        Raises OSError, and nothing else, when the file cannot be written or removed (a full
        or read-only run dir); pppd runs regardless, so a caller logs it and carries on.
        """
        if pid is None:
            with contextlib.suppress(FileNotFoundError):
                self.pppd_pid_path.unlink()
        else:
            atomic.write(self.pppd_pid_path, f"{pid}\n")

    def end_orphan(self, linkname: str, peer: str, wait: float = 10.0) -> int | None:
        """A daemon killed with SIGKILL leaves its pppd behind: find it and end it cleanly."""
        candidates = []
        for path in (self.pppd_pid_path, Path(f"/run/ppp-{linkname}.pid"),
                     Path(f"/var/run/ppp-{linkname}.pid")):
            with contextlib.suppress(OSError, ValueError, IndexError):
                candidates.append(int(atomic.read_regular(path, 64).split()[0]))
        for pid in dict.fromkeys(candidates):
            try:
                cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if not cmdline or not cmdline[0].endswith(b"pppd") or peer.encode() not in cmdline:
                continue
            os.kill(pid, signal.SIGTERM)
            deadline = time.monotonic() + wait
            while time.monotonic() < deadline and Path(f"/proc/{pid}").exists():
                time.sleep(0.05)
            if Path(f"/proc/{pid}").exists():
                os.kill(pid, signal.SIGKILL)
            self.write_pppd_pid(None)
            return pid
        self.write_pppd_pid(None)
        return None
