"""The active link check: ping, or a TCP connect when the target has a port.

The vendor: when the host cannot pass data after PPP is up, check and then
restart. LCP echo only proves the module answers; a probe proves packets
reach the network. It runs while connected, sleeps between probes (no
polling), and reports the link dead after ``failures`` misses in a row.

Data costs money on LPWA plans: like pppd's adaptive LCP echo, no probe is
sent while the interface receives traffic anyway, and a daily byte budget
stretches the interval so that a day's probes fit in it.
"""

from __future__ import annotations

import errno
import math
import socket
from collections.abc import Callable

from bg_pppd.link.pppd import valid_interface
from bg_pppd.link.traffic import interface_counters
from bg_pppd.profile.probe_target import parse_target
from bg_pppd.util import commands
from bg_pppd.util.programs import find
from bg_pppd.util.worker import Worker

DAY = 86400.0
PING_PAYLOAD = 16  # bytes of ICMP payload: enough to match the reply, cheap on the air
# bytes on the air per probe, both directions, IPv4: echo + reply; SYN, SYN-ACK, ACK, FIN/ACK x2, ACK
COST = {"ping": 2 * (20 + 8 + PING_PAYLOAD), "tcp": 2 * 60 + 52 + 3 * 52}


def probe_cost(target: str) -> int:
    return COST["tcp" if parse_target(target)[1] is not None else "ping"]


def spacing(interval: float, budget: int, cost: int) -> float:
    """Seconds between probes: the profile's interval, stretched to fit ``budget`` bytes a day."""
    if budget <= 0:
        return interval
    return max(interval, DAY * cost / budget)


def received_bytes(interface: str) -> int | None:
    """What the interface has received so far (None when unknown)."""
    counters = interface_counters(interface)
    return None if counters is None else counters[0]


def probe_once(target: str, interface: str, timeout: float) -> tuple[bool, str]:
    """One probe through ``interface``; (reachable, why not)."""
    try:
        host, port = parse_target(target)
    except ValueError as exc:
        return False, str(exc)
    if interface and not valid_interface(interface):
        return False, f"{interface!r} is no interface name"
    if port is None:
        ping = find("ping") or "/bin/ping"
        args = [ping, "-c", "1", "-s", str(PING_PAYLOAD), "-W", str(max(1, math.ceil(timeout)))]
        if interface:
            args += ["-I", interface]
        # "--": the host is never an option (iputils and busybox ping both take it)
        done = commands.run([*args, "--", host], timeout=timeout + 2)
        if done.exit_code is None:
            return False, f"ping: {done.error}"
        return done.ok, "no echo reply"
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as exc:
        return False, f"cannot resolve {host}: {exc}"
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as sock:
        sock.settimeout(timeout)
        if interface:
            try:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, interface.encode())
            except OSError:
                pass  # not root: the routing table decides
        try:
            sock.connect(address)
        except ConnectionRefusedError:
            return True, ""  # the far end answered: packets pass
        except OSError as exc:
            return False, f"TCP {host}:{port}: {exc.strerror or errno.errorcode.get(exc.errno, exc)}"
    return True, ""


class Prober:
    """Probes every ``interval`` until cancelled; calls ``dead`` once after ``failures`` misses.

    ``probe`` and ``received`` are the I/O (one probe; the interface's byte
    counter), replaceable in tests.
    """

    def __init__(self, target: str, interface: str, interval: float, failures: int, timeout: float,
                 dead: Callable[[str], None], log: Callable[[str], None], budget: int = 0,
                 when_idle: bool = True,
                 probe: Callable[[str, str, float], tuple[bool, str]] = probe_once,
                 received: Callable[[str], int | None] = received_bytes):
        self.args = (target, interface, failures, timeout)
        self.interval = spacing(interval, budget, probe_cost(target))
        self.when_idle = when_idle
        self.dead, self.log, self.probe, self.received = dead, log, probe, received
        self.sent = 0
        if self.interval > interval:
            log(f"probe every {self.interval:g} s instead of {interval:g} s: a probe costs about "
                f"{probe_cost(target)} bytes, the budget is {budget} bytes a day")
        # a ping in flight when cancelled reports nothing: what it tells goes through the worker
        self.worker = Worker("probe", lambda _w: self._run(), post=lambda tell, *args: tell(*args), start=False)
        self.cancelled, self.thread = self.worker.cancelled, self.worker.thread
        self.worker.start()

    def cancel(self) -> None:
        self.worker.cancel()

    def _run(self) -> None:
        target, interface, failures, timeout = self.args
        misses = 0
        seen = self.received(interface)
        while self.worker.wait(self.interval) != "cancel":
            now = self.received(interface)
            if self.when_idle and now is not None and seen is not None and now > seen:
                seen, misses = now, 0  # traffic arrived since the last look: packets pass
                continue
            self.sent += 1
            ok, why = self.probe(target, interface, timeout)
            seen = self.received(interface)  # our own reply is not traffic
            if ok:
                misses = 0
                continue
            misses += 1
            self.worker.post(self.log, f"probe {target} failed ({misses}/{failures}): {why}")
            if misses >= failures:
                self.worker.post(self.dead, f"probe: {target} unreachable {failures} times in a row ({why})")
                return
