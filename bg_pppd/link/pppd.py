"""pppd as a child process: spawn it, read its log, know why it ended, tell when IP is up.

pppd is the one long-lived, supervised child: a ``subprocess.Popen`` in its own
session, its output on a pipe that one thread reads with blocking reads, another
thread in ``wait()``; signals by ``send_signal``. (``sh`` runs the short commands:
util/commands.py.)
"""

from __future__ import annotations

import logging
import os
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from bg_pppd.util.programs import find
from bg_pppd.util.worker import Worker

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
    device: str = ""   # the tty pppd was given (its peer file's first word)
    bad_option: str = ""    # the word of pppd's "unrecognized option '...'"
    unknown_host: str = ""  # the word of pppd's "unknown host: ..." (a word holding ':')
    untrusted: str = ""     # the first fact-like line seen before pppd named its interface
    unsure: str = ""        # an unnamed "Using interface" line, judged by the next fact-like line
    # pppd's count of the link's bytes when it ended ("Sent N bytes, received M bytes."): its first
    # such line once it named its interface (a later one could be the disconnect script's echo)
    sent_bytes: int | None = None
    received_bytes: int | None = None

    @property
    def up(self) -> bool:
        return bool(self.local_ip and self.remote_ip)


# Only lines pppd prints itself, whole. Its log stream also carries chat's REPORT line
# ("chat:  <date> CONNECT <module text>"), chat -v's echo of everything the module sends
# (ppp.debug), and pppd's lines quoting the peer ("Remote message: ...", CHAP messages):
# a pattern that matched inside a line would let the module declare the link up. chat -v
# echoes the module's lines whole, though: those are caught by pppd's link pid file (see
# parse_line's ``named``), by order (pppd's "Connect:" line starts the link after the connect
# script: IP facts before it are dropped) and by the kernel (kernel_disagrees).
_FACTS = [
    (re.compile(r"Using interface (\S+)"), "interface"),
    (re.compile(r"Connect: (\S+) <--> \S.*"), "connect"),
    (re.compile(r"local +IP address (\S+)"), "local_ip"),
    (re.compile(r"remote +IP address (\S+)"), "remote_ip"),
    (re.compile(r"local +LL address (\S+)"), "local_ll"),
    (re.compile(r"remote +LL address (\S+)"), "remote_ll"),
    (re.compile(r"(?:primary|secondary) +DNS address (\S+)"), "dns"),
]
_PROGRAM = r"(?:\S*pppd: )?"  # option errors come before logging starts: prefixed with argv[0]
_BAD_OPTION = re.compile(_PROGRAM + r"In file .*: unrecognized option '(.*)'")
_UNKNOWN_HOST = re.compile(_PROGRAM + r"unknown host: (.*)")
_REASON = re.compile(r"\S*pppd: |Connect script failed|Modem hangup|No response to \d+ echo-requests"
                     r"|LCP terminated by peer|Serial link appears to be disconnected"
                     r"|\S+ authentication failed|Couldn't |Can't get terminal parameters|Failed to open"
                     r"|Terminating on signal|LCP: timeout sending Config-Requests"
                     r"|IPCP: timeout sending Config-Requests|Device \S+ is locked by pid")
_STATS = re.compile(r"Sent (\d{1,20}) bytes, received (\d{1,20}) bytes\.")
_IFNAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,14}")


def valid_interface(name: str) -> bool:
    """A Linux interface name that is safe as an argument and in a /sys path (no '/', no leading '-')."""
    return bool(_IFNAME.fullmatch(name)) and name not in (".", "..")


def _address(text: str, version: int) -> str | None:
    import ipaddress  # only once pppd reports an address

    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    return str(address) if address.version == version else None


def parse_line(info: LinkInfo, line: str, named: Callable[[], bool] | None = None) -> bool:
    """Update ``info`` from one pppd log line; True when the line brought IP up.

    These are claims: IpUp has the kernel confirm them before the link counts as up.
    ``named``: whether pppd has named its interface yet (its link pid file). Before it has,
    the connect script runs, and a line that looks like a fact is chat's (with ppp.debug,
    its echo of the module's bytes, whole lines included): its facts are not taken, and
    ``info.untrusted`` keeps the first such line. Asked only for lines that look like facts.
    """
    was_up = info.up
    for pattern, attr in _FACTS:
        m = pattern.fullmatch(line)
        if m:
            if named is None or named():
                info.unsure = ""  # pppd's own line: it prints it, then writes the file
                _fact(info, attr, m.group(1))
            else:
                _unnamed(info, line, attr)
            break
    if (m := _STATS.fullmatch(line)) and info.sent_bytes is None and info.interface and \
            (named is None or named()):
        info.sent_bytes, info.received_bytes = int(m.group(1)), int(m.group(2))
    elif m := _BAD_OPTION.fullmatch(line):
        info.bad_option = m.group(1)
    elif m := _UNKNOWN_HOST.fullmatch(line):
        info.unknown_host = m.group(1)
    if _REASON.match(line):
        info.reason = line.strip()
    return info.up and not was_up


