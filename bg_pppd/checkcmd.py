"""``bg-pppd check``: the pre-flight on its own, with a report for people or for scripts."""

from __future__ import annotations

import dataclasses
import json
import sys
from typing import TextIO

from .errors import BgPppdError
from .preflight import Preflight, Report
from .profile import Profile


def _progress(stream: TextIO):
    def show(name: str, status: str, elapsed: float) -> None:
        if status:
            print(f"[{elapsed:6.1f}s] {name}: {status}", file=stream, flush=True)
        else:
            print(f"[{elapsed:6.1f}s] {name} ...", file=stream, flush=True)
    return show


def human(report: Report) -> str:
    lines = [f"profile:      {report.profile} ({report.port})",
             f"modem:        {report.model or '?'} {report.revision or ''}".rstrip(),
             f"IMEI:         {report.imei or '?'}",
             f"SIM:          {report.sim or '?'}  ICCID {report.iccid or '?'}",
             f"registration: {report.registration or '?'}",
             f"operator:     {report.operator or '?'}",
             f"technology:   {report.access_technology or '?'}  {report.band or ''}".rstrip()]
    sig = report.signal
    parts = [f"{label} {sig[key]} {unit}" for key, label, unit in (
        ("rssi_dbm", "RSSI", "dBm"), ("rsrp_dbm", "RSRP", "dBm"), ("sinr_db", "SINR", "dB"),
        ("rsrq_db", "RSRQ", "dB")) if key in sig]
    lines.append(f"signal:       {', '.join(parts) or '?'}")
    return "\n".join(lines)


def run(profile: Profile, state_dir: str, as_json: bool) -> int:
    show = _progress(sys.stderr) if sys.stderr.isatty() and not as_json else None
    pre = Preflight(profile, state_dir=state_dir, on_step=show)
    try:
        report = pre.run()
        code = 0
    except BgPppdError as exc:
        report = pre.report
        report.error, report.exit_code = str(exc), exc.exit_code
        code = exc.exit_code
    if as_json:
        print(json.dumps(dataclasses.asdict(report), indent=None))
    elif code == 0:
        print(human(report))
    if code:
        print(f"bg-pppd: {profile.name}: {report.error}", file=sys.stderr)
    return code
