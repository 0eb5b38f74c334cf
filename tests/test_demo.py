"""`bg-pppd demo` as a process where pppd cannot bring a link up (not root, or no kernel PPP).

The demo goes as far as CONNECT there and says why it stops; the built-in scenarios show a
redial and a reset; a signal ends it with nothing left behind. The whole way, with kernel
PPP, is tests/test_demo_uml.py. The assertions are on the demo's own lines.
"""

from __future__ import annotations

import glob
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from bg_pppd.cli.demo_module import ModuleFailed, VirtualModule
from bg_pppd.cli.demo_setup import why_no_link
from bg_pppd.emulator import Scenario
from tests.conftest import ROOT

MISSING = why_no_link()
# root where the kernel has PPP goes the whole way instead: tests/test_demo_uml.py
without_link = pytest.mark.skipif(not MISSING, reason="this kernel has PPP and we are root: the whole way here")
# the virtual module without its boot and registration waits: the demo in about 2 s
QUICK = "boot_at_start: false\ntime_scale: 0.05\nregistration: [[0, 1]]\n"
SETPRIV = shutil.which("setpriv")


def demo_argv(*args: str) -> list[str]:
    return [sys.executable, "-m", "bg_pppd", "demo", *args]


def demo(tmp_path: Path, *args: str, prefix: tuple[str, ...] = (), timeout: float = 90) -> subprocess.CompletedProcess:
    """The demo with its temporary directory under tmp_path (TMPDIR), so a leftover is seen."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TMPDIR": str(tmp_path)}
    return subprocess.run([*prefix, *demo_argv(*args)], capture_output=True, text=True, env=env, timeout=timeout,
                          cwd="/")


def lines(out: str) -> list[str]:
    """The step lines without their elapsed time, and the report's without their indent."""
    return [re.sub(r"^( *\d+\.\d s  | {9})", "", line) for line in out.splitlines()]


def stopped_line(missing: str) -> str:
    return (f"stopping at CONNECT: {missing}; on a board, pppd takes over after CONNECT (LCP, IPCP) and brings ppp0 "
            "up with the network's address (here 10.64.64.2, peer 10.64.64.1)")


def leftovers(tmp_path: Path) -> list[str]:
    return glob.glob(str(tmp_path / "bg-pppd-demo.*"))


@pytest.fixture
def tmp_path():
    """The demo's TMPDIR: short (the module's control socket path in it must stay within 107
    bytes; pytest's tmp dirs are long), and its own, so that what the demo leaves is seen."""
    path = Path(tempfile.mkdtemp(prefix="demo."))
    yield path
    shutil.rmtree(path, ignore_errors=True)


def test_unprivileged_user_gets_the_preflight_and_the_dial_to_connect(tmp_path):
    """As nobody (setpriv from root), with a scenario file: the report, CONNECT, the call ended, one line why."""
    tmp_path.chmod(0o1777)  # nobody makes its directory here (pytest's own are root's alone)
    scenario = tmp_path / "quick.yaml"
    scenario.write_text(QUICK)
    scenario.chmod(0o644)
    prefix: tuple[str, ...] = ()
    if os.geteuid() == 0:
        if not SETPRIV:
            pytest.skip("setpriv (util-linux) is needed to run the demo as nobody")
        prefix = (SETPRIV, "--reuid=nobody", "--regid=nogroup", "--clear-groups", "--")
    done = demo(tmp_path, "--scenario", str(scenario), prefix=prefix)
    out = lines(done.stdout)
    assert done.returncode == 0, (done.stdout, done.stderr)
    started = out[0]
    assert re.fullmatch(rf"virtual BG95 started on {tmp_path}/bg-pppd-demo\.\w+/bg95 -> /dev/pts/\d+ \(already on\)",
                        started), started
    assert "pre-flight registration: registered (home) via CEREG after 1 poll(s)" in out, done.stdout
    assert "registration: home" in out and "IMEI:         866425012345678" in out
    assert out.index("ATD*99#") > out.index("registration: home")
    assert "CONNECT 150000000: the module is in data mode; pppd would speak PPP from here" in out
    assert "call ended, the port back in command mode (DTR drop, ATH)" in out
    missing = "not root" if prefix or os.geteuid() else MISSING
    assert out[-1] == stopped_line(missing), out[-1]
    assert [line for line in out if line.startswith("stopping")] == [out[-1]], "one line says why"
    assert done.stderr == "" and leftovers(tmp_path) == []


