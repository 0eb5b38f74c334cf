"""`up`, `down` and `status` as processes on this host (no kernel PPP here: pppd exits 4),
with pyserial, jinja2, yaml and sh from PyPI and, where installed, Debian's own (sh 1.x)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import ROOT, run_cli

SYSTEM_PY = "/usr/bin/python3"


def has_debian_libs() -> bool:
    if not os.path.exists(SYSTEM_PY):
        return False
    probe = subprocess.run([SYSTEM_PY, "-c", "import sh, serial, jinja2, yaml; print(sh.__version__)"],
                           capture_output=True, text=True, env={"PATH": "/usr/bin:/bin"})
    return probe.returncode == 0 and probe.stdout.startswith("1.")


INTERPRETERS = [pytest.param(sys.executable, id="pypi"),
                pytest.param(SYSTEM_PY, id="debian-sh1", marks=pytest.mark.skipif(
                    not has_debian_libs(), reason="Debian's python3-sh 1.x etc. not installed"))]


def spawn_up(bench, dirs, python=sys.executable) -> subprocess.Popen:
    run, state = dirs
    env = {"PATH": os.environ["PATH"], "PYTHONPATH": str(ROOT), "BG_PPPD_RUN_DIR": str(run),
           "BG_PPPD_STATE_DIR": str(state)}
    return subprocess.Popen([python, "-m", "bg_pppd", "up", str(bench.profile)], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, env=env)


def slow_retry(bench) -> None:
    bench.profile.write_text(bench.profile.read_text().replace("boot_timeout: 5",
                                                               "boot_timeout: 5\n  retry_wait: 60"))


def wait_status(bench, state: str, timeout: float = 20) -> dict:
    deadline = time.monotonic() + timeout
    st = {}
    while time.monotonic() < deadline:
        result = run_cli("status", str(bench.profile), "--json")
        st = json.loads(result.stdout)
        if st["state"] == state:
            return st
        time.sleep(0.05)
    raise AssertionError(f"not {state}: {st}")


@pytest.mark.skipif(os.path.exists("/dev/ppp"), reason="this kernel has PPP")
@pytest.mark.parametrize("python", INTERPRETERS)
def test_no_kernel_ppp_is_a_clear_permanent_failure(bench, dirs, python):
    b = bench()
    proc = spawn_up(b, dirs, python)
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 20, out
    assert "kernel lacks PPP support" in out and "modprobe ppp_generic ppp_async" in out
    assert "Traceback" not in out
    assert not any(c.startswith("AT+CFUN=1,1") for c in b.commands()), "no module reset for a host problem"
    st = json.loads(run_cli("status", str(b.profile), "--json").stdout)
    assert st["state"] == "stopped" and "kernel lacks PPP" in st["last_error"]


def test_status_down_and_no_twins(bench, dirs):
    b = bench(registration=[[0, 2]])  # never registers: the daemon stays in pre-flight
    b.profile.write_text(b.profile.read_text().replace("registration_timeout: 3", "registration_timeout: 60"))
    proc = spawn_up(b, dirs)
    try:
        st = wait_status(b, "preflight")
        assert st["pid"] == proc.pid and st["profile"] == "bench"
        assert set(st) >= {"since", "pppd_pid", "interface", "local_ip", "remote_ip", "dns",
                           "consecutive_failures", "resets", "next_reset_not_before", "last_error"}
        twin = spawn_up(b, dirs)
        out, _ = twin.communicate(timeout=30)
        assert twin.returncode == 1 and "already running" in out
        human = run_cli("status", str(b.profile))
        assert human.returncode == 0 and "preflight" in human.stdout
        start = time.monotonic()
        down = run_cli("down", str(b.profile))
        assert down.returncode == 0, down.stderr
        assert time.monotonic() - start < 5, "pre-flight is cancelled promptly"
        assert proc.wait(10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
    out = proc.stdout.read()
    assert "switch from preflight to stopping" in out and "Traceback" not in out
    result = run_cli("status", str(b.profile), "--json")
    assert result.returncode == 3 and json.loads(result.stdout)["state"] == "stopped"
    assert run_cli("down", str(b.profile)).returncode == 0  # not running: fine


def test_sigint_while_waiting_exits_cleanly(bench, dirs):
    b = bench(registration=[[0, 3]])  # denied: a failed attempt, then a wait
    slow_retry(b)
    proc = spawn_up(b, dirs)
    wait_status(b, "waiting")
    proc.send_signal(signal.SIGINT)
    assert proc.wait(10) == 0
    assert "switch from waiting to stopping" in proc.stdout.read()


def test_ladder_survives_a_restart(bench, dirs):
    b = bench(registration=[[0, 3]])
    slow_retry(b)
    proc = spawn_up(b, dirs)
    wait_status(b, "waiting")
    proc.send_signal(signal.SIGTERM)
    proc.wait(10)
    saved = json.loads((Path(dirs[1]) / "bench.json").read_text())
    assert saved["ladder"]["failures"] == 1 and "denied" in saved["ladder"]["last_error"]
    proc = spawn_up(b, dirs)
    st = wait_status(b, "waiting")
    assert st["consecutive_failures"] == 2, "continued from the persisted count"
    proc.send_signal(signal.SIGTERM)
    proc.wait(10)


def test_damaged_state_file_is_recovered(bench, dirs):
    b = bench(registration=[[0, 3]])
    slow_retry(b)
    Path(dirs[1]).mkdir(parents=True, exist_ok=True)
    (Path(dirs[1]) / "bench.json").write_text('{"ladder": {"failures": 2, "res')
    proc = spawn_up(b, dirs)
    st = wait_status(b, "waiting")
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(10) == 0
    out = proc.stdout.read()
    assert "was damaged" in out and st["resets"] == 1, "conservative: as if a reset just happened"


def _in_a_call(link: Path) -> None:
    """Dial on the module's port as a daemon did before it was killed: the call stays up."""
    import serial

    with serial.Serial(str(link), 115200, timeout=0.1) as port:
        port.write(b"ATD*99#\r")
        got, deadline = b"", time.monotonic() + 5
        while b"CONNECT" not in got and time.monotonic() < deadline:
            got += port.read(64)
        assert b"CONNECT" in got, got


