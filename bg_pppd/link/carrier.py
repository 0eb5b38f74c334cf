"""Watching DCD and RI while connected: a carrier loss ends the link, an RI pulse is a ring.

With AT&C1 the module drops DCD when the data call ends, which tells at once
what LCP echo would learn only after several intervals. In data mode the
module reports an SMS or call not on the port but by pulling RI low for
120 ms. One blocking thread per link; it never polls.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from bg_pppd.modem.control_lines import watch_port


class LineWatcher:
    def __init__(self, port: str, watch_dcd: bool, dead: Callable[[str], None], ring: Callable[[], None]):
        self.port, self.watch_dcd, self.dead, self.ring = port, watch_dcd, dead, ring
        self.cancelled = threading.Event()
        self.thread = threading.Thread(target=self._run, name="lines", daemon=True)
        self.thread.start()

    def cancel(self) -> None:
        self.cancelled.set()  # the thread ends at the next line change (or with the process)

    def _run(self) -> None:
        carrier_seen = False
        ri_was = False
        try:
            for state in watch_port(self.port):
                if self.cancelled.is_set():
                    return
                if state["dcd"]:
                    carrier_seen = True
                elif self.watch_dcd and carrier_seen:
                    self.dead("carrier lost (DCD dropped)")
                    return
                if state["ri"] and not ri_was:
                    self.ring()
                ri_was = state["ri"]
        except OSError:
            return


class Jobs:
    """Several watchers cancelled as one."""

    def __init__(self, *jobs: object):
        self.jobs = [j for j in jobs if j is not None]

    def cancel(self) -> None:
        for job in self.jobs:
            job.cancel()
