"""While connected: the radio's state from the module's separate AT port (USB).

A USB module answers AT commands on its AT port while PPP runs on the modem
port, so signal, registration, operator and technology can be read without
touching the link. URCs that arrive there between queries (an SMS, a call)
are handed on. The thread sleeps in select() between queries: no polling.
A port that fails (the module rebooting) is logged once and tried again
each interval; the link's own watchers decide whether the link is dead.
"""

from __future__ import annotations

import os
import select
import threading
from collections.abc import Callable
from typing import Any

from . import radio
from .atchannel import AtChannel, AtTimeout, PortGone
from .port import open_port
from .profile import Profile

QUERY_TIMEOUT = 10.0  # one status query; a module that needs longer is busy, not answering


class Monitor:
    def __init__(self, profile: Profile, on_radio: Callable[[dict[str, Any]], None],
                 on_urcs: Callable[[list[str]], None], log: Callable[[str], None],
                 opener: Callable[..., Any] = open_port):
        self.p, self.on_radio, self.on_urcs, self.log, self.opener = profile, on_radio, on_urcs, log, opener
        self.interval = profile.monitor.interval
        self.names = radio.registration_commands(profile.network.technologies)
        self.cancelled = threading.Event()
        self._wake_r, self._wake_w = os.pipe()
        self.thread = threading.Thread(target=self._run, name="monitor", daemon=True)
        self.thread.start()

    def cancel(self) -> None:
        self.cancelled.set()
        try:
            os.write(self._wake_w, b"x")
        except OSError:
            pass

    def _wait(self, fd: int | None, seconds: float) -> bool:
        """Sleep up to ``seconds``; True when ``fd`` has data. Cancel wakes it at once."""
        fds = [self._wake_r] + ([fd] if fd is not None else [])
        ready, _, _ = select.select(fds, [], [], max(0.0, seconds))
        return fd is not None and fd in ready

    def _run(self) -> None:
        failing = ""
        try:
            while not self.cancelled.is_set():
                try:
                    self._session()
                except (PortGone, AtTimeout, OSError, ValueError) as exc:
                    if str(exc) != failing:
                        failing = str(exc)
                        self.log(f"monitor: AT port {self.p.modem.port}: {exc}")
                    self._wait(None, self.interval)
        finally:
            os.close(self._wake_r)
            os.close(self._wake_w)

    def _session(self) -> None:
        ser = self.opener(self.p, self.p.modem.port)
        try:
            at = AtChannel(ser, timeout=min(QUERY_TIMEOUT, self.p.recovery.at_timeout))
            fd = ser.fileno()
            while not self.cancelled.is_set():
                self.on_radio(radio.read_radio(lambda c, prefix: at.command(c, info_prefix=prefix),
                                               self.names))
                self._hand_on(at.take_urcs())
                deadline = at.clock() + self.interval
                while not self.cancelled.is_set() and (left := deadline - at.clock()) > 0:
                    if self._wait(fd, left):
                        at.poll(0)
                        self._hand_on(at.take_urcs())
        finally:
            ser.close()

    def _hand_on(self, urcs: list[str]) -> None:
        events = [u for u in urcs if u.startswith(radio.RING_URCS)]
        if events:
            self.on_urcs(events)