@without_link
def test_drop_scenario_dials_again_after_the_network_ends_the_call(tmp_path):
    done = demo(tmp_path, "--scenario", "drop")
    out = lines(done.stdout)
    assert done.returncode == 0, (done.stdout, done.stderr)
    assert "scenario drop: the network drops the call once the link is up" in out
    assert out.count("ATD*99#") == 2 and out.count(
        "CONNECT 150000000: the module is in data mode; pppd would speak PPP from here") == 2, done.stdout
    first, second = [i for i, line in enumerate(out) if line == "ATD*99#"]
    between = out[first:second]
    assert "fault: the network drops the call" in between
    assert "NO CARRIER: the network dropped the call (bg-pppd up redials the same way)" in between
    assert "dialling again in 1 s (recovery.retry_wait), as bg-pppd up does" in between
    assert out[-1] == stopped_line(MISSING) and leftovers(tmp_path) == []


@without_link
def test_hang_scenario_shows_up_resetting_the_module(tmp_path):
    """up's recovery ladder: a failed sync, a reset by the module's reset line (the AT reset is
    skipped: the module does not answer), the pre-flight again; here pppd cannot start (exit 20),
    and the demo still dials to CONNECT."""
    done = demo(tmp_path, "--scenario", "hang")
    out = lines(done.stdout)
    assert done.returncode == 0, (done.stdout, done.stderr)
    assert "fault: the module stops answering (until a reset)" in out
    log = [line for line in out if line.startswith("up: demo: ")]
    assert "up: demo: pre-flight sync: failed" in log, done.stdout
    assert any(line.startswith("up: demo: switch from preflight to resetting: 1 consecutive failures: first reset, "
                               "immediate (sync: no OK to AT within 2 s") and line.endswith("(module not answering: "
                                                                                            "no AT reset)")
               for line in log), done.stdout
    assert "up: demo: module reset by command; it answers again" in log
    reset = log.index("up: demo: module reset by command; it answers again")
    assert any(line.startswith("up: demo: pre-flight registration: registered") for line in log[reset:])
    assert "up recovered the module, then stopped with exit 20: pppd cannot run here" in out
    assert "CONNECT 150000000: the module is in data mode; pppd would speak PPP from here" in out
    assert out[-1] == stopped_line(MISSING) and leftovers(tmp_path) == []


def _children(pid: int) -> list[int]:
    found = []
    for status in glob.glob("/proc/[0-9]*/status"):
        try:
            text = Path(status).read_text()
        except OSError:
            continue
        if re.search(rf"^PPid:\s+{pid}$", text, re.M):
            found.append(int(status.split("/")[2]))
    return found