def _until_sync(proc: subprocess.Popen, timeout: float = 30) -> tuple[str, float]:
    """The daemon's output up to its sync step's line, and the seconds that took."""
    start, lines = time.monotonic(), []
    while time.monotonic() - start < timeout:
        lines.append(proc.stdout.readline())
        if "pre-flight sync:" in lines[-1]:
            return "".join(lines), time.monotonic() - start
    raise AssertionError("no sync line: " + "".join(lines))


@pytest.mark.parametrize("stale_state, escapes_at_once", [("connected", True), ("stopped", False)])
def test_a_run_killed_in_a_call_makes_the_next_sync_leave_data_mode_at_once(bench, dirs, stale_state,
                                                                            escapes_at_once):
    """No control line tells (dcd: always): only the last run's state says a call may be up. Without
    it, a silent port is a booting module for 8 s before any escape is tried."""
    b = bench()
    b.profile.write_text(b.profile.read_text().replace("at_timeout: 2", "at_timeout: 20")
                         .replace("line_backend: emulator", "line_backend: emulator\n  dcd: always"))
    _in_a_call(b.link)
    run, _state = dirs
    (run / "bench").mkdir(parents=True, mode=0o700)
    (run / "bench" / "status.json").write_text(json.dumps({"profile": "bench", "state": stale_state, "pid": 1}))
    proc = spawn_up(b, dirs)
    try:
        before, took = _until_sync(proc)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=30)
    assert "module was in data mode" in before, before
    assert ("may still be in data mode" in before) is escapes_at_once, before
    if escapes_at_once:
        assert took < 6, (took, before)
    else:
        assert took > 8, (took, before)


