"""The network's DNS servers, where the profile says, and taken back when the link goes.

``pppd``: pppd's own /etc/ppp/resolv.conf (usepeerdns), nothing more.
``resolvconf``: ``resolvconf -a IFACE.bg-pppd``; ``resolved``: ``resolvectl dns IFACE``
(per link); ``file``: the servers written to a file, its old content restored;
``none``: nowhere. A missing tool (a busybox image has neither resolvconf nor
resolvectl) is a logged error, never a failure of the link.
"""

from __future__ import annotations

import logging
from pathlib import Path

from . import atomic
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
    except (OSError, subprocess.TimeoutExpired) as exc:
        log.error("%s: dns: %s failed: %s", profile, argv[0], exc)
        return
    if result.returncode:
        log.error("%s: dns: %s exited %d %s", profile, argv[0], result.returncode, result.stderr.strip())


class Dns:
    def __init__(self, profile: str, mode: str, file: str, state_dir: str | Path):
        self.profile, self.mode, self.file = profile, mode, Path(file)
        self.backup = Path(state_dir) / f"{profile}.dns-backup"

    def apply(self, interface: str, servers: list[str]) -> None:
        if not servers or self.mode in ("pppd", "none"):
            return
        lines = "".join(f"nameserver {s}\n" for s in servers)
        if self.mode == "resolvconf":
            _run(self.profile, ["resolvconf", "-a", f"{interface}.bg-pppd"], stdin=lines)
        elif self.mode == "resolved":
            _run(self.profile, ["resolvectl", "dns", interface, *servers])
            _run(self.profile, ["resolvectl", "domain", interface, "~."])
        elif self.mode == "file":
            if not self.backup.exists():
                self.backup.parent.mkdir(parents=True, exist_ok=True)
                old = self.file.read_bytes() if self.file.exists() else b""
                atomic.write(self.backup, old, mode=0o600)
            atomic.write(self.file, f"# written by bg-pppd ({self.profile}, {interface})\n" + lines, mode=0o644)
        log.info("%s: dns: %s via %s", self.profile, " ".join(servers), self.mode)

    def undo(self, interface: str) -> None:
        if self.mode == "resolvconf":
            _run(self.profile, ["resolvconf", "-d", f"{interface}.bg-pppd"])
        elif self.mode == "resolved":
            _run(self.profile, ["resolvectl", "revert", interface])
        elif self.mode == "file" and self.backup.exists():
            atomic.write(self.file, self.backup.read_bytes(), mode=0o644)
            self.backup.unlink()
            log.info("%s: dns: %s restored", self.profile, self.file)
