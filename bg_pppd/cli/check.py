"""``bg-pppd check``: the pre-flight on its own, with a report for people or for scripts."""

from __future__ import annotations

import dataclasses
import json
import sys
from typing import TextIO

from bg_pppd.daemon.ladder_store import prepare_state_dir
from bg_pppd.daemon.run_dir import AlreadyRunning, RunDir
from bg_pppd.modem.preflight import Preflight, Report
from bg_pppd.profile.model import Profile
from bg_pppd.util.errors import EXIT_FAILURE, BgPppdError, printable


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


def run(profile: Profile, state_dir: str, as_json: bool, run_dir: str | None = None) -> int:
    """The pre-flight, never while ``up`` runs this profile or uses one of its ports (it would
    talk on a port that pppd or another pre-flight owns): then exit 1 at once, saying so."""
    lock = RunDir(run_dir, profile.name) if run_dir else None
    try:
        if lock:
            lock.hold_for_check(profile.modem.port, profile.modem.ppp_port)
    except AlreadyRunning as exc:
        return _refused(profile, as_json, str(exc))
    except PermissionError as exc:
        return _refused(profile, as_json, f"cannot tell whether bg-pppd up is running: {exc.filename}: "
                                          f"{exc.strerror} (run as root, or give the --run-dir of up)")
    try:
        note = prepare_state_dir(state_dir)
        if note:
            print(printable(f"warning: {note}: a rejected PIN cannot be remembered"), file=sys.stderr)
        return _check(profile, state_dir, as_json)
    finally:
        if lock:
            lock.release()


def _refused(profile: Profile, as_json: bool, reason: str) -> int:
    if as_json:
        report = Report(profile.name, profile.modem.port, error=reason, exit_code=EXIT_FAILURE)
        print(json.dumps(dataclasses.asdict(report), indent=None))
    print(printable(f"bg-pppd: {profile.name}: {reason}"), file=sys.stderr)
    return EXIT_FAILURE


def _check(profile: Profile, state_dir: str, as_json: bool) -> int:
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
        print(printable(f"bg-pppd: {profile.name}: {report.error}"), file=sys.stderr)
    return code
