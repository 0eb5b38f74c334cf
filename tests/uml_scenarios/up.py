"""Guest side of tests/test_up_uml.py: `bg-pppd up` brought up, reset, stopped on a real link.

Each function runs in the UML guest (``lab.call``); ``work`` is the test's tmp dir, the profile
texts are templates with ``{work}``.
"""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path

from tests.uml_guest import (
    PROCS,
    cli,
    control,
    emulator,
    ns,
    pppd_processes,
    profile,
    record,
    status,
    stop,
    up,
    wait_state,
)


def happy_path(work: Path, profile_text: str) -> None:
    """Connect, ping across, `bg-pppd down`; the module's port is back in command mode."""
    link = emulator()
    p = profile(profile_text.format(work=work))
    proc = up(p)
    st = wait_state("connected", 30)
    record(status=st)
    record(ping=ns("ping", "-c", "2", "-W", "2", st["remote_ip"]).returncode)
    record(down=cli("down", str(p)).returncode, rc=proc.wait(30), pppd_left=pppd_processes())
    record(after=status(), module=control(link, "status"))


def failed_dials_then_stable(work: Path, profile_text: str, failed_dials: int) -> None:
    """The first ``failed_dials`` dials get NO CARRIER; connected, then wait until the ladder is cleared."""
    emulator({"dial_results": ["NO CARRIER"] * failed_dials})
    p = profile(profile_text.format(work=work))
    proc = up(p)
    st = wait_state("connected", 150)
    record(connected=st)
    deadline = time.monotonic() + 30  # stable_after is 3 s: the ladder is cleared, however slow the guest
    stable = status()
    while (stable.get("resets") or stable.get("consecutive_failures")) and time.monotonic() < deadline:
        time.sleep(0.2)
        stable = status()
    record(stable=stable, rc=stop(proc))


def sigterm_in_state(work: Path, profile_text: str, module: dict, state: str) -> None:
    """Run until ``state``, then SIGTERM: how long the stop took and what it left."""
    emulator(module)
    p = profile(profile_text.format(work=work))
    proc = up(p)
    wait_state(state, 30)
    time.sleep(0.5)
    record(before=status())
    t0 = time.monotonic()
    record(rc=stop(proc), took=time.monotonic() - t0, pppd_left=pppd_processes(), after=status(),
           twin_ok=cli("status", str(p)).returncode)


def sigkill_then_up_again(work: Path, profile_text: str) -> None:
    """SIGKILL a connected `up` (its pppd stays), then start another `up` of the same profile."""
    emulator()
    p = profile(profile_text.format(work=work))
    proc = up(p)
    first = wait_state("connected", 30)
    stop(proc, signal.SIGKILL)
    record(left=pppd_processes())
    proc2 = up(p)
    second = wait_state("connected", 40)
    record(first=first, second=second, rc=stop(proc2), after=pppd_processes())


def connect_with(work: Path, profile_text: str, bg_pppd_python: str) -> None:
    """Connect with bg-pppd run by ``bg_pppd_python``, then stop."""
    emulator()
    p = profile(profile_text.format(work=work))
    proc = up(p, python=bg_pppd_python)
    record(st=wait_state("connected", 30), rc=stop(proc))


def installed_bin_connects(work: Path, profile_text: str, bin_path: str, clean_env: dict) -> None:
    """The installed package's ``bin_path up`` on a link, in a clean environment, then SIGTERM."""
    emulator()
    p = profile(profile_text.format(work=work))
    log = open(work / "up.log", "a")
    proc = subprocess.Popen(["ip", "netns", "exec", "client", bin_path, "up", str(p)], stdout=log,
                            stderr=subprocess.STDOUT, env={**clean_env, "BG_PPPD_RUN_DIR": str(work / "run"),
                                                           "BG_PPPD_STATE_DIR": str(work / "state")})
    PROCS.append(proc)
    record(st=wait_state("connected", 40), rc=stop(proc))
