"""What the link has carried and done, counted per calendar day and month: pure logic.

LPWA plans are counted in kilobytes a month, so the bytes the PPP interface carried
(both directions, the probe's own included: it goes through the interface) are added up
per local calendar day and month, and for the daemon's whole life, with the counters
Prometheus wants (connections, failed attempts, link drops, resets, time connected).
The record is a value: ``add``/``count`` return a new one; the store persists it.

Calendar time comes from the caller (``wall``: seconds since the epoch). A board without
a real-time clock boots in the past until NTP sets the time: a calendar that goes back
never re-opens a month or a day already counted (the record keeps counting in the newest).
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, fields, replace
from typing import Any

CAP_STATES = ("under", "warning", "reached")


def day_of(wall: float) -> str:
    """``2026-12-03``: the local calendar day."""
    return time.strftime("%Y-%m-%d", time.localtime(wall))


def month_start_after(wall: float) -> float:
    """The first moment of the next local calendar month (wall seconds)."""
    t = time.localtime(wall)
    year, month = (t.tm_year + 1, 1) if t.tm_mon == 12 else (t.tm_year, t.tm_mon + 1)
    return time.mktime((year, month, 1, 0, 0, 0, 0, 0, -1))


@dataclass(frozen=True)
class Usage:
    """Bytes per day, month and life; lifetime event counters; what the cap told this month."""

    day: str = ""                 # YYYY-MM-DD, local: the day the day_ counts are of
    day_received: int = 0
    day_sent: int = 0
    month_received: int = 0       # of day[:7]
    month_sent: int = 0
    total_received: int = 0
    total_sent: int = 0
    connections: int = 0          # IP up
    failed_attempts: int = 0      # pre-flights and dials that did not bring IP up
    link_drops: int = 0           # a link that was up went down (not by a stop)
    resets: int = 0               # module resets started
    connected_seconds: float = 0.0
    cap_told: str = ""            # "warning" or "reached": told already this month

    @property
    def month(self) -> str:
        return self.day[:7]

    def at(self, wall: float) -> Usage:
        """The record on the calendar at ``wall``: a new day (or month) starts its counts at 0;
        a calendar behind the record's (a clock not set yet) leaves it as it is."""
        today = day_of(wall)
        if today <= self.day:
            return self
        if today[:7] != self.month:
            return replace(self, day=today, day_received=0, day_sent=0, month_received=0, month_sent=0,
                           cap_told="")
        return replace(self, day=today, day_received=0, day_sent=0)

    def add(self, received: int, sent: int, wall: float) -> Usage:
        """``received`` and ``sent`` more bytes, counted on the day of ``wall``."""
        u = self.at(wall)
        received, sent = max(0, received), max(0, sent)
        return replace(u, day_received=u.day_received + received, day_sent=u.day_sent + sent,
                       month_received=u.month_received + received, month_sent=u.month_sent + sent,
                       total_received=u.total_received + received, total_sent=u.total_sent + sent)

    def count(self, **more: float) -> Usage:
        """The lifetime counters, each increased by its amount (``connections=1``)."""
        return replace(self, **{k: getattr(self, k) + v for k, v in more.items()})

    @property
    def month_bytes(self) -> int:
        return self.month_received + self.month_sent

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: object) -> Usage:
        """A record from the file, of any shape: a value of the wrong type is 0 (or empty)."""
        data = data if isinstance(data, dict) else {}
        out: dict[str, Any] = {}
        for f in fields(cls):
            value, default = data.get(f.name), f.default
            if isinstance(default, str):
                ok = isinstance(value, str) and len(value) <= 16
            elif isinstance(default, float):
                ok = isinstance(value, (int, float)) and not isinstance(value, bool) and \
                    math.isfinite(value) and value >= 0
            else:
                ok = type(value) is int and value >= 0
            if ok:
                out[f.name] = float(value) if isinstance(default, float) else value
        if out.get("cap_told") not in (None, "", "warning", "reached"):
            out["cap_told"] = ""
        return cls(**out)


@dataclass(frozen=True)
class Cap:
    """``network.data_cap``: bytes a calendar month (0: none), the warning's share, the action."""

    limit: int = 0
    warning: float = 0.8
    stop: bool = False

    def state(self, usage: Usage) -> str:
        if not self.limit:
            return "under"
        used = usage.month_bytes
        if used >= self.limit:
            return "reached"
        return "warning" if used >= self.warning * self.limit else "under"

    def news(self, usage: Usage) -> tuple[str, Usage]:
        """What to tell now ("", "warning" or "reached"): each once a month, the highest only."""
        state = self.state(usage)
        told = CAP_STATES.index(usage.cap_told) if usage.cap_told else 0
        if state == "under" or CAP_STATES.index(state) <= told:
            return "", usage
        return state, replace(usage, cap_told=state)

    def stops(self, usage: Usage) -> bool:
        """No dialling until the month ends: the cap is reached and the profile says stop."""
        return self.stop and self.state(usage) == "reached"


class Meter:
    """One connection's interface counters turned into increments: the kernel's counters start
    at 0 with each new interface; a counter that goes back started again (a new interface)."""

    def __init__(self) -> None:
        self.received = self.sent = 0

    def delta(self, received: int, sent: int) -> tuple[int, int]:
        d_rx = received - self.received if received >= self.received else received
        d_tx = sent - self.sent if sent >= self.sent else sent
        self.received, self.sent = received, sent
        return max(0, d_rx), max(0, d_tx)


def status_view(usage: Usage, cap: Cap, meter: Meter | None) -> dict[str, dict[str, Any]]:
    """The status record's ``bytes_today`` and ``bytes_month`` (per direction, as the interface
    promises) and ``data_usage``: which day and month, the totals, this connection, the cap."""
    more: dict[str, Any] = {"day": usage.day or None, "month": usage.month or None,
                            "total_received": usage.total_received, "total_sent": usage.total_sent}
    if meter is not None:
        more.update(connection_received=meter.received, connection_sent=meter.sent)
    if cap.limit:
        more.update(cap=cap.limit, cap_state=cap.state(usage))
    return {"bytes_today": {"received": usage.day_received, "sent": usage.day_sent},
            "bytes_month": {"received": usage.month_received, "sent": usage.month_sent},
            "data_usage": {k: v for k, v in more.items() if v is not None}}


def lifetime_view(usage: Usage) -> dict[str, Any]:
    """The status record's ``lifetime``: the counters since the state dir was made."""
    return {"connections": usage.connections, "failed_attempts": usage.failed_attempts,
            "link_drops": usage.link_drops, "resets": usage.resets,
            "connected_seconds": round(usage.connected_seconds, 3)}