def _unnamed(info: LinkInfo, line: str, attr: str) -> None:
    """A fact-like line before pppd named its interface: not taken; the first kept as a sign.

    pppd prints "Using interface" just before it writes its link pid file (set_ifunit): a
    reader often sees its own line first. Such a line is judged by the next fact-like one
    (pppd's "Connect:" follows at once): named by then, it was pppd's.
    """
    if info.unsure and not info.untrusted:
        info.untrusted = info.unsure
    info.unsure = ""
    if attr == "interface":
        info.unsure = line
    elif not info.untrusted:
        info.untrusted = line


def _fact(info: LinkInfo, attr: str, value: str) -> None:
    if attr in ("interface", "connect"):
        if valid_interface(value):
            info.interface = value
            if attr == "connect":
                # pppd starts the link here (start_link, after set_ifunit), once the connect
                # script has ended: IP facts read before it are chat's, whatever the reader's lag
                info.local_ip = info.remote_ip = ""
                info.dns.clear()
        return
    address = _address(value, 6 if attr.endswith("_ll") else 4)
    if address is None:
        return
    if attr == "local_ip":
        # pppd's IP-up burst starts here and its DNS lines follow: DNS "seen" before it
        # (chat -v echoing the module during the dial) is not the network's
        info.local_ip = address
        info.dns.clear()
    elif attr == "remote_ip":
        info.remote_ip = address
    elif attr == "local_ll":
        info.local_ip = info.local_ip or address
    elif attr == "remote_ll":
        info.remote_ip = info.remote_ip or address
    elif address not in info.dns:
        info.dns.append(address)


def device_missing(info: LinkInfo) -> bool:
    """pppd's option error is its tty: the path did not exist (a USB port re-enumerating), so
    pppd read the word as an option, or, holding ':' (/dev/serial/by-path/...), as an IP pair."""
    device = info.device
    if not device:
        return False
    return info.bad_option == device or (":" in device and info.unknown_host == device.split(":", 1)[0])


def permanent(code: int, info: LinkInfo) -> str | None:
    """What to fix when a retry or reset cannot mend this exit; None when one can."""
    if code == 2 and device_missing(info):
        return None
    return PERMANENT.get(code)


def describe_exit(code: int | None, info: LinkInfo) -> str:
    if code is None:
        return info.reason or "pppd ended"
    if code == 2 and device_missing(info):
        return f"the PPP port {info.device} was missing (or no tty) when pppd started (exit 2)"
    if code < 0:
        text = f"pppd killed by signal {-code}"
    else:
        text = f"{EXIT_MEANING.get(code, 'pppd failed')} (exit {code})"
    return f"{text}: {info.reason}" if info.reason and code != 4 else text


# ----- what the kernel says ----------------------------------------------------------------------

SIOCGIFFLAGS, SIOCGIFADDR, SIOCGIFDSTADDR = 0x8913, 0x8915, 0x8917  # <linux/sockios.h>
IFF_UP, IFF_POINTOPOINT = 0x1, 0x10


def _ifreq(sock, request: int, name: str) -> bytes:
    import fcntl
    import struct

    return fcntl.ioctl(sock.fileno(), request, struct.pack("16s16s", name.encode(), b""))


def _kernel_ipv4(name: str) -> tuple[int, str, str]:
    """(flags, local, peer) of interface ``name``; OSError when it has no IPv4 address."""
    import socket
    import struct

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        flags = struct.unpack_from("H", _ifreq(sock, SIOCGIFFLAGS, name), 16)[0]
        local = socket.inet_ntoa(_ifreq(sock, SIOCGIFADDR, name)[20:24])
        peer = socket.inet_ntoa(_ifreq(sock, SIOCGIFDSTADDR, name)[20:24])
    return flags, local, peer


def _kernel_flags(name: str) -> int:
    import socket
    import struct

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        return struct.unpack_from("H", _ifreq(sock, SIOCGIFFLAGS, name), 16)[0]


