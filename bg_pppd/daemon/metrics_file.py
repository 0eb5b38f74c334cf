"""The link's metrics for Prometheus, through node_exporter's textfile collector.

Fleets already run node_exporter on every device; its textfile collector exports the
``*.prom`` files in one directory. The daemon writes its file (``metrics.textfile``) in the
text exposition format whenever its status changes and at each reading of the byte
counters, atomically (node_exporter never reads half a file). Made from the status record
alone, so the metrics and ``status --json`` cannot disagree. Names follow Prometheus'
conventions: ``bg_pppd_`` prefix, base units in the name (seconds, bytes), ``_total`` on
counters, ``_info`` for labels-only facts, one ``profile`` label on every sample.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Mapping
from typing import Any

from bg_pppd import __version__
from bg_pppd.daemon.ladder_store import to_wall
from bg_pppd.daemon.status import STATES, Status
from bg_pppd.util import safe_files as atomic

REGISTERED = ("home", "roaming")
# signal key in the status -> metric, help
SIGNAL = {
    "rsrp_dbm": ("bg_pppd_rsrp_dbm", "Reference signal received power (LTE), dBm."),
    "rsrq_db": ("bg_pppd_rsrq_db", "Reference signal received quality (LTE), dB."),
    "sinr_db": ("bg_pppd_sinr_db", "Signal to interference plus noise ratio (LTE), dB."),
    "rssi_dbm": ("bg_pppd_rssi_dbm", "Received signal strength, dBm."),
}


def _escape(value: object) -> str:
    """A label value: backslash, double quote and line feed escaped, as the format wants."""
    return str(value).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _number(value: float | int) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int):
        return str(value)
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(float(value))


class _Families:
    """Metric families in order: HELP and TYPE once, then the samples."""

    def __init__(self, profile: str):
        self.profile = profile
        self.lines: list[str] = []

    def add(self, name: str, kind: str, help_text: str,
            samples: Iterable[tuple[Mapping[str, object], float | int]]) -> None:
        samples = list(samples)
        if not samples:
            return  # a fact not known is left out, not written as 0
        self.lines += [f"# HELP {name} {help_text}", f"# TYPE {name} {kind}"]
        for labels, value in samples:
            pairs = {"profile": self.profile, **labels}
            text = ",".join(f'{k}="{_escape(v)}"' for k, v in pairs.items())
            self.lines.append(f"{name}{{{text}}} {_number(value)}")

    def one(self, name: str, kind: str, help_text: str, value: float | int | None,
            **labels: object) -> None:
        if value is not None:
            self.add(name, kind, help_text, [(labels, value)])


def render(status: Status, now: float | None = None, wall: float | None = None) -> str:
    """The exposition text of one status record (times on the daemon's clock, ``now`` its
    reading; ``wall`` the calendar time of ``now``)."""
    f = _Families(status.profile)

    def stamp(t: Any) -> float | None:
        if t is None or isinstance(t, str):
            return None
        w = to_wall(t, now) if wall is None else wall - ((now or 0.0) - t)
        return round(w, 3) if w is not None and math.isfinite(w) else None

    f.one("bg_pppd_info", "gauge", "The daemon and what it runs on (labels); always 1.", 1,
          version=__version__, firmware=status.firmware or "", apn=status.apn or "")
    f.one("bg_pppd_up", "gauge", "1 when the link is connected (IP up), else 0.",
          int(status.state == "connected"))
    f.add("bg_pppd_state", "gauge", "The supervisor's state: 1 for the current one.",
          [({"state": s}, int(s == status.state)) for s in STATES])
    f.one("bg_pppd_state_since_timestamp_seconds", "gauge", "When the current state began, Unix time.",
          stamp(status.since))
    life = status.lifetime or {}
    counters = (("connections", "bg_pppd_connections_total", "Links brought up (IP up)."),
                ("failed_attempts", "bg_pppd_failed_attempts_total", "Attempts (pre-flight, dial) that failed."),
                ("link_drops", "bg_pppd_link_drops_total", "Links that were up and went down, not by a stop."),
                ("resets", "bg_pppd_resets_total", "Module resets started."),
                ("connected_seconds", "bg_pppd_connected_seconds_total", "Time connected, in seconds."))
    for key, name, help_text in counters:
        f.one(name, "counter", help_text, life.get(key))
    f.one("bg_pppd_consecutive_failures", "gauge", "Failures since the link was last stable.",
          status.consecutive_failures)
    f.one("bg_pppd_ladder_step", "gauge", "Resets on the recovery ladder since the link was last stable "
          "(0: dial retries only).", status.resets)
    f.one("bg_pppd_next_reset_timestamp_seconds", "gauge", "The earliest time of the next reset, Unix time.",
          stamp(status.next_reset_not_before))
    if status.registration:
        f.one("bg_pppd_registered", "gauge", "1 when registered (home or roaming).",
              int(status.registration in REGISTERED))
        f.one("bg_pppd_radio_info", "gauge", "The registration and radio access (labels); always 1.", 1,
              registration=status.registration, access_technology=status.access_technology or "",
              operator=status.operator or "", band=status.band or "")
    signal = status.signal or {}
    for key, (name, help_text) in SIGNAL.items():
        value = signal.get(key)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            f.one(name, "gauge", help_text, value)
    f.one("bg_pppd_radio_timestamp_seconds", "gauge", "When the radio was last read, Unix time.",
          stamp(status.radio_at))
    usage = status.data_usage or {}
    for key, name, help_text in (("total_received", "bg_pppd_receive_bytes_total", "Bytes received over the link."),
                                 ("total_sent", "bg_pppd_transmit_bytes_total", "Bytes sent over the link.")):
        f.one(name, "counter", help_text, usage.get(key))
    for period, record, words in (("month", status.bytes_month, "this calendar month"),
                                  ("day", status.bytes_today, "today")):
        for key, direction in (("received", "receive"), ("sent", "transmit")):
            f.one(f"bg_pppd_{period}_{direction}_bytes", "gauge", f"Bytes {key} {words}.",
                  (record or {}).get(key))
    f.one("bg_pppd_data_cap_bytes", "gauge", "network.data_cap: bytes a calendar month.", usage.get("cap"))
    if status.last_error:
        f.one("bg_pppd_last_error_info", "gauge", "The class of the last error (label); always 1.", 1,
              **{"class": status.last_error_class or "other"})
    return "\n".join(f.lines) + "\n"


def write(path: str | os.PathLike, status: Status, now: float | None = None) -> None:
    """Atomically, readable by node_exporter (which need not run as root)."""
    atomic.write(path, render(status, now), mode=0o644)
