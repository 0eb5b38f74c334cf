"""The network's DNS servers, where the profile says, and taken back when the link goes.

``pppd``: pppd's own /etc/ppp/resolv.conf (usepeerdns), nothing more.
``resolvconf``: ``resolvconf -a IFACE.bg-pppd``; ``resolved``: ``resolvectl dns IFACE``
(per link); ``file``: the servers written to a file, what was there before put back;
``none``: nowhere. A missing tool (a busybox image has neither resolvconf nor
resolvectl) or a file that cannot be written is a logged error, never a failure of
the link.
"""

from __future__ import annotations

import contextlib
import errno
import json
import logging
import os
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from bg_pppd.link.pppd import valid_interface
from bg_pppd.util import commands
from bg_pppd.util import safe_files as atomic
from bg_pppd.util.programs import find

log = logging.getLogger("bg_pppd")


TOOL_TIMEOUT = 15.0  # seconds for one resolvconf or resolvectl call


def _run(profile: str, argv: list[str], stdin: str | None = None) -> None:
    tool = find(argv[0])
    if not tool:
        log.error("%s: dns: %s is not installed; DNS servers not applied", profile, argv[0])
        return
    done = commands.run([tool, *argv[1:]], timeout=TOOL_TIMEOUT, stdin=stdin or "")
    if done.exit_code is None:
        log.error("%s: dns: %s failed: %s", profile, argv[0], done.error)
    elif done.exit_code:
        log.error("%s: dns: %s exited %d %s", profile, argv[0], done.exit_code, done.stderr.strip())


MAX_BACKUP_BYTES = 4 * 1024 * 1024  # a backup holds the file's bytes (base64)
MAX_FILE_BYTES = 1024 * 1024        # a resolv.conf is a few hundred bytes
LOCK_WAIT = 2.0                     # for another profile's claim of a file (microseconds, normally)
SUFFIX = ".dns-backup"


