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
import json
import logging
import os
import stat
from pathlib import Path
from typing import Any

from . import atomic
from .pppd import valid_interface
from .programs import find

log = logging.getLogger("bg_pppd")


def _run(profile: str, argv: list[str], stdin: str | None = None) -> None:
    import subprocess  # only DNS modes that run a tool need it

    tool = find(argv[0])
    if not tool:
        log.error("%s: dns: %s is not installed; DNS servers not applied", profile, argv[0])
        return
    try:
        result = subprocess.run([tool, *argv[1:]], input=stdin or "", capture_output=True, text=True, timeout=15)
    except (OSError, subprocess.SubprocessError, ValueError) as exc:  # ValueError: undecodable output
        log.error("%s: dns: %s failed: %s", profile, argv[0], exc)
        return
    if result.returncode:
        log.error("%s: dns: %s exited %d %s", profile, argv[0], result.returncode, result.stderr.strip())


class Dns:
    """``file`` mode records what was at the path before (a symlink, a file with its mode, or
    nothing) in a backup in the state dir, so that link down, also the next run's after a
    crash, puts exactly that back: a resolvconf or systemd-resolved symlink stays a symlink."""

    def __init__(self, profile: str, mode: str, file: str, state_dir: str | Path):
        self.profile, self.mode, self.file = profile, mode, Path(file)
        self.backup = Path(state_dir) / f"{profile}.dns-backup"

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
                self._write_file(f"# written by bg-pppd ({self.profile}, {interface})\n" + lines)
            except OSError as exc:
                log.error("%s: dns: cannot write %s: %s; DNS servers not applied", self.profile, self.file,
                          exc.strerror or exc)
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
                log.error("%s: dns: cannot restore %s: %s", self.profile, self.file, exc.strerror or exc)
                return
            if restored:
                log.info("%s: dns: %s restored", self.profile, self.file)

    # ----- file mode -------------------------------------------------------------------------

    def _write_file(self, text: str) -> None:
        made = not self.backup.exists()  # else it holds the original, from before our first link up
        if made:
            self.backup.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            atomic.write(self.backup, json.dumps(self._what_is_there()) + "\n", mode=0o600)
        try:
            atomic.write(self.file, text, mode=0o644)
        except OSError:
            if made:  # nothing of ours is there: nothing to undo
                with contextlib.suppress(OSError):
                    self.backup.unlink()
            raise

    def _what_is_there(self) -> dict[str, Any]:
        try:
            st = self.file.lstat()
        except FileNotFoundError:
            return {"kind": "none"}
        if stat.S_ISLNK(st.st_mode):
            return {"kind": "symlink", "target": os.readlink(self.file)}
        import base64  # only dns: file needs it

        return {"kind": "file", "mode": stat.S_IMODE(st.st_mode), "uid": st.st_uid, "gid": st.st_gid,
                "content": base64.b64encode(self.file.read_bytes()).decode()}

    def _restore_file(self) -> bool:
        try:
            raw = self.backup.read_bytes()
        except FileNotFoundError:
            return False
        try:
            old = json.loads(raw)
            if not isinstance(old, dict):
                raise ValueError
        except ValueError:
            old = {"kind": "file", "mode": 0o644, "raw": True}  # an older bg-pppd's backup: the bare content
        kind = old.get("kind")
        if kind == "symlink" and isinstance(old.get("target"), str):
            atomic.symlink(old["target"], self.file)
        elif kind == "none":
            with contextlib.suppress(FileNotFoundError):
                self.file.unlink()
        elif kind == "file":
            import base64

            content = raw if old.get("raw") else base64.b64decode(str(old.get("content", "")))
            mode = old.get("mode") if isinstance(old.get("mode"), int) else 0o644
            atomic.write(self.file, content, mode=mode & 0o7777)
            uid, gid = old.get("uid"), old.get("gid")
            if isinstance(uid, int) and isinstance(gid, int):
                with contextlib.suppress(OSError):
                    os.chown(self.file, uid, gid)
        else:
            log.error("%s: dns: %s is damaged; %s left as it is", self.profile, self.backup, self.file)
        self.backup.unlink()
        return kind in ("symlink", "none", "file")
