"""``bg-pppd check``: the pre-flight on its own, with a report for people or for scripts."""

from __future__ import annotations

import dataclasses
import json
import sys
from collections.abc import Callable
from typing import Any, TextIO

from bg_pppd.daemon.apn_memory import ApnMemory
from bg_pppd.daemon.apn_order import ApnState
from bg_pppd.daemon.ladder_store import prepare_state_dir
from bg_pppd.daemon.run_dir import AlreadyRunning, RunDir
from bg_pppd.modem.multiplexer import kernel_support
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


def human(report: Report, apn_note: str = "") -> str:
    lines = [f"profile:      {report.profile} ({report.port})",
             f"modem:        {report.model or '?'} {report.revision or ''}".rstrip(),
             f"firmware:     {report.firmware or '?'}",
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
    if report.apn is not None:
        lines.append(f"APN:          {report.apn!r}" + (f" ({apn_note})" if apn_note else ""))
    return "\n".join(lines)


def n_gsm(profile: Profile, support: Callable[[], str | None] = kernel_support) -> dict[str, Any] | None:
    """With ``multiplex: cmux``: whether the kernel has n_gsm (--json's ``n_gsm``); else None."""
    if profile.modem.multiplex != "cmux":
        return None
    why = support()
    return {"available": why is None, "problem": why}


def n_gsm_line(state: dict[str, Any]) -> str:
    """The report's one line about n_gsm."""
    return "n_gsm:        " + ("available (multiplex: cmux)" if state["available"] else state["problem"])


def apn_chooser(profile: Profile, state_dir: str) -> tuple[ApnState, str]:
    """The APNs as ``up`` would try them: the one that worked on this SIM first (its memory in
    the state dir), else the profile's first; and a note when the memory could not be used."""
    memory, note = ApnMemory(state_dir, profile.name).load()
    return ApnState(profile.network.apn, memory), note


def apn_note(apns: ApnState, report: Report) -> str:
    """Why check set this APN: remembered for this SIM, or the profile's first."""
    if report.apn is None:
        return ""
    if report.iccid and apns.remembered.get(report.iccid) == report.apn and report.apn in apns.apns:
        return "worked before on this SIM"
    return "the profile's first" if len(apns.apns) > 1 else ""


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
    apns, note = apn_chooser(profile, state_dir)
    if note:
        print(printable(f"warning: {note}"), file=sys.stderr)
    mux = n_gsm(profile)
    pre = Preflight(profile, state_dir=state_dir, on_step=show, choose_apn=apns.choose)
    try:
        report = pre.run()
        code = 0
    except BgPppdError as exc:
        report = pre.report
        report.error, report.exit_code = str(exc), exc.exit_code
        code = exc.exit_code
    if as_json:
        data = dataclasses.asdict(report)
        if mux is not None:
            data["n_gsm"] = mux
        print(json.dumps(data, indent=None))
    elif code == 0:
        print(human(report, apn_note(apns, report)) + (f"\n{printable(n_gsm_line(mux))}" if mux else ""))
    elif mux is not None:
        print(printable(n_gsm_line(mux)), file=sys.stderr)
    if code:
        print(printable(f"bg-pppd: {profile.name}: {report.error}"), file=sys.stderr)
    return code
