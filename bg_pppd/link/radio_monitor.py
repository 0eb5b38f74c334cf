"""While connected: the radio's state and the held-back URCs, without ending the link.

USB (``AtPortMonitor``): the module answers AT commands on its AT port while
PPP runs on the modem port, so the queries go there and URCs that arrive in
between (an SMS, a call) are handed on at once.

Main UART (``EscapeMonitor``, opt-in): the relay pauses the link, ``+++``
switches to command mode, the queries run (and the URCs the module held back
since its RI pulse are read), and ``ATO`` resumes PPP. A module that cannot go
back to data mode means the link is dead.

Both end the link at once on a URC that says the network ended our PDP context
(modem.network_end: ``+CGEV: NW PDN DEACT``, ``+QIURC: "pdpdeact"``): the module keeps
answering LCP, so LCP echo never notices. On USB that is within one read of the URC
(the AT port is always watched, also with ``interval`` 0: then URCs only, no queries);
on the main UART, with ``read_urcs``, in the round after the RI pulse.

Both are Workers (util.worker): they sleep in select() between rounds (no polling) and wake at once
on cancel. A failing port (the module rebooting) is logged once per kind of
failure and tried again each interval.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable
from typing import Any

from bg_pppd.modem import network_end, radio
from bg_pppd.modem.at_channel import AtChannel, AtTimeout, PortGone
from bg_pppd.modem.serial_port import open_port
from bg_pppd.profile.model import Profile
from bg_pppd.util.worker import Worker

QUERY_TIMEOUT = 10.0  # one status query; a module that needs longer is busy, not answering
URC_WAIT = 0.3        # after command mode is entered, the module reports what it held back
ROUND_PAUSE = 3.0     # a +++ / queries / ATO round holds the link about this long (two 1.1 s guards)
MIN_DATA_MODE = 5.0   # at least this long in data mode between two rounds, so LCP echo gets through
RETRY_WAIT = 5.0      # a failing AT port with interval 0 (URCs only): tried again this often

Radio = Callable[[dict[str, Any]], None]
Urcs = Callable[[list[str]], None]


def ring_urcs(urcs: list[str]) -> list[str]:
    return [u for u in urcs if u.startswith(radio.RING_URCS)]


class _Monitor:
    """A Worker that sleeps between rounds; cancel() and poke() wake it (util.worker)."""

    def __init__(self, profile: Profile, log: Callable[[str], None], name: str):
        self.p, self.log = profile, log
        self.interval = profile.monitor.interval
        self.names = radio.registration_commands(profile.network.technologies)
        self.timeout = min(QUERY_TIMEOUT, profile.recovery.at_timeout)
        self._failing = ""
        # what it tells (radio, URCs, a dead link) goes through the worker: nothing after cancel
        self.worker = Worker(name, lambda _w: self.run(), post=lambda tell, *args: tell(*args), start=False)
        self.cancelled = self.worker.cancelled
        self.thread = self.worker.thread
        self.worker.start()

    def cancel(self) -> None:
        self.worker.cancel()

    def poke(self) -> None:
        self.worker.poke()

    def _wait(self, seconds: float | None, fd: int | None = None) -> str:
        """Sleep up to ``seconds`` (None: until poked); 'data' (fd readable), 'poke'/'cancel' or 'timeout'."""
        return self.worker.wait(seconds, *([fd] if fd is not None else []))

    def _tell(self, tell: Callable[..., None], *args: Any) -> None:
        self.worker.post(tell, *args)

    def _failed(self, exc: Exception) -> None:
        if str(exc) != self._failing:
            self._failing = str(exc)
            self.log(f"monitor: {exc}")

    def run(self) -> None:
        raise NotImplementedError

    def query(self, at: AtChannel) -> dict[str, Any]:
        return radio.read_radio(lambda c, prefix: at.command(c, info_prefix=prefix), self.names)


class AtPortMonitor(_Monitor):
    """The separate AT port: the radio queried every ``interval`` (the first at once; 0: never),
    and every URC read as it arrives, between queries too (blocked in select on the port, with
    the worker's cancel). A URC that says the network ended our PDP context ends the link at
    once (``dead``): the module answers LCP itself, so LCP echo would never notice."""

    def __init__(self, profile: Profile, on_radio: Radio, on_urcs: Urcs, log: Callable[[str], None],
                 opener: Callable[..., Any] = open_port, dead: Callable[[str], None] | None = None):
        self.on_radio, self.on_urcs, self.opener = on_radio, on_urcs, opener
        self.dead = dead
        self.cid = network_end.dial_cid(profile.network.dial_number)
        self.ended = False
        super().__init__(profile, log, "monitor")

    def run(self) -> None:
        while not self.cancelled.is_set() and not self.ended:
            try:
                self._session()
            except (PortGone, AtTimeout, OSError, ValueError) as exc:
                self._failed(exc)
                self._wait(self.interval or RETRY_WAIT)

    def _session(self) -> None:
        ser = self.opener(self.p, self.p.modem.port)
        try:
            at = AtChannel(ser, timeout=self.timeout)
            fd = ser.fileno()
            # +CGEV on this port; a firmware without it still sends +QIURC: "pdpdeact"
            at.command(network_end.ENABLE)
            self._failing = ""
            while not self.cancelled.is_set() and not self.ended:
                if self.interval > 0:
                    self._tell(self.on_radio, self.query(at))
                    self._failing = ""
                if self._hand_on(at.take_urcs()):
                    return
                deadline = at.clock() + self.interval if self.interval > 0 else None
                while not self.cancelled.is_set():
                    left = None if deadline is None else deadline - at.clock()
                    if left is not None and left <= 0:
                        break
                    if self._wait(left, fd) == "data":
                        at.poll(0)
                        if self._hand_on(at.take_urcs()):
                            return
        finally:
            with contextlib.suppress(OSError):  # a vanished port: keep the first error
                ser.close()

    def _hand_on(self, urcs: list[str]) -> bool:
        """Rings to on_urcs; True when one of ``urcs`` ended the data call (told to ``dead``)."""
        events = ring_urcs(urcs)
        if events:
            self._tell(self.on_urcs, events)
        reason = network_end.first_end(urcs, self.cid)
        if reason and self.dead is not None:
            self.ended = True
            self._tell(self.dead, reason)
            return True
        return False


class EscapeMonitor(_Monitor):
    """Rounds every ``interval`` (with ``escape``) and after each RI pulse (with ``read_urcs``)."""

    def __init__(self, profile: Profile, relay: Any, on_radio: Radio, on_urcs: Urcs,
                 dead: Callable[[str], None], log: Callable[[str], None]):
        self.relay, self.on_radio, self.on_urcs, self.dead = relay, on_radio, on_urcs, dead
        self.ring_pending = threading.Event()
        self.cid = network_end.dial_cid(profile.network.dial_number)
        self.events_on = False  # AT+CGEREP sent (in the first round)
        super().__init__(profile, log, "monitor-escape")

    def ring(self) -> None:
        """An RI pulse: read the URCs the module holds back, in a round of their own."""
        self.ring_pending.set()
        self.poke()

    def run(self) -> None:
        periodic = self.p.monitor.escape and self.interval > 0
        clock = time.monotonic
        next_query = clock() + self.interval if periodic else None
        last_round = clock()  # the link just came up: give it time in data mode first
        while not self.cancelled.is_set():
            self._wait(None if next_query is None else next_query - clock())
            if self.cancelled.is_set():
                return
            query_due = next_query is not None and clock() >= next_query
            if not (query_due or self.ring_pending.is_set()):
                continue
            rest = MIN_DATA_MODE - (clock() - last_round)
            if rest > 0:
                self._wait_out(rest)
                if self.cancelled.is_set():
                    return
            urcs_wanted = self.ring_pending.is_set()
            self.ring_pending.clear()
            if not self._round(query_due, urcs_wanted):
                return
            last_round = clock()
            if query_due:
                next_query = clock() + self.interval

    def _wait_out(self, seconds: float) -> None:
        """Sleep the whole time, however often poked (a ring waits for the round after it)."""
        end = time.monotonic() + seconds
        while not self.cancelled.is_set() and time.monotonic() < end:
            self._wait(end - time.monotonic())

    def _round(self, query: bool, urcs_wanted: bool) -> bool:
        """One +++ / queries / ATO round; False when the link is dead."""
        from bg_pppd.link.relay import LinkLost

        found: dict[str, Any] = {}
        urcs: list[str] = []
        held: list[str] = []
        try:
            with self.relay.command_mode(self.timeout) as at:
                if at is None:
                    self._failed(RuntimeError("no OK to +++: the link stays in data mode"))
                    return True
                at.poll(URC_WAIT)
                held = at.take_urcs()
                if not self.events_on:  # +CGEV from now on: held in data mode, read in these rounds
                    try:
                        self.events_on = at.command(network_end.ENABLE).ok
                    except AtTimeout as exc:
                        self._failed(exc)
                if query:
                    try:
                        found = self.query(at)
                    except AtTimeout as exc:  # a slow answer; ATO below tells if the link lives
                        self._failed(exc)
                held += at.take_urcs()
                urcs = ring_urcs(held)
        except LinkLost as exc:
            self._tell(self.dead, str(exc))
            return False
        except AtTimeout as exc:  # ATO unanswered: neither command nor data mode works
            self._tell(self.dead, f"the module stopped answering in command mode: {exc}")
            return False
        except (PortGone, OSError) as exc:
            self._failed(exc)
            return True
        self._failing = ""
        if found:
            self._tell(self.on_radio, found)
        if urcs or urcs_wanted:  # a ring round reports even nothing: on_ring still runs
            self._tell(self.on_urcs, urcs)
        ended = network_end.first_end(held, self.cid)  # ATO still connects: the module kept PPP
        if ended:
            self._tell(self.dead, ended)
            return False
        return True
