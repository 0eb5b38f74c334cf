"""The daemon's files: locks (one daemon per profile and per port), pid files,
the status file and the persisted recovery ladder.

Everything is written atomically; a damaged state file is recovered from,
conservatively (as if a reset had just happened), never fatal.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import signal
import time
from pathlib import Path
from typing import Any

from . import atomic
from .errors import BgPppdError
from .recovery import Ladder


class AlreadyRunning(BgPppdError):
    pass


def boot_id() -> str:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return ""


def boottime() -> float:
    """A clock that counts suspend and never jumps: right for intervals and for persisting."""
    return time.clock_gettime(time.CLOCK_BOOTTIME)


def to_wall(t: float | None, now: float | None = None) -> float | None:
    if t is None:
        return None
    now = boottime() if now is None else now
    return time.time() - (now - t)


def iso(wall: float | None) -> str | None:
    if wall is None:
        return None
    return time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(wall))


class RunDir:
    def __init__(self, run_dir: str | os.PathLike, name: str):
        self.base = Path(run_dir)
        self.dir = self.base / name
        self.name = name
        self.lock_path = self.dir / "lock"
        self.status_path = self.dir / "status.json"
        self.pppd_pid_path = self.dir / "pppd.pid"
        self._fds: list[int] = []

    def ensure(self) -> None:
        self.dir.mkdir(parents=True, exist_ok=True, mode=0o700)

    def _flock(self, path: Path) -> int:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            pid = os.pread(fd, 32, 0).decode(errors="replace").strip()
            os.close(fd)
            raise AlreadyRunning(f"already running (pid {pid or '?'}, lock {path})") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        return fd

    def acquire(self, port: str) -> None:
        """Lock the profile and the port: no twins, even under two profile names."""
        self.ensure()
        self._fds.append(self._flock(self.lock_path))
        ports = self.base / "ports"
        ports.mkdir(exist_ok=True, mode=0o700)
        real = os.path.realpath(port) if os.path.exists(port) else port
        try:
            self._fds.append(self._flock(ports / (re.sub(r"[^A-Za-z0-9._-]", "_", real) + ".lock")))
        except AlreadyRunning as exc:
            self.release()
            raise AlreadyRunning(f"port {port} is in use by another bg-pppd ({exc})") from None

    def release(self) -> None:
        for fd in self._fds:
            os.close(fd)
        self._fds.clear()

    def running_pid(self) -> int | None:
        """The pid of the daemon holding the profile lock, or None."""
        try:
            fd = os.open(self.lock_path, os.O_RDONLY | os.O_CLOEXEC)
        except FileNotFoundError:
            return None
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            text = os.pread(fd, 32, 0).decode(errors="replace").strip()
            return int(text) if text.isdigit() else -1
        finally:
            os.close(fd)
        return None

    def write_status(self, status: dict[str, Any]) -> None:
        atomic.write(self.status_path, json.dumps(status, indent=1) + "\n", mode=0o644)

    def read_status(self) -> dict[str, Any] | None:
        try:
            return json.loads(self.status_path.read_text())
        except (OSError, ValueError):
            return None

    def write_pppd_pid(self, pid: int | None) -> None:
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
            with contextlib.suppress(OSError, ValueError):
                candidates.append(int(path.read_text().split()[0]))
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


class LadderStore:
    """The ladder on disk, with times on CLOCK_BOOTTIME and the boot they belong to."""

    def __init__(self, state_dir: str | os.PathLike, name: str):
        self.path = Path(state_dir) / f"{name}.json"

    def load(self, now: float) -> tuple[Ladder, str]:
        try:
            raw = self.path.read_text()
        except FileNotFoundError:
            return Ladder(), ""
        except OSError as exc:
            return self._conservative(now), f"cannot read {self.path} ({exc.strerror})"
        try:
            data = json.loads(raw)
            ladder = Ladder.from_dict(data["ladder"])
        except (ValueError, KeyError, TypeError):
            return self._conservative(now), f"{self.path} was damaged"
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
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        payload = {"version": 1, "boot_id": boot_id(), "ladder": ladder.to_dict(),
                   "saved": iso(time.time())}
        atomic.write(self.path, json.dumps(payload, indent=1) + "\n")
