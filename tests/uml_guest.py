"""Helpers for scenarios that run inside the UML guest (see tests/uml.py).

The scenarios are functions in tests/uml_scenarios/ (the host's ``Lab.call``) that import these.

The virtual module and the network-side pppd run in the root namespace; the
product and its pppd in the ``client`` namespace, like a device and a cell.
Results go to WORK/results.json, which the host reads after power-off.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import yaml

WORK: Path = Path("/tmp")
RESULTS: dict = {}
PROCS: list[subprocess.Popen] = []
PY = sys.executable


def lab_setup(work: str) -> None:
    global WORK
    WORK = Path(work)
    for d in ("run", "state"):
        (WORK / d).mkdir(exist_ok=True)


def lab_teardown() -> None:
    for proc in PROCS:
        if proc.poll() is None:
            proc.kill()
    (WORK / "results.json").write_text(json.dumps(RESULTS, indent=1, default=str))


def load_n_gsm() -> subprocess.CompletedProcess:
    """insmod the guest kernel's n_gsm (the lab's init loads PPP only; the guest has no modprobe
    tree); an error (already loaded, say) is the caller's to read."""
    ko = f"/usr/lib/uml/modules/{os.uname().release}/kernel/drivers/tty/n_gsm.ko"
    return subprocess.run(["insmod", ko], capture_output=True, text=True)


def record(**values) -> None:
    RESULTS.update(values)


def env() -> dict:
    return {**os.environ, "BG_PPPD_RUN_DIR": str(WORK / "run"),
            "BG_PPPD_STATE_DIR": str(WORK / "state")}


def emulator(scenario: dict | None = None, name: str = "bg95", at_port: bool = False) -> Path:
    """Start the virtual module with a real pppd as the network side; returns its link.

    ``at_port``: a USB module with its AT port at WORK/<name>-at beside the modem port.
    """
    link = WORK / name
    sc = {"boot_at_start": False, "time_scale": 0.05, "registration": [[0, 1]], "network": "pppd",
          "network_log": str(WORK / "network.log"), **(scenario or {})}
    (WORK / "scenario.yaml").write_text(yaml.safe_dump(sc))
    proc = subprocess.Popen([PY, "-m", "bg_pppd", "emulate", "--link", str(link), "--scenario",
                             str(WORK / "scenario.yaml"), "--log", str(WORK / "emulator.log"),
                             *(["--at-link", str(WORK / f"{name}-at")] if at_port else [])],
                            stdout=subprocess.PIPE, stderr=open(WORK / "emulator.err", "w"), env=env())
    PROCS.append(proc)
    proc.stdout.readline()
    return link


def profile(text: str, name: str = "lab") -> Path:
    path = WORK / f"{name}.yaml"
    path.write_text(text)
    path.chmod(0o600)
    return path


def up(profile_path: Path, python: str | None = None, extra_env: dict | None = None) -> subprocess.Popen:
    """``bg-pppd up`` in the client namespace, its log in WORK/up.log."""
    log = open(WORK / "up.log", "a")
    proc = subprocess.Popen(["ip", "netns", "exec", "client", python or PY, "-m", "bg_pppd", "up",
                             str(profile_path)], stdout=log, stderr=subprocess.STDOUT,
                            env={**env(), **(extra_env or {})})
    PROCS.append(proc)
    return proc


def cli(*args: str, python: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([python or PY, "-m", "bg_pppd", *args], capture_output=True, text=True, env=env(),
                          timeout=120)


def status(name: str = "lab") -> dict:
    result = cli("status", name if "/" in name else str(WORK / f"{name}.yaml"), "--json")
    try:
        return json.loads(result.stdout)
    except ValueError:
        return {"state": "unknown", "error": result.stderr}


def status_file(name: str = "lab") -> dict:
    """The daemon's status.json as it is: a look that costs no process. A `status` process
    costs the guest's one CPU about a second (Python from hostfs), which polling it took from
    the daemon and the module under test."""
    try:
        data = json.loads((WORK / "run" / name / "status.json").read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


CLI_EVERY = 2.0  # the waits ask `status` itself this often too: only it tells a killed daemon's "stopped"


def wait_state(state: str, timeout: float = 30, name: str = "lab") -> dict:
    """`status --json` once it says ``state``: asked when the status file says so (or every
    CLI_EVERY s), so what the caller gets is the command's own answer."""
    deadline = time.monotonic() + timeout
    st: dict = {}
    asked = time.monotonic()
    while time.monotonic() < deadline:
        if status_file(name).get("state") == state or time.monotonic() - asked >= CLI_EVERY:
            st, asked = status(name), time.monotonic()
            if st.get("state") == state:
                return st
        time.sleep(0.05)
    raise AssertionError(f"state {state!r} not reached in {timeout} s; last {st}")


def ns(*cmd: str, timeout: float = 30) -> subprocess.CompletedProcess:
    return subprocess.run(["ip", "netns", "exec", "client", *cmd], capture_output=True, text=True,
                          timeout=timeout)


def pppd_processes() -> list[str]:
    out = subprocess.run(["ps", "-eo", "pid,args"], capture_output=True, text=True).stdout
    found = []
    for line in out.splitlines()[1:]:
        parts = line.split()
        if len(parts) > 1 and os.path.basename(parts[1]) == "pppd" and "notty" not in parts:
            found.append(line.strip())
    return found


def stop(proc: subprocess.Popen, sig: int = signal.SIGTERM, timeout: float = 30) -> int:
    proc.send_signal(sig)
    return proc.wait(timeout)


def emulator_commands() -> list[tuple[float, str]]:
    out = []
    for line in (WORK / "emulator.log").read_text().splitlines():
        parts = line.split(" ", 2)
        if len(parts) == 3 and parts[1] == "cmd":
            out.append((float(parts[0]), parts[2]))
    return out


def emulator_events() -> list[tuple[float, str, str]]:
    out = []
    for line in (WORK / "emulator.log").read_text().splitlines():
        parts = line.split(" ", 2)
        if len(parts) == 3:
            out.append((float(parts[0]), parts[1], parts[2]))
    return out


def control(link: Path, *args: str) -> dict:
    """Pulse the virtual module's lines or inject a fault (drop, reboot, blackhole, reset...)."""
    result = subprocess.run([PY, "-m", "bg_pppd.emulator.control", f"{link}.control", *args],
                            capture_output=True, text=True, env=env())
    return json.loads(result.stdout or "{}")


def wait_new_pppd(old: dict, timeout: float = 60) -> dict:
    """Wait until a pppd other than the one in ``old`` brought the link up again."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and status_file().get("pppd_pid") in (old["pppd_pid"], None):
        time.sleep(0.05)
    return wait_state("connected", max(1.0, deadline - time.monotonic()))
