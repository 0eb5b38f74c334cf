"""Watching DCD and RI while connected: a carrier loss ends the link, an RI pulse is a ring.

With AT&C1 the module drops DCD when the data call ends, which tells at once
what LCP echo would learn only after several intervals. In data mode the
module reports an SMS or call not on the port but by pulling RI low for
120 ms. One blocking Worker per link (util.worker); it never polls.
"""

from __future__ import annotations

from collections.abc import Callable

from bg_pppd.modem.control_lines import watch_port
from bg_pppd.util.worker import Worker


class LineWatcher:
    def __init__(self, port: str, watch_dcd: bool, dead: Callable[[str], None], ring: Callable[[], None],
                 backend: str = "serial"):
        self.port, self.watch_dcd, self.dead, self.ring = port, watch_dcd, dead, ring
        self.backend = backend  # the profile's modem.line_backend
        # what it tells goes through the worker: nothing after cancel
        self.worker = Worker("lines", lambda _w: self._run(), post=lambda tell, *args: tell(*args), start=False)
        self.cancelled, self.thread = self.worker.cancelled, self.worker.thread
        self.worker.start()

    def cancel(self) -> None:
        self.worker.cancel()  # the thread ends at the next line change (or with the process)

    def _run(self) -> None:
        carrier_seen = False
        ri_was = False
        try:
            for state in watch_port(self.port, self.backend):
                if self.cancelled.is_set():
                    return
                if state["dcd"]:
                    carrier_seen = True
                elif self.watch_dcd and carrier_seen:
                    self.worker.post(self.dead, "carrier lost (DCD dropped)")
                    return
                if state["ri"] and not ri_was:
                    self.worker.post(self.ring)
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