def _kernel_ipv6(name: str) -> list[str]:
    import ipaddress

    found = []
    try:
        with open("/proc/net/if_inet6") as table:
            for row in table:
                fields = row.split()
                if len(fields) == 6 and fields[5] == name:
                    found.append(str(ipaddress.IPv6Address(bytes.fromhex(fields[0]))))
    except (OSError, ValueError):
        pass
    return found


# Where pppd writes its link pid file, ppp-LINKNAME.pid: 2.4's _PATH_VARRUN, and 2.5's default
# runtime dir (${localstatedir}/run/pppd)
LINK_PID_DIRS = ("/run", "/var/run", "/run/pppd", "/var/run/pppd")


def link_pid_files(linkname: str) -> list[str]:
    return [f"{directory}/ppp-{linkname}.pid" for directory in LINK_PID_DIRS]


def pppd_interface(linkname: str, pid: int) -> str | None:
    """The interface pppd ``pid`` named in its link pid file (``PID\\nIFNAME``), once it has.

    pppd writes the file with its pid alone at start, and again with the interface when it
    prints "Using interface" (set_ifunit, after the connect script has ended): before that,
    no log line is pppd's word on the link. A file of another pid is another pppd's, or stale.
    """
    from bg_pppd.util.safe_files import read_regular

    for path in link_pid_files(linkname):
        try:
            words = read_regular(path, 256, follow=False, ours=True).decode("ascii", "replace").split()
        except OSError:
            continue
        if len(words) >= 2 and words[0] == str(pid) and valid_interface(words[1]):
            return words[1]
    return None


def kernel_disagrees(info: LinkInfo, linkname: str = "", pid: int | None = None) -> str:
    """Why the kernel does not back what pppd's log claims ('' when it does).

    The log can be spoofed by the module (see _FACTS); the interface that pppd ``pid``
    named in its link pid file, with the addresses IPCP set on it, cannot. Without
    ``linkname`` and ``pid`` only the kernel's interface is checked.
    """
    name = info.interface
    if not valid_interface(name):
        return f"no valid interface name ({name!r})"
    if pid is not None and linkname:
        own = pppd_interface(linkname, pid)
        if own is None:
            return f"pppd {pid} has not named its interface yet (no {link_pid_files(linkname)[0]} of its own)"
        if own != name:
            return f"pppd {pid} runs on {own}, not {name}"
    if ":" in info.local_ip:
        try:
            flags = _kernel_flags(name)
        except OSError as exc:
            return f"no interface {name} ({exc.strerror})"
        if info.local_ip not in _kernel_ipv6(name):
            return f"{name} does not hold {info.local_ip}"
    else:
        try:
            flags, local, peer = _kernel_ipv4(name)
        except OSError as exc:
            return f"{name} has no IPv4 address ({exc.strerror})"
        if (local, peer) != (info.local_ip, info.remote_ip):
            return f"{name} holds {local} peer {peer}"
    if not (flags & IFF_UP and flags & IFF_POINTOPOINT):
        return f"{name} is not an up point-to-point interface"
    return ""


_UNPRINTABLE = re.compile(r"[\x00-\x1f\x7f]")  # never into the journal as they are


