"""``up``, ``down`` and ``status``: the daemon's life cycle around the supervisor."""

from __future__ import annotations

import json
import logging
import os
import signal
import sys
import time

from bg_pppd.daemon import sd_notify as notify
from bg_pppd.daemon.ladder_store import LadderStore, boottime, prepare_state_dir
from bg_pppd.daemon.run_dir import AlreadyRunning, RunDir
from bg_pppd.daemon.status import FIELDS, Status, read_status, write_status
from bg_pppd.profile.model import Profile
from bg_pppd.util import journal
from bg_pppd.util.errors import EXIT_FAILURE, EXIT_NOT_RUNNING, EXIT_UNKNOWN, printable

log = logging.getLogger("bg_pppd")


def setup_logging() -> None:
    """One line per event; journald adds its own timestamps, a terminal gets ours."""
    under_systemd = bool(os.environ.get("JOURNAL_STREAM") or os.environ.get("INVOCATION_ID"))
    fmt = "%(message)s" if under_systemd else "%(asctime)s.%(msecs)03d %(message)s"
    # stderr the journal: records with their fields (MESSAGE_ID, BG_PPPD_EVENT...) to journald
    logging.basicConfig(level=logging.INFO, handlers=[journal.handler("bg-pppd", fmt, "%H:%M:%S")])
    logging.getLogger("sh").setLevel(logging.WARNING)  # sh logs every process start at INFO


def up(profile: Profile, run_dir: str, state_dir: str) -> int:
    from bg_pppd.daemon.effects import RealSystem
    from bg_pppd.daemon.supervisor import Ev, Supervisor
    from bg_pppd.link.render import render

    setup_logging()
    # sh 2.x imports asyncio, which imports ssl, which loads OpenSSL: ~4 MB of RSS and 5 ms for a
    # module the daemon never uses (no TLS anywhere; hashlib loads its own). asyncio takes a
    # missing ssl as "no TLS"; a daemon process is ours alone, so the import is blocked here only.
    sys.modules.setdefault("ssl", None)  # type: ignore[arg-type]
    # `sh` (the short commands' runner: hooks, DNS tools, reset command, ping) is imported by the
    # first command that runs (util/commands.py), never before: with sh 2.x it brings asyncio,
    # ~4 MB of RSS that a profile running no command never needs, and imported at start beside
    # the pre-flight it took the CPU from the way to IP (UML lab, venv: RSS 23.2 -> 18.9 MB,
    # warm start 2.1-2.2x -> 1.74-1.77x plain pppd's)
    run = RunDir(run_dir, profile.name)
    try:
        run.acquire(profile.modem.port, profile.modem.ppp_port)
    except AlreadyRunning as exc:
        print(printable(f"bg-pppd: {profile.name}: {exc}"), file=sys.stderr)
        return EXIT_FAILURE
    try:
        note = prepare_state_dir(state_dir)
        if note:
            log.warning("%s: %s: the recovery state will not be kept", profile.name, printable(note))
        # a daemon killed while dialling or connected may have left the module in data mode
        before = read_status(run.status_path)
        left_in_call = before is not None and before.state in ("dialing", "connected", "restoring", "stopping")
        # a stale status (from a daemon killed with SIGKILL) must not describe this run
        write_status(run.status_path, Status(profile=profile.name, state="preflight", pid=os.getpid(),
                                             consecutive_failures=0, resets=0))
        rendered = render(profile, run.dir, set_context=False)
        orphan = run.end_orphan(f"bg-pppd-{profile.name}", str(rendered.peer))
        if orphan:
            log.warning("%s: ended pppd %d left behind by an earlier run", profile.name, orphan)
        store = LadderStore(state_dir, profile.name)
        ladder, note = store.load(boottime())
        if note:
            log.warning("%s: recovery state: %s", profile.name, note)
        if ladder.failures or ladder.resets:
            log.info("%s: continuing the recovery ladder: %d failure(s), %d reset(s)", profile.name,
                     ladder.failures, ladder.resets)
        if left_in_call or orphan:
            log.info("%s: the last run ended %s: the module may still be in data mode", profile.name,
                     "with its pppd left behind" if orphan else f"uncleanly ({before.state if before else '?'})")
        system = RealSystem(profile, run, store, rendered, state_dir, maybe_in_call=bool(left_in_call or orphan))
        sup = Supervisor(profile, system, ladder)

        def on_signal(signum: int, _frame: object) -> None:
            sup.post(Ev.STOP, f"signal {signal.Signals(signum).name}")
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, on_signal)
        signal.signal(signal.SIGHUP, signal.SIG_IGN)
        sup.events.wake_on_signals()  # whichever thread the kernel hands the signal to
        interval = notify.watchdog_interval()
        last_ping = [0.0]

        def tick() -> None:
            if interval and time.monotonic() - last_ping[0] >= interval:
                notify.notify(watchdog="1")
                last_ping[0] = time.monotonic()
        try:
            code = sup.run(tick=tick if interval else None, tick_every=interval)
        finally:
            sup.events.wake_on_signals(False)
        system.close_mux()  # the loop has ended: a mux no clean-up closed is closed here (bounded)
        notify.notify(stopping="1")
        return code
    finally:
        run.release()


def down(name: str, run_dir: str, timeout: float = 60.0) -> int:
    run = RunDir(run_dir, name)
    run.verify()
    pid = run.running_pid()
    if pid is None:
        print(f"{name}: not running")
        return 0
    if pid > 0:
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            return 0
    deadline = time.monotonic() + timeout
    while run.running_pid() is not None:
        if time.monotonic() > deadline:
            print(f"bg-pppd: {name}: still running after {timeout:g} s", file=sys.stderr)
            return EXIT_FAILURE
        time.sleep(0.05)
    print(f"{name}: stopped")
    return 0


def status(name: str, run_dir: str, as_json: bool) -> int:
    """0 running, 3 not running, 4 unknown (the lock cannot be read: not root)."""
    run = RunDir(run_dir, name)
    try:
        run.verify()
        pid = run.running_pid()
    except OSError as exc:
        hint = " (run as root)" if isinstance(exc, PermissionError) else ""
        print(printable(f"bg-pppd: {name}: cannot read the state: {exc.filename or run.lock_path}: "
                        f"{exc.strerror or exc}{hint}"), file=sys.stderr)
        return EXIT_UNKNOWN
    record = read_status(run.status_path)
    if record is None or (pid is not None and pid > 0 and record.pid != pid):
        record = Status.from_json({})  # none, or a daemon that has just started and not yet written its own
    if pid is None:
        record = Status.of(record, profile=name, state="stopped", pid=None, pppd_pid=None)
    else:  # a "stopped" that holds the lock: its last word, written just before it lets the lock go
        state = "stopping" if record.state == "stopped" else record.state
        record = Status.of(record, profile=name, state=state, pid=pid if pid > 0 else record.pid)
    out = record.to_json()
    if as_json:
        print(json.dumps(out))
    else:
        width = max(len(k) for k in FIELDS)
        for key in FIELDS:
            value = out[key]
            if isinstance(value, list):  # of text (dns), or of records (interventions)
                value = "; ".join(" ".join(f"{k}={v}" for k, v in item.items()) for item in value) \
                    if any(isinstance(item, dict) for item in value) else " ".join(value)
            elif isinstance(value, dict):
                value = " ".join(f"{k}={v}" for k, v in value.items())
            print(printable(f"{key:<{width}}  {'' if value is None else value}"))
    return 0 if pid is not None else EXIT_NOT_RUNNING
