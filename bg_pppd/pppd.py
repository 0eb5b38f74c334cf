"""pppd as a child process: spawn it through ``sh``, read its log, know why it ended.

Only the part of the ``sh`` API that behaves the same in sh 1.14 (Debian 12)
and sh 2.x is used: Command(), _bg, _out (a file descriptor), _err_to_out,
_ok_code, _new_session, _bg_exc, .pid, .signal(), .wait(), .exit_code.
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from .programs import find

# pppd(8) EXIT STATUS
EXIT_MEANING = {
    0: "pppd ended normally", 1: "pppd fatal error", 2: "pppd option error",
    3: "pppd is not running as root", 4: "the kernel lacks PPP support",
    5: "pppd was told to stop", 6: "the serial port is locked by another process",
    7: "the serial port could not be opened", 8: "the connect script (chat) failed",
    9: "the pty command failed", 10: "PPP negotiation failed", 11: "the peer failed to authenticate",
    12: "idle timeout", 13: "connect time limit", 14: "callback", 15: "the peer stopped answering LCP echo",
    16: "the modem hung up", 17: "the link is looped back", 18: "the init script failed",
    19: "authentication to the network failed",
}
# Statuses a retry or module reset cannot mend: the configuration or the host is wrong.
PERMANENT = {2: "fix the profile (pppd rejected an option)", 3: "run bg-pppd as root",
             4: "load the PPP modules: modprobe ppp_generic ppp_async (CONFIG_PPP, CONFIG_PPP_ASYNC)"}


def find_pppd() -> str:
    return find("pppd") or "/usr/sbin/pppd"


@dataclass
class LinkInfo:
    interface: str = ""
    local_ip: str = ""
    remote_ip: str = ""
    dns: list[str] = field(default_factory=list)
    reason: str = ""   # the last line that explains an ending

    @property
    def up(self) -> bool:
        return bool(self.local_ip and self.remote_ip)


_PATTERNS = [
    (re.compile(r"Using interface (\S+)"), "interface"),
    (re.compile(r"Connect: (\S+) <-->"), "interface"),
    (re.compile(r"local\s+IP address (\S+)"), "local_ip"),
    (re.compile(r"remote IP address (\S+)"), "remote_ip"),
    (re.compile(r"local\s+LL address (\S+)"), "local_ll"),
    (re.compile(r"remote LL address (\S+)"), "remote_ll"),
    (re.compile(r"(?:primary|secondary)\s+DNS address (\S+)"), "dns"),
]
_REASONS = ("Connect script failed", "Modem hangup", "No response to", "LCP terminated by peer",
            "Serial link appears to be disconnected", "authentication failed", "Couldn't open",
            "unrecognized option", "Device or resource busy", "Can't get terminal parameters",
            "Failed to open", "Terminating on signal", "LCP: timeout sending Config-Requests",
            "IPCP: timeout sending Config-Requests", "is locked by pid", "Connection terminated")


def parse_line(info: LinkInfo, line: str) -> bool:
    """Update ``info`` from one pppd log line; True when the line brought IP up."""
    was_up = info.up
    for pattern, attr in _PATTERNS:
        m = pattern.search(line)
        if not m:
            continue
        value = m.group(1)
        if attr == "dns":
            if value not in info.dns:
                info.dns.append(value)
        elif attr == "local_ll":
            info.local_ip = info.local_ip or value
        elif attr == "remote_ll":
            info.remote_ip = info.remote_ip or value
        else:
            setattr(info, attr, value)
    if any(r in line for r in _REASONS) and "Connection terminated" not in line:
        info.reason = line.strip()
    return info.up and not was_up


def describe_exit(code: int | None, info: LinkInfo) -> str:
    if code is None:
        return info.reason or "pppd ended"
    if code < 0:
        text = f"pppd killed by signal {-code}"
    else:
        text = f"{EXIT_MEANING.get(code, 'pppd failed')} (exit {code})"
    return f"{text}: {info.reason}" if info.reason and code != 4 else text


class PppdProcess:
    """One pppd run. Callbacks arrive on sh's threads; they only post events."""

    def __init__(self, peer: str, on_line: Callable[[str], None], on_exit: Callable[[int], None],
                 extra: list[str] | None = None, pppd: str | None = None):
        import sh  # imported late: only `up` needs it

        self.on_exit, self.on_line = on_exit, on_line
        args = ["file", peer, "nodetach", *(extra or [])]
        # pppd's output goes to a pipe we read with blocking reads: sh's own output
        # threads would poll, and an idle supervisor must not wake up
        read_fd, write_fd = os.pipe()
        try:
            self.proc = sh.Command(pppd or find_pppd())(
                *args, _bg=True, _bg_exc=False, _out=write_fd, _err_to_out=True, _new_session=True,
                _ok_code=list(range(256)))
        except BaseException:
            os.close(read_fd)
            raise
        finally:
            os.close(write_fd)
        self.pid: int = self.proc.pid
        self.exit_code: int | None = None
        self._reader = threading.Thread(target=self._read, args=(read_fd,), name="pppd-log", daemon=True)
        self._reader.start()
        self._waiter = threading.Thread(target=self._wait, name="pppd-wait", daemon=True)
        self._waiter.start()

    def _read(self, fd: int) -> None:
        with os.fdopen(fd, "r", errors="replace") as stream:
            for line in stream:
                self.on_line(line.rstrip("\n"))

    def _wait(self) -> None:
        import sh

        try:
            self.proc.wait()
        except sh.ErrorReturnCode:
            pass  # killed by a signal: exit_code is negative
        self._reader.join(5)  # the last lines (why it ended) before the exit event
        self.exit_code = self.proc.exit_code
        self.on_exit(self.exit_code if self.exit_code is not None else 1)

    def terminate(self) -> None:
        """SIGTERM: pppd sends LCP Terminate-Request, runs the disconnect script, exits."""
        self._signal(15)

    def hangup(self) -> None:
        """SIGHUP: pppd ends the link, after one LCP Terminate-Request and lcp-restart's wait."""
        self._signal(1)

    def kill(self) -> None:
        self._signal(9)

    def _signal(self, sig: int) -> None:
        if self.exit_code is None:
            try:
                self.proc.signal(sig)
            except (ProcessLookupError, OSError):
                pass

    def join(self, timeout: float | None = None) -> bool:
        self._waiter.join(timeout)
        return not self._waiter.is_alive()
