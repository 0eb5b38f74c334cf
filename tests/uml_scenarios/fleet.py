"""Guest side of tests/test_fleet_uml.py: data usage and the metrics file on a real link.

Each function runs in the UML guest (``lab.call``); ``work`` is the test's tmp dir, the profile
text a template with ``{work}``.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from tests.uml_guest import cli, emulator, ns, profile, record, status, up, wait_state


def _readings(work: Path, count: int, timeout: float = 30) -> None:
    """Until the counters were read ``count`` more times (each reading rewrites the status file,
    read here as it is: a `status` process per look would cost the guest a second each)."""
    def seconds() -> object:
        try:
            return json.loads(Path(work, "run", "lab", "status.json").read_text())["lifetime"]["connected_seconds"]
        except (OSError, ValueError, KeyError):
            return None
    seen, last = 0, seconds()
    deadline = time.monotonic() + timeout
    while seen < count and time.monotonic() < deadline:
        time.sleep(0.1)
        now = seconds()
        if now != last:
            seen, last = seen + 1, now


def _same_moment(work: Path) -> dict:
    """status --json and the metrics file of one write (the daemon writes both at each change):
    read the file between two equal statuses (the counters are read every 3 s)."""
    for _ in range(20):
        before = status()
        metrics = Path(work, "metrics", "bg-pppd-lab.prom").read_text()
        if status() == before:
            return {"during": before, "metrics": metrics}
    raise AssertionError("status changed at every look")


def usage_metrics_and_a_restart(work: Path, profile_text: str) -> None:
    """Connected; 20 pings of 1000 bytes; status and the metrics file once the counters were
    read; `down`; `up` again: the counts go on from where they were."""
    emulator({"rssi": 12}, at_port=True)
    Path(work, "metrics").mkdir(mode=0o755)
    p = profile(profile_text.format(work=work))
    proc = up(p)
    first = wait_state("connected", 30)
    ping = ns("ping", "-c", "20", "-i", "0.05", "-s", "1000", "-W", "2", first["remote_ip"])
    _readings(work, 2)
    record(ping=ping.returncode, first=first, **_same_moment(work))
    record(down=cli("down", str(p)).returncode, rc=proc.wait(30), stopped=status())
    proc = up(p)
    wait_state("connected", 30)
    _readings(work, 1)
    same = _same_moment(work)
    record(again=same["during"], metrics_again=same["metrics"], down_again=cli("down", str(p)).returncode,
           rc_again=proc.wait(30))
    record(usage_file=Path(work, "state", "lab.usage.json").read_text())
