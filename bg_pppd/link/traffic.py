"""The PPP interface's byte counters, read while connected, for data usage and metrics.

The kernel counts what the interface carries (every packet, the probe's included) in
/sys/class/net/IF/statistics; the counters start at 0 with each new interface and are gone
with it, so they are read every ``interval`` while the link is up, and pppd's own last
line ("Sent N bytes, received M bytes.") gives the rest when it ends. One Worker that
sleeps between readings (no polling), posting each reading.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from bg_pppd.link.pppd import valid_interface
from bg_pppd.util.worker import Worker


def interface_counters(interface: str) -> tuple[int, int] | None:
    """(received, sent) bytes of ``interface`` so far; None when it is not there (any more)."""
    if not valid_interface(interface):
        return None
    stats = Path("/sys/class/net", interface, "statistics")
    try:
        return int((stats / "rx_bytes").read_text()), int((stats / "tx_bytes").read_text())
    except (OSError, ValueError):
        return None


class TrafficMeter:
    """Reads ``interface``'s counters every ``interval`` s until cancelled; ``sample(rx, tx)``
    gets each reading (through the worker: nothing after cancel)."""

    def __init__(self, interface: str, interval: float, sample: Callable[[int, int], None],
                 read: Callable[[str], tuple[int, int] | None] = interface_counters):
        self.interface, self.interval, self.sample, self.read = interface, interval, sample, read
        self.worker = Worker("traffic", lambda _w: self._run(), post=lambda tell, *args: tell(*args), start=False)
        self.cancelled, self.thread = self.worker.cancelled, self.worker.thread
        self.worker.start()

    def cancel(self) -> None:
        self.worker.cancel()

    def _run(self) -> None:
        while self.worker.wait(self.interval) != "cancel":
            found = self.read(self.interface)
            if found is not None:
                self.worker.post(self.sample, *found)