class IpUp:
    """pppd's log lines into ``info``, and ``on_up`` once, when pppd's IP-up burst is over and
    the kernel backs it.

    pppd prints the addresses, then the primary and secondary DNS server, in one burst: the
    link is reported up once the burst is over, so that status, DNS and on_up see all of it.
    The secondary is pppd's last line; after the primary another may still come. A claim
    the kernel does not back came from text the module controls: it is logged once and the
    watch waits for pppd's own lines. ``timer(delay, action)`` makes the settling delays (an
    unstarted Worker by default; tests pass a fake): IpUp starts and cancels them.
    """

    def __init__(self, profile: str, info: LinkInfo, linkname: str, use_peer_dns: bool,
                 on_up: Callable[[LinkInfo], None], log: logging.Logger,
                 timer: Callable[[float, Callable[[], None]], Any] | None = None):
        self.profile, self.info, self.linkname, self.use_peer_dns = profile, info, linkname, use_peer_dns
        self.on_up, self.log, self.timer = on_up, log, timer or _after
        self.pid: int | None = None  # pppd's, once spawned: lines may come before we know it
        self.posted = threading.Event()
        self._pending: Any = None
        self._named = ""  # the interface pppd named in its link pid file, once it has
        self._rejected: set[tuple[str, str, str]] = set()

    def spawned(self, pid: int) -> None:
        self.pid = pid

    def named(self) -> bool:
        """Whether pppd has named its interface (its link pid file); before, lines are chat's."""
        if not self._named and self.pid is not None:
            self._named = pppd_interface(self.linkname, self.pid) or ""
        return bool(self._named)

    def line(self, line: str) -> None:
        """One line of pppd's output (its log)."""
        if not line.strip():
            return
        info = self.info
        self.log.info("%s: pppd: %s", self.profile, _UNPRINTABLE.sub("?", line))
        before = (info.interface, info.local_ip, info.remote_ip, len(info.dns))
        spoofed = info.untrusted
        came_up = parse_line(info, line, self.named)
        if info.untrusted and not spoofed:  # once per pppd: the module speaks for pppd
            self.log.warning("%s: pppd's log shows %r before pppd named its interface: the module's text "
                             "(the connect script's echo), not pppd's; not trusted", self.profile,
                             _UNPRINTABLE.sub("?", info.untrusted))
        if self.posted.is_set() or not info.up:
            return
        if len(info.dns) > before[3]:
            self._settle(0.0 if line.startswith("secondary") else 0.05)
        elif came_up or before != (info.interface, info.local_ip, info.remote_ip, len(info.dns)):
            self._settle(0.5 if self.use_peer_dns else 0.0)

    def _settle(self, delay: float) -> None:
        if self._pending is not None:
            self._pending.cancel()
        self._pending = self.timer(delay, self._post_up)
        self._pending.start()

    def _post_up(self) -> None:
        info = self.info
        if self.posted.is_set() or not info.up or self.pid is None:
            return
        why = kernel_disagrees(info, self.linkname, self.pid)
        if why:
            claim = (info.interface, info.local_ip, info.remote_ip)
            if claim not in self._rejected:
                self._rejected.add(claim)
                self.log.warning("%s: pppd's log claims IP up on %s (%s peer %s), but the kernel disagrees: "
                                 "%s; not trusted", self.profile, *claim, why)
            return
        self.posted.set()
        self.on_up(info)


def _after(delay: float, action: Callable[[], None]) -> Worker:
    """``action`` once ``delay`` s have passed, unless cancelled first (not started yet)."""
    def body(worker: Worker) -> None:
        if worker.wait(delay) == "timeout":
            action()
    return Worker("pppd-settle", body, start=False)


class PppdProcess:
    """One pppd run. Callbacks arrive on its two Workers (log, wait); they only post events."""

    def __init__(self, peer: str, on_line: Callable[[str], None], on_exit: Callable[[int], None],
                 extra: list[str] | None = None, pppd: str | None = None):
        import subprocess  # imported late: only `up` needs it

        self.on_exit, self.on_line = on_exit, on_line
        args = ["file", peer, "nodetach", *(extra or [])]
        # pppd's output (stderr too) goes to a pipe we read with blocking reads: an idle
        # supervisor must not wake up. Its own session: a signal to ours is not its, and
        # its tty (the modem) can become its controlling terminal.
        read_fd, write_fd = os.pipe()
        try:
            self.proc = subprocess.Popen([pppd or find_pppd(), *args], stdin=subprocess.DEVNULL, stdout=write_fd,
                                         stderr=subprocess.STDOUT, start_new_session=True, close_fds=True)
        except BaseException:
            os.close(read_fd)
            raise
        finally:
            os.close(write_fd)
        self.pid: int = self.proc.pid
        self.exit_code: int | None = None
        # not cancelled ever: the reader ends at pppd's EOF, the waiter at its exit
        self._reader = Worker("pppd-log", lambda _w: self._read(read_fd), start=False)
        self._waiter = Worker("pppd-wait", lambda _w: self._wait(), start=False)
        try:
            self._reader.start()
            self._waiter.start()
        except BaseException:  # pppd runs, but could not be watched: it must not run unsupervised
            self.kill()
            if not self._reader.alive():
                os.close(read_fd)
            raise

    def _read(self, fd: int) -> None:
        # lines end at "\n" only: a "\r" inside chat's REPORT text must not start a line of its own
        with os.fdopen(fd, "r", errors="replace", newline="\n") as stream:
            for line in stream:
                self.on_line(line.rstrip("\n"))

    def _wait(self) -> None:
        code = self.proc.wait()  # negative: killed by that signal
        self._reader.join(5)  # the last lines (why it ended) before the exit event
        self.exit_code = code
        self.on_exit(code)

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
                self.proc.send_signal(sig)  # nothing once Popen has reaped it: never another pid
            except OSError:  # ProcessLookupError among them
                pass

    def join(self, timeout: float | None = None) -> bool:
        return self._waiter.join(timeout)