def _gone(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return True
    return state == "Z"


@pytest.mark.parametrize("sig, when", [(signal.SIGINT, "up: demo: pre-flight port: present"),
                                       (signal.SIGTERM, "pre-flight port: present")])
def test_a_signal_ends_the_demo_and_everything_it_started(tmp_path, sig, when):
    """Ctrl-C while up runs (hang scenario), SIGTERM in the first pre-flight: the emulator and up
    end, the temporary directory goes, exit 130."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TMPDIR": str(tmp_path)}
    proc = subprocess.Popen(demo_argv("--scenario", "hang"), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=env, cwd="/")
    seen, children = [], []
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        seen.append(line)
        if lines(line) == [when]:
            children = _children(proc.pid)
            break
    assert children and leftovers(tmp_path), seen
    proc.send_signal(sig)
    rest, err = proc.communicate(timeout=40)
    out = lines("".join(seen) + rest)
    assert proc.returncode == 130, (out, err)
    assert f"{signal.Signals(sig).name}: ending the demo" in out
    assert len(children) == (2 if sig == signal.SIGINT else 1), children  # emulator (and up)
    assert all(_gone(pid) for pid in children), children
    assert leftovers(tmp_path) == [], "the temporary directory is removed"
    if sig == signal.SIGINT:
        assert "up: demo: switch from preflight to stopping: signal SIGTERM" in out, out


def test_a_scenario_that_is_neither_built_in_nor_a_file(tmp_path):
    done = demo(tmp_path, "--scenario", "nosuch")
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr == ("bg-pppd demo: --scenario nosuch: neither a built-in scenario (normal, hang, drop, "
                           "no-carrier) nor a file\n")
    bad = tmp_path / "bad.yaml"
    bad.write_text("boot_time: soon\n")
    done = demo(tmp_path, "--scenario", str(bad))
    assert done.returncode == 2 and done.stderr.count("\n") == 1, done.stderr
    assert "boot_time: must be a number of seconds" in done.stderr and leftovers(tmp_path) == []


def test_a_module_that_cannot_start_is_one_line(tmp_path):
    """The emulator's own last word, and its exit status when it refused what it was given."""
    module = VirtualModule(str(tmp_path), Scenario(), with_link=False)
    module.prefix = ["/bin/sh", "-c", "echo 'starting' >&2; echo 'bg-pppd emulate: /x: No such file' >&2; exit 2",
                     "sh"]
    with pytest.raises(ModuleFailed) as failed:
        module.start()
    assert str(failed.value) == "the virtual module did not start (exit 2): bg-pppd emulate: /x: No such file"
    assert failed.value.exit_code == 2


def test_the_emulators_hang_op_silences_the_module_until_a_reset(tmp_path):
    """What the hang scenario injects: no answer at all (no echo either) until the reset line."""
    from bg_pppd.emulator import Emulator
    from bg_pppd.emulator.control import call
    from tests.modemport import Port

    ctl = str(tmp_path / "ctl")
    with Emulator({"boot_at_start": False, "time_scale": 0.05, "registration": [[0, 1]], "reboot_time": 0.5},
                  control=ctl) as emu:
        port = Port(emu.device)
        try:
            assert port.cmd("AT").endswith(b"OK\r\n")
            assert call(ctl, "hang")["ok"] and call(ctl, "status")["power"] == "hung"
            port.send(b"AT\r")
            assert port.read_for(0.5) == b"", "hung: not even an echo"
            assert call(ctl, "reset")["ok"]
            assert emu.wait_for("event", "hung: no more answers")
            deadline = time.monotonic() + 10
            while call(ctl, "status")["power"] != "on" and time.monotonic() < deadline:
                time.sleep(0.05)
        finally:
            port.close()
        port = Port(emu.device)  # a USB module's port came back after the reset
        try:
            assert b"\r\nOK\r\n" in port.cmd("AT")  # the boot URCs may follow
        finally:
            port.close()


@without_link
def test_lab_says_in_one_line_what_it_lacks(tmp_path):
    """--lab without user-mode-linux on PATH (and, as nobody, without root): exit 1, one line."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TMPDIR": str(tmp_path), "PATH": str(tmp_path)}
    done = subprocess.run(demo_argv("--lab"), capture_output=True, text=True, env=env, timeout=60, cwd="/")
    if os.geteuid() == 0:
        assert done.stderr == ("bg-pppd demo: --lab: user-mode-linux is not installed "
                               "(apt-get install user-mode-linux)\n")
    else:
        assert done.stderr == "bg-pppd demo: --lab: run it as root (the guest's root works on this machine's files)\n"
    assert done.returncode == 1 and done.stdout == "" and leftovers(tmp_path) == []
    if os.geteuid() == 0 and SETPRIV:
        tmp_path.chmod(0o1777)
        done = demo(tmp_path, "--lab", prefix=(SETPRIV, "--reuid=nobody", "--regid=nogroup", "--clear-groups", "--"))
        assert done.returncode == 1 and done.stderr == ("bg-pppd demo: --lab: run it as root (the guest's root works "
                                                        "on this machine's files)\n"), done.stderr
        assert leftovers(tmp_path) == []