class Dns:
    """``file`` mode records what was at the path before (a symlink, a file with its mode, or
    nothing) in a backup in the state dir, so that link down, also the next run's after a
    crash, puts exactly that back: a resolvconf or systemd-resolved symlink stays a symlink.

    The backup names the file, and one file has one backup: while another profile's backup
    for it lives (its link is up, or it crashed while up), this profile does not write the
    file, or undoing both in any order would leave one's DNS behind instead of the original.
    """

    def __init__(self, profile: str, mode: str, file: str, state_dir: str | Path):
        self.profile, self.mode, self.file = profile, mode, Path(file)
        self.state_dir = Path(state_dir)
        self.backup = self.state_dir / f"{profile}{SUFFIX}"

    def apply(self, interface: str, servers: list[str]) -> None:
        """Never raises: DNS trouble is logged, the link stays up."""
        if not servers or self.mode in ("pppd", "none"):
            return
        if not valid_interface(interface):
            log.error("%s: dns: %r is no interface name; DNS servers not applied", self.profile, interface)
            return
        lines = "".join(f"nameserver {s}\n" for s in servers)
        if self.mode == "resolvconf":
            _run(self.profile, ["resolvconf", "-a", f"{interface}.bg-pppd"], stdin=lines)
        elif self.mode == "resolved":
            _run(self.profile, ["resolvectl", "dns", interface, *servers])
            _run(self.profile, ["resolvectl", "domain", interface, "~."])
        elif self.mode == "file":
            try:
                other = self._write_file(f"# written by bg-pppd ({self.profile}, {interface})\n" + lines)
            except OSError as exc:
                log.error("%s: dns: cannot write %s: %s; DNS servers not applied", self.profile, self.file,
                          exc.strerror or exc)
                return
            if other is not None:
                log.error("%s: dns: %s is managed by profile %s (%s holds what was there before); "
                          "DNS servers not applied", self.profile, self.file, other.name[:-len(SUFFIX)], other)
                return
        log.info("%s: dns: %s via %s", self.profile, " ".join(servers), self.mode)

    def undo(self, interface: str) -> None:
        """Never raises, like apply."""
        if self.mode in ("resolvconf", "resolved") and not valid_interface(interface):
            return  # apply refused it too
        if self.mode == "resolvconf":
            _run(self.profile, ["resolvconf", "-d", f"{interface}.bg-pppd"])
        elif self.mode == "resolved":
            _run(self.profile, ["resolvectl", "revert", interface])
        elif self.mode == "file":
            try:
                restored = self._restore_file()
            except (OSError, ValueError) as exc:  # ValueError: a backup whose content is damaged
                log.error("%s: dns: cannot restore %s: %s", self.profile, self.file,
                          getattr(exc, "strerror", None) or exc)
                return
            if restored:
                log.info("%s: dns: %s restored", self.profile, restored)

    # ----- file mode -------------------------------------------------------------------------

    def _entry(self) -> str:
        """The directory entry file mode replaces, however the path spells it (``..``, a
        symlinked directory): two profiles writing one entry collide, whatever their paths."""
        return os.path.join(os.path.realpath(self.file.parent), self.file.name)

    def _write_file(self, text: str) -> Path | None:
        """Back up what is there (unless our backup of it lives), then write; another profile's
        live backup of the same file, returned, means that nothing is written."""
        self.state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        entry = self._entry()
        with _locked(self.state_dir):  # one profile's check-and-claim at a time
            old = self._own_backup()
            if old is not None and old.get("file", entry) != entry:
                # a run that managed another file (the profile changed since): put that one back first
                log.info("%s: dns: %s restored (an earlier run's)", self.profile, self._put_back(old))
                old = None
            made = old is None
            if made:
                other = self._claimed(entry)
                if other is not None:
                    return other
                atomic.write(self.backup, json.dumps({**self._what_is_there(), "file": entry,
                                                      "profile": self.profile}) + "\n", mode=0o600)
        try:
            atomic.write(self.file, text, mode=0o644)
        except OSError:
            if made:  # nothing of ours is there: nothing to undo
                with contextlib.suppress(OSError):
                    self.backup.unlink()
            raise
        return None

    def _own_backup(self) -> dict[str, Any] | None:
        """Our backup; None when there is none, or only one that we did not write (logged:
        another user's file in a shared state dir is never trusted, and is replaced)."""
        try:
            return _load(self.backup)
        except FileNotFoundError:
            return None
        except OSError as exc:
            log.warning("%s: dns: %s is not trusted (%s): ignored, replaced by a backup of what is at %s "
                        "now", self.profile, self.backup, exc.strerror or exc, self.file)
            return None

    def _claimed(self, entry: str) -> Path | None:
        """Another profile's backup of ``entry`` in the state dir, if one lives."""
        for name in sorted(os.listdir(self.state_dir)):
            path = self.state_dir / name
            if not name.endswith(SUFFIX) or path == self.backup:
                continue
            try:
                other = _load(path)
            except OSError as exc:
                log.warning("%s: dns: %s is not trusted (%s): ignored", self.profile, path, exc.strerror or exc)
                continue
            if other.get("file") == entry:
                return path
        return None

    def _what_is_there(self) -> dict[str, Any]:
        try:
            st = self.file.lstat()
        except FileNotFoundError:
            return {"kind": "none"}
        if stat.S_ISLNK(st.st_mode):
            return {"kind": "symlink", "target": os.readlink(self.file)}
        import base64  # only dns: file needs it

        content = atomic.read_regular(self.file, MAX_FILE_BYTES, follow=False)  # never a FIFO's endless wait
        return {"kind": "file", "mode": stat.S_IMODE(st.st_mode), "uid": st.st_uid, "gid": st.st_gid,
                "content": base64.b64encode(content).decode()}

    def _restore_file(self) -> Path | None:
        """What our backup recorded, put back; the file put back, or None when we have no backup."""
        try:
            old = _load(self.backup)
        except FileNotFoundError:
            return None
        except OSError as exc:
            log.error("%s: dns: %s is not trusted (%s): %s left as it is", self.profile, self.backup,
                      exc.strerror or exc, self.file)
            return None
        return self._put_back(old)

    def _put_back(self, old: dict[str, Any]) -> Path | None:
        target = Path(old["file"]) if isinstance(old.get("file"), str) and old["file"].startswith("/") \
            else self.file
        kind = old.get("kind")
        if kind == "symlink" and isinstance(old.get("target"), str):
            atomic.symlink(old["target"], target)
        elif kind == "none":
            with contextlib.suppress(FileNotFoundError):
                target.unlink()
        elif kind == "file":
            import base64

            content = old["raw"] if "raw" in old else base64.b64decode(str(old.get("content", "")))
            mode = old.get("mode") if isinstance(old.get("mode"), int) else 0o644
            atomic.write(target, content, mode=mode & 0o7777)
            uid, gid = old.get("uid"), old.get("gid")
            if isinstance(uid, int) and isinstance(gid, int):
                with contextlib.suppress(OSError):
                    os.chown(target, uid, gid)
        else:
            log.error("%s: dns: %s is damaged; %s left as it is", self.profile, self.backup, target)
        self.backup.unlink()  # after the file is back: another profile's claim check sees it till then
        return target if kind in ("symlink", "none", "file") else None


def _load(path: Path) -> dict[str, Any]:
    """A backup that only we can have written (regular, ours, one link, never through a symlink:
    OSError otherwise); an older bg-pppd's bare content comes back as a ``file`` record."""
    raw = atomic.read_regular(path, MAX_BACKUP_BYTES, follow=False, ours=True)
    try:
        old = json.loads(raw)
    except ValueError:
        old = None
    return old if isinstance(old, dict) else {"kind": "file", "mode": 0o644, "raw": raw}


@contextlib.contextmanager
def _locked(directory: Path) -> Iterator[None]:
    """flock on the state dir itself; bounded: another user can open a shared one and hold it."""
    import fcntl
    import time

    fd = atomic.open_nofollow(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        deadline = time.monotonic() + LOCK_WAIT
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise OSError(errno.EWOULDBLOCK, f"{directory} stays locked by another process") from None
                time.sleep(0.02)
        yield
    finally:
        os.close(fd)