def test_the_daemon_imports_sh_at_its_first_command_without_loading_openssl_for_tls(bench, dirs):
    """sh 2.x imports asyncio (~4 MB of RSS): not before a command runs, here the reset command
    after the registration failed. asyncio imports ssl (OpenSSL, ~4 MB more) unless it is
    missing: the daemon needs no TLS. Read from the running daemon's memory map."""
    b = bench(registration=[[0, 2]])  # never registers: the attempt fails after 2 x 3 s, then a reset
    b.profile.write_text(b.profile.read_text().replace(
        "boot_timeout: 5", "boot_timeout: 5\n  dial_attempts: 1\n  reset: [command]\n  reset_command: [/bin/true]"))
    proc = spawn_up(b, dirs)
    try:
        wait_status(b, "preflight")
        assert b.emu.wait_for("cmd", "AT+CEREG?", timeout=20), "the registration wait began"
        assert "_asyncio" not in Path(f"/proc/{proc.pid}/maps").read_text(), "sh imported before any command"
        maps, deadline = "", time.monotonic() + 30
        while "_asyncio" not in maps and time.monotonic() < deadline:
            time.sleep(0.05)
            maps = Path(f"/proc/{proc.pid}/maps").read_text()
        assert "_asyncio" in maps, "sh (2.x) and its asyncio were imported"
        time.sleep(0.5)  # asyncio's own imports done
        maps = Path(f"/proc/{proc.pid}/maps").read_text()
        assert "_ssl." not in maps and "libssl" not in maps
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=30)
    assert proc.returncode == 0


@pytest.mark.parametrize("holder", ["line discipline", "flock"])
def test_a_port_another_program_holds_is_waited_for_never_reset(bench, dirs, tmp_path, holder):
    """Another program on the module's port (pppd's line discipline, or a tool's exclusive lock):
    `up` tries again and again, says why, and never resets the module under it: the reset
    command (a power cycle, here a marker file) never runs, the ladder does not count."""
    import fcntl
    import struct
    import termios

    marker = tmp_path / "power-cycled"
    b = bench(port="uart")
    b.profile.write_text(b.profile.read_text().replace(
        "boot_timeout: 5", f"boot_timeout: 5\n  retry_wait: 0.5\n  dial_attempts: 1\n  reset: [at, command]\n"
                           f"  reset_command: [/usr/bin/touch, {marker}]"))
    fd = os.open(b.link, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
    if holder == "flock":
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # as pyserial's exclusive open holds it
    else:
        fcntl.ioctl(fd, termios.TIOCSETD, struct.pack("i", 27))  # N_NULL, as pppd holds its tty
    proc = spawn_up(b, dirs)
    try:
        try:
            deadline = time.monotonic() + 30
            st = {}
            while time.monotonic() < deadline:  # 3 attempts: after 0.5, 1 and 2 s
                st = json.loads(run_cli("status", str(b.profile), "--json").stdout)
                if (st.get("lifetime") or {}).get("failed_attempts", 0) >= 3:
                    break
                time.sleep(0.1)
            assert st["lifetime"]["failed_attempts"] >= 3, st
            assert st["last_error_class"] == "port_in_use" and st["consecutive_failures"] == 0, st
            assert "another program" in st["last_error"] or "in use by" in st["last_error"], st
            assert not marker.exists(), "the module was reset under another program"
            assert b.commands() == [], "AT was sent on another program's port"
        finally:
            if holder == "flock":
                fcntl.flock(fd, fcntl.LOCK_UN)
            else:
                fcntl.ioctl(fd, termios.TIOCSETD, struct.pack("i", 0))
            os.close(fd)
        deadline = time.monotonic() + 30  # the port free again: the next attempt talks to the module
        while time.monotonic() < deadline and "AT" not in b.commands():
            time.sleep(0.1)
    finally:
        proc.send_signal(signal.SIGTERM)
        out = proc.communicate(timeout=30)[0]
    assert "AT" in b.commands(), out
    assert "held by another program, which no module reset mends" in out and "Traceback" not in out
    assert not marker.exists()
