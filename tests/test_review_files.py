"""Issue 15 (reliability review), the profile, the daemon's files and the command line.

Each test is named after the review's defect. The CLI runs as a process the way a user
runs it; pppd parses with the real pppd; attacks that need another user run as uid 65534.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from bg_pppd.daemon.ladder_store import LadderStore, boot_id, boottime
from bg_pppd.daemon.recovery import Ladder
from bg_pppd.link import render
from bg_pppd.profile import model as profile
from bg_pppd.profile import pppd_options
from bg_pppd.util import safe_files as atomic
from tests.conftest import PPPD, ROOT, needs_pppd, pppd_dryrun, run_cli
from tests.test_up_process import slow_retry, spawn_up, wait_status

NOBODY = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
MINIMAL = "modem:\n  port: /dev/ttyUSB2\nnetwork:\n  apn: internet\n"


def as_nobody(*cmd: str, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([*NOBODY, *cmd], capture_output=True, text=True, timeout=30, **kw)


def bg_as_nobody(*args: str) -> subprocess.CompletedProcess:
    env = {"PATH": os.environ["PATH"], "PYTHONPATH": str(ROOT)}
    return as_nobody(sys.executable, "-m", "bg_pppd", *args, env=env, cwd="/")


def limited_memory() -> None:
    """A child that reads /dev/zero or expands an alias bomb must not take the shared machine down."""
    resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))


def lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line]


@pytest.fixture
def shared():
    """A world-traversable directory (pytest's tmp is root's 0700): where another user can reach."""
    path = Path(tempfile.mkdtemp(prefix="bg-pppd-review-", dir="/tmp"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def tty():
    master, slave = os.openpty()
    yield os.ttyname(slave)
    os.close(master)
    os.close(slave)


def hold_lock(path: Path, text: bytes | None = None) -> subprocess.Popen:
    """Another process holding an flock on ``path`` (as `up` does), with ``text`` in it if given."""
    code = ("import fcntl, os, sys, time\n"
            "fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT, 0o600)\n"
            "fcntl.flock(fd, fcntl.LOCK_EX)\n"
            "print('locked', flush=True)\n"
            "time.sleep(60)\n")
    if text is not None:
        path.write_bytes(text)
    proc = subprocess.Popen([sys.executable, "-c", code, str(path)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "locked"
    return proc


def stop(proc: subprocess.Popen) -> str:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
    return proc.stdout.read() if proc.stdout else ""


def stays_in_preflight(bench):
    """A module that never registers: `up` holds its locks and polls, in pre-flight."""
    b = bench(registration=[[0, 2]])
    b.profile.write_text(b.profile.read_text().replace("registration_timeout: 3", "registration_timeout: 60"))
    return b


# --- D3: check while up runs --------------------------------------------------------------------

def test_D03_check_refuses_at_once_while_up_runs_the_profile(bench, dirs):
    b = stays_in_preflight(bench)
    up = spawn_up(b, dirs)
    try:
        wait_status(b, "preflight")
        start = time.monotonic()
        result = b.check()
        took = time.monotonic() - start
        assert result.returncode == 1, result.stderr
        assert f"bg-pppd up is running (pid {up.pid}): use `bg-pppd status" in result.stderr
        assert len(lines(result.stderr)) == 1 and "Traceback" not in result.stderr
        assert took < 5, "refused at once, without waiting for the port"
        as_json = b.check("--json")
        report = json.loads(as_json.stdout)
        assert as_json.returncode == 1 and report["exit_code"] == 1 and "bg-pppd up is running" in report["error"]
    finally:
        stop(up)


def test_D03_check_refuses_a_port_that_up_uses_for_another_profile(bench, dirs, tty, tmp_path):
    """Profile B's AT port is the running profile A's PPP port (data_port): B's check is refused."""
    b = stays_in_preflight(bench)
    b.profile.write_text(b.profile.read_text().replace(f"port: {b.link}\n",
                                                       f"port: {b.link}\n  data_port: {tty}\n"))
    up = spawn_up(b, dirs)
    try:
        wait_status(b, "preflight")
        other = tmp_path / "other.yaml"
        other.write_text(f"modem:\n  port: {tty}\nnetwork:\n  apn: internet\nrecovery:\n  at_timeout: 2\n"
                         "  boot_timeout: 5\n")
        start = time.monotonic()
        result = run_cli("check", str(other), timeout=60)
        assert result.returncode == 1, result.stderr
        assert f"port {tty} is in use: bg-pppd up is running (pid {up.pid})" in result.stderr
        assert time.monotonic() - start < 5
    finally:
        stop(up)


# --- D4: the port lock and data_port ------------------------------------------------------------

def test_D04_up_refuses_a_profile_whose_at_port_is_another_profiles_ppp_port(bench, dirs, tty, tmp_path):
    b = stays_in_preflight(bench)
    b.profile.write_text(b.profile.read_text().replace(f"port: {b.link}\n",
                                                       f"port: {b.link}\n  data_port: {tty}\n"))
    up = spawn_up(b, dirs)
    try:
        wait_status(b, "preflight")
        link = tmp_path / "by-id-name"
        link.symlink_to(tty)  # another name of the same device (as udev's by-id and by-path links)
        for port in (tty, str(link)):
            other = tmp_path / "other.yaml"
            other.write_text(f"modem:\n  port: {port}\nnetwork:\n  apn: internet\n")
            result = run_cli("up", str(other), timeout=20)
            assert result.returncode == 1, result.stderr
            assert "is in use by another bg-pppd" in result.stderr and f"pid {up.pid}" in result.stderr
        # and the other way round: a profile whose PPP port is the running one's AT port
        master, slave = os.openpty()
        try:
            other.write_text(f"modem:\n  port: {os.ttyname(slave)}\n  data_port: {b.link.resolve()}\n"
                             "network:\n  apn: internet\n")
            result = run_cli("up", str(other), timeout=20)
        finally:
            os.close(master)
            os.close(slave)
        assert result.returncode == 1 and f"port {b.link.resolve()} is in use" in result.stderr, result.stderr
    finally:
        stop(up)


# --- D8: run and state directories, lock, status and rendered files -----------------------------

def test_D08_a_profile_dir_made_by_another_user_is_refused(shared, write_profile):
    base = shared / "run"
    base.mkdir(mode=0o1777)
    base.chmod(0o1777)  # like /tmp: fine as the base
    assert as_nobody("mkdir", "-m", "0777", str(base / "p1")).returncode == 0
    result = run_cli("--run-dir", str(base), "render", str(write_profile(MINIMAL, name="p1")))
    assert result.returncode == 2, result.stdout
    assert len(lines(result.stderr)) == 1 and str(base / "p1") in result.stderr
    assert "owned by uid 65534" in result.stderr and "remove it" in result.stderr
    assert os.listdir(base / "p1") == [], "nothing written where another user can swap it"
    # a dir of ours, in the sticky base: fine
    result = run_cli("--run-dir", str(base), "render", str(write_profile(MINIMAL, name="p2")))
    assert result.returncode == 0, result.stderr
    assert stat.S_IMODE((base / "p2").stat().st_mode) == 0o700


def test_D08_a_symlinked_profile_dir_is_refused_and_nothing_lands_in_its_target(shared, write_profile):
    base = shared / "run"
    base.mkdir()
    base.chmod(0o1777)
    victim = shared / "victim"
    victim.mkdir(mode=0o700)
    assert as_nobody("ln", "-s", str(victim), str(base / "p3")).returncode == 0
    result = run_cli("--run-dir", str(base), "render", str(write_profile(MINIMAL, name="p3")))
    assert result.returncode == 2 and len(lines(result.stderr)) == 1, result.stderr
    (base / "mine").symlink_to(victim)  # even root's own symlink: the profile's dir must be a directory
    result = run_cli("--run-dir", str(base), "render", str(write_profile(MINIMAL, name="mine")))
    assert result.returncode == 2 and "is a symlink, not a directory" in result.stderr
    assert os.listdir(victim) == []


def test_D08_a_symlinked_lock_is_never_followed(shared, write_profile, tmp_path):
    base = shared / "run"
    base.mkdir()
    base.chmod(0o1777)
    victim = shared / "victim.txt"
    victim.write_text("precious root-owned data\n")
    victim.chmod(0o600)
    assert as_nobody("sh", "-c", f"mkdir -m 777 {base}/p4 && ln -s {victim} {base}/p4/lock").returncode == 0
    prof = write_profile(MINIMAL, name="p4")
    env = {"BG_PPPD_RUN_DIR": str(base), "BG_PPPD_STATE_DIR": str(tmp_path / "state")}
    result = run_cli("up", str(prof), env=env, timeout=20)
    assert result.returncode == 2 and "owned by uid 65534" in result.stderr, result.stderr
    # in a directory of ours, a symlink planted as the lock is refused as such
    shutil.rmtree(base / "p4")
    (base / "p4").mkdir(mode=0o700)
    (base / "p4" / "lock").symlink_to(victim)
    result = run_cli("up", str(prof), env=env, timeout=20)
    assert result.returncode == 2 and "lock: is a symlink" in result.stderr, result.stderr
    assert victim.read_text() == "precious root-owned data\n"
    # the ports dir is the same: another user's is refused
    (base / "p4" / "lock").unlink()
    assert as_nobody("mkdir", "-m", "0777", str(base / "ports")).returncode == 0
    result = run_cli("up", str(prof), env=env, timeout=20)
    assert result.returncode == 2 and f"{base}/ports" in result.stderr, result.stderr


def test_D08_a_status_file_symlink_is_not_read(tmp_path):
    run = tmp_path / "run"
    (run / "x").mkdir(parents=True, mode=0o700)
    elsewhere = tmp_path / "elsewhere.json"
    elsewhere.write_text(json.dumps({"last_error": "read through a symlink", "operator": "Evil"}))
    (run / "x" / "status.json").symlink_to(elsewhere)
    result = run_cli("--run-dir", str(run), "status", "--json", "x")
    assert result.returncode == 3
    out = json.loads(result.stdout)
    assert out["last_error"] is None and out["operator"] is None


def test_D08_down_never_signals_a_pid_from_a_run_dir_another_user_controls(shared):
    """A lock planted (and held) by another user, naming a root process: down must not kill it."""
    base = shared / "run"
    base.mkdir()
    base.chmod(0o1777)
    victim = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        assert as_nobody("mkdir", "-m", "0777", str(base / "p5")).returncode == 0
        holder = subprocess.Popen([*NOBODY, sys.executable, "-c", (
            "import fcntl, os, sys, time\n"
            "fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT, 0o644)\n"
            "os.write(fd, sys.argv[2].encode())\n"
            "fcntl.flock(fd, fcntl.LOCK_EX)\n"
            "print('locked', flush=True)\n"
            "time.sleep(60)\n"), str(base / "p5" / "lock"), f"{victim.pid}\n"], stdout=subprocess.PIPE, text=True)
        try:
            assert holder.stdout.readline().strip() == "locked"
            result = run_cli("--run-dir", str(base), "down", "--timeout", "2", "p5", timeout=20)
            assert result.returncode == 2 and "owned by uid 65534" in result.stderr, result.stderr
            time.sleep(0.2)
            assert victim.poll() is None, "the root process named in the planted lock still runs"
        finally:
            holder.kill()
            holder.wait(5)
    finally:
        victim.kill()
        victim.wait(5)


def test_D08_a_swapped_peer_file_is_rendered_again(tmp_path, tty, write_profile):
    prof = profile.load(write_profile(f"modem:\n  port: {tty}\nnetwork:\n  apn: internet\n"))
    out = render.render(prof, tmp_path / "o")
    good = out.peer.read_text()
    attacker = f'"{tty}"\nconnect "/bin/sh -c id>/tmp/pwned"\nbg-pppd-canary-attacker-option\n'
    swapped = tmp_path / "o" / "peer.new"
    swapped.write_text(attacker)
    swapped.chmod(0o600)
    swapped.replace(out.peer)  # same owner, same mode: only the content tells
    assert render.render(prof, tmp_path / "o").peer.read_text() == good
    out.peer.chmod(0o644)  # the mode is checked too
    render.render(prof, tmp_path / "o")
    assert stat.S_IMODE(out.peer.stat().st_mode) == 0o600
    out.connect.unlink()
    out.connect.symlink_to(tmp_path / "elsewhere")  # never read or written through
    again = render.render(prof, tmp_path / "o")
    assert not again.connect.is_symlink() and "ATD*99#" in again.connect.read_text()
    assert not (tmp_path / "elsewhere").exists()
    if PPPD:
        assert pppd_dryrun(again.peer).returncode == 4


def test_D08_render_out_dir_of_another_user_is_refused(shared, write_profile):
    out = shared / "out"
    out.mkdir()
    os.chown(out, 65534, 65534)
    result = run_cli("render", str(write_profile(MINIMAL)), "--out", str(out))
    assert result.returncode == 2 and "owned by uid 65534" in result.stderr, result.stderr
    assert os.listdir(out) == []
    out.chmod(0o777)
    os.chown(out, 0, 0)  # root's, but anyone can swap files in it
    result = run_cli("render", str(write_profile(MINIMAL)), "--out", str(out))
    assert result.returncode == 2 and "can be changed by other users (mode 0777)" in result.stderr
    assert os.listdir(out) == []


def test_D08_atomic_write_never_writes_through_a_symlinked_or_foreign_directory(shared):
    real = shared / "real"
    real.mkdir(mode=0o700)
    (shared / "link").symlink_to(real)
    with pytest.raises(OSError, match="is a symlink"):  # errors.UnsafePath, an OSError
        atomic.write(shared / "link" / "state.json", "x")
    foreign = shared / "foreign"
    foreign.mkdir()
    os.chown(foreign, 65534, 65534)
    with pytest.raises(OSError, match="owned by uid 65534"):
        atomic.write(foreign / "state.json", "x")
    assert os.listdir(real) == [] and os.listdir(foreign) == []
    target = real / "status.json"
    target.symlink_to(shared / "victim")
    atomic.write(target, "new")  # a symlink at the target is replaced, never followed
    assert not target.is_symlink() and target.read_text() == "new" and not (shared / "victim").exists()


def test_D08_state_dir_of_another_user_is_refused_by_up(shared, write_profile, tmp_path):
    state = shared / "state"
    state.mkdir()
    os.chown(state, 65534, 65534)
    env = {"BG_PPPD_RUN_DIR": str(tmp_path / "run"), "BG_PPPD_STATE_DIR": str(state)}
    result = run_cli("up", str(write_profile(MINIMAL)), env=env, timeout=20)
    assert result.returncode == 2 and f"{state}: not safe" in result.stderr, result.stderr
    assert len(lines(result.stderr)) == 1


# --- D10: a damaged state file --------------------------------------------------------------------

def damaged_state_files(now: float) -> dict[str, bytes]:
    bid = boot_id()
    return {
        "non-utf8": b'{"ladder": {"failures": 1, "last_error": "\x98\xff"}}',
        "ladder-list": b'{"ladder": []}',
        "nan": f'{{"boot_id": "{bid}", "ladder": {{"failures": 5, "resets": 1, "last_reset": NaN}}}}'.encode(),
        "-inf": f'{{"boot_id": "{bid}", "ladder": {{"failures": 5, "resets": 1, "last_reset": -Infinity}}}}'.encode(),
        "-1e300": f'{{"boot_id": "{bid}", "ladder": {{"failures": 5, "resets": 1, "last_reset": -1e300}}}}'.encode(),
        "negative": f'{{"boot_id": "{bid}", "ladder": {{"resets": 2, "last_reset": -5}}}}'.encode(),
        "bool-count": b'{"ladder": {"failures": true}}',
        "error-object": b'{"ladder": {"last_error": {"x": 1}}}',
        "deep": b"[" * 30000 + b"]" * 30000,
        "huge": b"[" * 200000 + b"]" * 200000,
    }


@pytest.mark.parametrize("case", sorted(damaged_state_files(0)))
def test_D10_a_damaged_state_file_gives_the_conservative_ladder(tmp_path, case):
    now = boottime()
    (tmp_path / "prof.json").write_bytes(damaged_state_files(now)[case])
    ladder, note = LadderStore(tmp_path, "prof").load(now)
    assert note, "the damage is reported"
    assert (ladder.failures, ladder.resets, ladder.last_reset) == (0, 1, now), "as if a reset just happened"


def test_D10_a_good_state_file_is_kept(tmp_path):
    now = boottime()
    saved = {"boot_id": boot_id(), "ladder": {"failures": 2, "resets": 1, "last_reset": now - 5,
                                              "last_error": "x"}}
    (tmp_path / "prof.json").write_text(json.dumps(saved))
    assert LadderStore(tmp_path, "prof").load(now) == (Ladder(2, 1, now - 5, "x"), "")
    for bad in ([], "x", {"failures": True}, {"resets": 2**40}, {"last_reset": float("nan")},
                {"last_reset": float("-inf")}, {"last_reset": True}, {"last_error": 5}):
        with pytest.raises(ValueError):
            Ladder.from_dict(bad)


@pytest.mark.parametrize("case", ["non-utf8", "ladder-list", "nan", "-1e300", "deep"])
def test_D10_up_starts_with_a_damaged_state_file(bench, dirs, case):
    b = bench(registration=[[0, 3]])
    slow_retry(b)
    Path(dirs[1]).mkdir(parents=True, exist_ok=True)
    (Path(dirs[1]) / "bench.json").write_bytes(damaged_state_files(boottime())[case])
    proc = spawn_up(b, dirs)
    try:
        st = wait_status(b, "waiting")
    finally:
        out = stop(proc)
    assert proc.returncode == 0, out
    assert "Traceback" not in out and "recovery state:" in out
    assert st["resets"] == 1 and st["next_reset_not_before"], "conservative: a full wait from now"


# --- D13: durations that would make a loop spin ---------------------------------------------------

def with_values(values: dict) -> str:
    import yaml

    data = {"modem": {"port": "/dev/ttyUSB2"}, "network": {"apn": "internet"}}
    for section, keys in values.items():
        data.setdefault(section, {}).update(keys)
    return yaml.safe_dump(data)


@pytest.mark.parametrize("section, key, value", [
    ("recovery", "retry_wait", 0), ("recovery", "retry_wait", 0.0), ("recovery", "retry_wait", 0.01),
    ("recovery", "stable_after", 0), ("recovery", "reset_waits", [600, 0]),
    ("monitor", "interval", 0.001), ("network", "registration_timeout", 0),
])
def test_D13_a_wait_that_would_spin_is_refused(write_profile, section, key, value):
    result = run_cli("validate", str(write_profile(with_values({section: {key: value}}))))
    assert result.returncode == 2 and f"{section}.{key}" in result.stderr, result.stderr
    assert "must be at least" in result.stderr and len(lines(result.stderr)) == 1
    # what tests use to scale waits down still validates; 0 still turns the monitor off
    scaled = with_values({"recovery": {"retry_wait": 0.5, "stable_after": 1, "reset_waits": [1, 2]},
                          "monitor": {"interval": 0}, "network": {"registration_timeout": 1}})
    assert run_cli("validate", str(write_profile(scaled, name="scaled"))).returncode == 0


# --- D14: FIFOs, devices, sizes, alias bombs ------------------------------------------------------

def test_D14_a_profile_that_is_not_a_regular_file_is_refused_at_once(tmp_path):
    fifo = tmp_path / "fifo.yaml"
    os.mkfifo(fifo)
    result = run_cli("validate", str(fifo), timeout=10)
    assert result.returncode == 2 and "not a regular file (a FIFO)" in result.stderr
    result = run_cli("validate", "/dev/zero", timeout=10, preexec_fn=limited_memory)
    assert result.returncode == 2 and "not a regular file (a character device)" in result.stderr
    assert "Traceback" not in result.stderr


def test_D14_secret_files_that_are_not_regular_files_are_refused(tmp_path, write_profile):
    fifo = tmp_path / "pin"
    os.mkfifo(fifo)
    result = run_cli("validate", str(write_profile(MINIMAL + f"sim:\n  pin_file: {fifo}\n")), timeout=10)
    assert result.returncode == 2 and "sim.pin_file: cannot read" in result.stderr and "FIFO" in result.stderr
    prof = write_profile(MINIMAL + "auth:\n  method: pap\n  user: u\n  password_file: /dev/zero\n")
    result = run_cli("validate", str(prof), timeout=10, preexec_fn=limited_memory)
    assert result.returncode == 2 and "auth.password_file: cannot read /dev/zero" in result.stderr
    big = tmp_path / "password"
    big.write_text("x" * 100_000)
    big.chmod(0o600)
    prof = write_profile(MINIMAL + f"auth:\n  method: pap\n  user: u\n  password_file: {big}\n")
    result = run_cli("validate", str(prof), timeout=10)
    assert result.returncode == 2 and "too large" in result.stderr


def test_D14_alias_bomb_and_huge_profiles_are_refused_cheaply(tmp_path):
    rows = ["a: &a [" + ", ".join(["x"] * 9) + "]"]
    for prev, name in zip("abcdefgh", "bcdefghi"):
        rows.append(f"{name}: &{name} [" + ", ".join([f"*{prev}"] * 9) + "]")
    bomb = tmp_path / "bomb.yaml"
    bomb.write_text("\n".join(rows) + "\nmodem: {port: /dev/ttyUSB2}\n")
    assert bomb.stat().st_size < 500  # 9**9 lists of x once expanded
    start = time.monotonic()
    result = run_cli("validate", str(bomb), timeout=30, preexec_fn=limited_memory)
    assert result.returncode == 2 and "holds more than 10000 values" in result.stderr, result.stderr
    assert len(lines(result.stderr)) == 1 and time.monotonic() - start < 10
    biglist = tmp_path / "biglist.yaml"
    biglist.write_text(MINIMAL + "ppp:\n  extra_options:\n" + "    - novj\n" * 2_000_000)
    result = run_cli("validate", str(biglist), timeout=30, preexec_fn=limited_memory)
    assert result.returncode == 2 and "too large" in result.stderr
    medium = tmp_path / "medium.yaml"  # under the size cap, over the node cap
    medium.write_text(MINIMAL + "ppp:\n  extra_options: [" + ", ".join(["x"] * 12000) + "]\n")
    result = run_cli("validate", str(medium), timeout=30)
    assert result.returncode == 2 and "holds more than" in result.stderr


def test_D14_a_symlinked_profile_still_works(tmp_path, write_profile):
    """Profiles linked into /etc/bg-pppd are normal: the link is followed, its target checked."""
    target = write_profile(MINIMAL, name="real")
    conf = tmp_path / "conf"
    conf.mkdir(mode=0o755)
    (conf / "office.yaml").symlink_to(target)
    result = run_cli("validate", "office", env={"BG_PPPD_CONFIG_DIR": str(conf)})
    assert result.returncode == 0, result.stderr
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    (conf / "fifo.yaml").symlink_to(fifo)
    result = run_cli("validate", "fifo", env={"BG_PPPD_CONFIG_DIR": str(conf)}, timeout=10)
    assert result.returncode == 2 and "FIFO" in result.stderr


# --- D15: status on a status file of the wrong shape ----------------------------------------------

WRONG_SHAPES = ['[1,2]', '"hello"', "42", "null", '{"dns": [1, 2]}', '{"signal": [1, 2]}',
                '{"dns": "8.8.8.8", "signal": {"rssi_dbm": [1], "x": NaN}, "resets": "3", "state": 7}',
                '{"last_error": {"a": 1}, "consecutive_failures": -1, "since": 12}']


@pytest.mark.parametrize("content", WRONG_SHAPES)
def test_D15_status_reads_a_status_file_of_the_wrong_shape(tmp_path, content):
    run = tmp_path / "run"
    (run / "x").mkdir(parents=True, mode=0o700)
    (run / "x" / "status.json").write_text(content)
    for args in ((), ("--json",)):
        result = run_cli("--run-dir", str(run), "status", *args, "x")
        assert result.returncode == 3, result.stderr
        assert result.stderr == ""
    out = json.loads(result.stdout)
    assert out["state"] == "stopped" and out["dns"] == [] and isinstance(out["signal"], dict)
    # while running (a process holds the lock, the file names it): the good parts are used
    holder = hold_lock(run / "x" / "lock")
    try:
        data = {"pid": holder.pid, "state": "waiting", "dns": ["10.0.0.53", 5], "signal": {"rssi_dbm": -70}}
        (run / "x" / "status.json").write_text(json.dumps(data)[:-1] + ", \"resets\": NaN}")
        result = run_cli("--run-dir", str(run), "status", "--json", "x")
        out = json.loads(result.stdout)  # strict JSON: no NaN
        assert result.returncode == 0 and out["state"] == "waiting" and out["pid"] == holder.pid
        assert out["dns"] == ["10.0.0.53"] and out["resets"] is None and out["signal"] == {"rssi_dbm": -70}
        human = run_cli("--run-dir", str(run), "status", "x")
        assert human.returncode == 0 and "10.0.0.53" in human.stdout
    finally:
        holder.kill()
        holder.wait(5)


# --- D16: files and programs that another user can change ----------------------------------------

def test_D16_a_profile_that_another_user_can_change_is_refused_by_every_command(shared, dirs):
    conf = shared / "conf"
    conf.mkdir(mode=0o755)
    prof = conf / "office.yaml"
    prof.write_text(MINIMAL)
    prof.chmod(0o666)
    for command in ("validate", "render", "check", "up"):
        result = run_cli(command, str(prof), timeout=20)
        assert result.returncode == 2, (command, result.stderr)
        assert f"{prof} can be changed by other users (mode 0666)" in result.stderr
        assert "root run their commands" in result.stderr and len(lines(result.stderr)) == 1
    prof.chmod(0o644)
    conf.chmod(0o777)  # the directory: anyone can put another profile in its place
    assert "can be changed by other users (mode 0777)" in run_cli("validate", str(prof)).stderr
    conf.chmod(0o755)
    os.chown(prof, 65534, 65534)
    assert "owned by uid 65534" in run_cli("validate", str(prof)).stderr
    os.chown(prof, 0, 0)
    assert run_cli("validate", str(prof)).returncode == 0


@pytest.mark.parametrize("key", ["hooks:\n  on_up", "hooks:\n  on_ring", "recovery:\n  reset: [command]\n"
                                 "  reset_command"])
def test_D16_a_hook_or_reset_program_another_user_can_change_is_refused(shared, write_profile, key):
    tools = shared / "tools"
    tools.mkdir(mode=0o755)
    hook = tools / "hook.sh"
    hook.write_text("#!/bin/sh\nid > /tmp/ran-as\n")
    name = key.split("\n")[-1].strip()

    def validate(command: str) -> subprocess.CompletedProcess:
        return run_cli("validate", str(write_profile(MINIMAL + f"{key}: {command}\n")))
    hook.chmod(0o777)
    result = validate(str(hook))
    assert result.returncode == 2 and f"{name}: {hook} can be changed by other users" in result.stderr
    assert "root runs it" in result.stderr
    result = validate(f"/bin/sh {hook}")  # a script given to an interpreter is as good as a program
    assert result.returncode == 2 and "root runs it" in result.stderr
    hook.chmod(0o755)
    assert validate(str(hook)).returncode == 0
    tools.chmod(0o777)  # anyone can replace it, or put it there when it is missing
    assert "(mode 0777)" in validate(str(hook)).stderr
    assert validate(str(tools / "not-yet-there.sh")).returncode == 2
    tools.chmod(0o755)
    os.chown(hook, 65534, 65534)
    assert "owned by uid 65534" in validate(str(hook)).stderr


def test_D16_a_secret_file_another_user_can_change_is_warned_about(tmp_path, write_profile):
    pin = tmp_path / "pin"
    pin.write_text("1234\n")
    pin.chmod(0o620)
    result = run_cli("validate", str(write_profile(MINIMAL + f"sim:\n  pin_file: {pin}\n")))
    assert result.returncode == 0 and "another user can change the secret" in result.stderr


def test_D16_a_system_program_another_user_can_change_is_not_used(tmp_path, monkeypatch):
    from bg_pppd.util.programs import find

    open_dir, safe_dir = tmp_path / "open", tmp_path / "safe"
    for directory in (open_dir, safe_dir):
        directory.mkdir()
        tool = directory / "pppd"
        tool.write_text("#!/bin/sh\n")
        tool.chmod(0o755)
    open_dir.chmod(0o777)
    monkeypatch.setenv("PATH", f"{open_dir}:{safe_dir}")
    assert find("pppd") == str(safe_dir / "pppd")
    (safe_dir / "pppd").chmod(0o757)
    assert find("pppd") != str(safe_dir / "pppd")


# --- D19: values validate accepts and pppd rejects ------------------------------------------------

def test_D19_choices_compare_the_type(write_profile):
    for value in ("115200.0", '"115200"', "true", "1.152e5"):
        result = run_cli("validate", str(write_profile(MINIMAL.replace("/dev/ttyUSB2\n", "/dev/ttyUSB2\n"
                                                                       f"  baudrate: {value}\n"))))
        assert result.returncode == 2 and "modem.baudrate: must be one of" in result.stderr, value


@pytest.mark.parametrize("entry", ["mtu 999999", "mtu 0", "mtu 127", "mtu 16385", "mru 100", "mtu 01500",
                                   "idle 08", "lcp-restart 0", "kdebug 7"])
def test_D19_extra_options_outside_pppds_ranges_are_refused(write_profile, entry):
    result = run_cli("validate", str(write_profile(MINIMAL + f"ppp:\n  extra_options: [{entry}]\n")))
    assert result.returncode == 2 and "ppp.extra_options[0]" in result.stderr, entry


def _load_options(tmp_path: Path, tty: str, entries: list[str]) -> profile.Profile:
    import yaml

    path = tmp_path / "opts.yaml"
    path.write_text(yaml.safe_dump({"modem": {"port": tty}, "network": {"apn": "internet"},
                                    "ppp": {"extra_options": entries}}))
    path.chmod(0o600)
    return profile.load(path)


def _render_options(tmp_path: Path, tty: str, entries: list[str]) -> subprocess.CompletedProcess:
    return pppd_dryrun(render.render(_load_options(tmp_path, tty, entries), tmp_path / "out").peer)


@needs_pppd
def test_D19_every_allowed_option_at_its_limits_is_accepted_by_pppd(tmp_path, tty):
    excluded = {pair[1] for pair in pppd_options.EXCLUSIVE}
    flags = [name for name, args in pppd_options.ALLOWED.items() if not args and name not in excluded]
    for pick in (0, 1):
        entries = flags + [f"{name} {limits[pick]}" for name, limits in pppd_options.NUMERIC.items()]
        entries += ["asyncmap 0x0" if pick == 0 else "asyncmap FFFFFFFF", "ifname " + ("w" if pick else "w" * 15)]
        for entry in entries:
            pppd_options.check(entry)
        result = _render_options(tmp_path, tty, entries)
        assert result.returncode == 4, result.stdout + result.stderr


@needs_pppd
def test_D19_the_mtu_range_is_pppds_own(tmp_path, tty):
    """pppd itself refuses an mtu just outside the range the allowlist carries."""
    lo, hi = pppd_options.NUMERIC["mtu"]
    for value, code in ((lo - 1, 2), (lo, 4), (hi, 4), (hi + 1, 2)):
        peer = tmp_path / "peer"
        peer.write_text(f'"{tty}"\nmtu {value}\n')
        assert pppd_dryrun(peer).returncode == code, value


@needs_pppd
def test_D19_options_that_disable_each_other_are_refused(tmp_path, tty, write_profile):
    """pppd: "defaultroute6 option is disabled" after nodefaultroute6 (exit 2 at the first dial)."""
    peer = tmp_path / "peer"
    peer.write_text(f'"{tty}"\nnodefaultroute6\ndefaultroute6\n')
    assert pppd_dryrun(peer).returncode == 2
    for pair in ("[nodefaultroute6, defaultroute6]", "[defaultroute6, nodefaultroute6]"):
        result = run_cli("validate", str(write_profile(MINIMAL + f"ppp:\n  extra_options: {pair}\n")))
        assert result.returncode == 2 and "not both" in result.stderr, result.stderr


def _option_entries():
    """Entries of the allowlist's options, most with one argument, around and far outside the ranges."""
    flags = sorted(name for name, args in pppd_options.ALLOWED.items() if not args)
    with_arg = sorted(name for name, args in pppd_options.ALLOWED.items() if args)
    word = st.one_of(st.integers(0, 70000).map(str), st.integers(-5, 2**32 + 5).map(str),
                     st.integers(0, 2**33).map(hex),
                     st.sampled_from(["0", "1", "00", "08", "010", "0x10", "1e3", "+5", "ppp0", "wwan-1",
                                      "127", "128", "16384", "16385", "x" * 16]),
                     st.from_regex(r"[A-Za-z0-9_-]{1,18}", fullmatch=True))
    entry = st.one_of(st.sampled_from(flags),
                      st.builds(lambda name, arg: f"{name} {arg}", st.sampled_from(with_arg), word),
                      st.builds(lambda name, arg: f"{name} {arg}", st.sampled_from(with_arg), word))
    return st.lists(entry, min_size=1, max_size=4, unique_by=lambda e: e.split()[0])


@needs_pppd
@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                   HealthCheck.too_slow])
@given(entries=_option_entries())
@example(entries=["mtu 999999"])  # the review's finding
@example(entries=["nodefaultroute6", "defaultroute6"])  # found by this test: "defaultroute6 option is disabled"
def test_D19_whatever_validate_accepts_pppd_accepts(tmp_path, tty, entries):
    from bg_pppd.util.errors import ProfileError

    try:
        loaded = _load_options(tmp_path, tty, entries)
    except ProfileError:
        return  # refused by validate: fine
    result = pppd_dryrun(render.render(loaded, tmp_path / "out").peer)
    assert result.returncode == 4, f"{entries}: {result.stdout}{result.stderr}"


# --- D20: render --out with control characters, deep nesting --------------------------------------

def test_D20_render_out_with_a_control_character_is_one_line_and_creates_nothing(tmp_path, write_profile):
    prof = write_profile(MINIMAL)
    for bad in ("out\nx", "out\tx", "out\x1b[2Jx"):
        result = run_cli("render", str(prof), "--out", str(tmp_path / bad))
        assert result.returncode == 2 and len(lines(result.stderr)) == 1, result.stderr
        assert "control character" in result.stderr and "Traceback" not in result.stderr
    assert sorted(os.listdir(tmp_path)) == ["test.yaml"], "nothing created"
    with pytest.raises(render.RenderError):
        render.render(profile.load(prof), tmp_path / "lib\nout")
    assert sorted(os.listdir(tmp_path)) == ["test.yaml"]


@pytest.mark.parametrize("depth", [25, 995, 999])
def test_D20_deep_nesting_is_one_line(tmp_path, depth):
    path = tmp_path / "deep.yaml"
    path.write_text("modem: " + "[" * depth + "]" * depth + "\n")
    result = run_cli("validate", str(path))
    assert result.returncode == 2 and "nested too deeply" in result.stderr
    assert len(lines(result.stderr)) == 1 and "Traceback" not in result.stderr


# --- D22: status and down edges ------------------------------------------------------------------

def test_D22_status_as_another_user_is_a_clear_unknown(shared):
    run = shared / "run"
    (run / "office").mkdir(parents=True)
    run.chmod(0o700)
    result = bg_as_nobody("--run-dir", str(run), "status", "office")
    assert result.returncode == 4, result.stderr
    assert "cannot read the state" in result.stderr and "run as root" in result.stderr
    assert len(lines(result.stderr)) == 1


@pytest.mark.parametrize("args", [["status", "x"], ["status", "--json", "x"], ["--help"], ["render", "p"]])
def test_D22_a_closed_pipe_is_not_an_error_message(tmp_path, write_profile, args):
    write_profile(MINIMAL, name="p")
    args = [str(tmp_path / "p.yaml") if a == "p" else a for a in args]
    read, write = os.pipe()
    os.close(read)  # like `| head -3` once head has exited
    try:
        result = subprocess.run([sys.executable, "-m", "bg_pppd", "--run-dir", str(tmp_path / "run"), *args],
                                stdout=write, stderr=subprocess.PIPE, text=True, timeout=30,
                                env={**os.environ, "PYTHONPATH": str(ROOT)})
    finally:
        os.close(write)
    assert result.returncode == 141 and result.stderr == "", result.stderr


def test_D22_a_lock_whose_pid_is_not_written_yet_reads_as_running(tmp_path):
    run = tmp_path / "run"
    (run / "x").mkdir(parents=True, mode=0o700)
    (run / "x" / "status.json").write_text(json.dumps({"state": "stopped", "pid": 32649}))
    for text in (b"", b"32649\n"):  # nothing yet, or the last daemon's pid still there
        holder = hold_lock(run / "x" / "lock", text)
        try:
            result = run_cli("--run-dir", str(run), "status", "--json", "x")
            out = json.loads(result.stdout)
            assert result.returncode == 0 and out["state"] == "preflight" and out["pid"] == holder.pid, out
        finally:
            holder.kill()
            holder.wait(5)


@pytest.mark.parametrize("value", ["nan", "inf", "-1"])
def test_D22_down_refuses_a_timeout_that_never_ends(tmp_path, value):
    result = run_cli("--run-dir", str(tmp_path), "down", "--timeout", value, "x", timeout=10)
    assert result.returncode == 2 and "--timeout" in result.stderr
    assert run_cli("--run-dir", str(tmp_path), "down", "--timeout", "0", "x").returncode == 0


# --- D23: control characters in messages -----------------------------------------------------------

def test_D23_a_file_name_cannot_forge_error_lines(tmp_path):
    sub = tmp_path / "a\nb.yaml: fake: forged line"
    sub.mkdir()
    prof = sub / "p.yaml"
    prof.write_text(MINIMAL + "bogus: 1\n")
    result = run_cli("validate", str(prof))
    assert result.returncode == 2 and len(lines(result.stderr)) == 1, result.stderr
    assert "a\\nb.yaml" in result.stderr
    named = tmp_path / "x\ny.yaml"
    named.write_text(MINIMAL)
    result = run_cli("validate", str(named))
    assert result.returncode == 2 and len(lines(result.stderr)) == 1, result.stderr
    prof.write_text(MINIMAL + 'sim:\n  pin: "1234"\n')
    prof.chmod(0o644)  # a warning names the path too
    result = run_cli("validate", str(prof))
    assert result.returncode == 0 and len(lines(result.stderr)) == 1 and "readable by every user" in result.stderr
    missing = run_cli("validate", str(tmp_path / "c\x1b[31md.yaml"))
    assert "\x1b" not in missing.stderr and "\\x1b" in missing.stderr


# --- D24: probe target and the allowlist ----------------------------------------------------------

@pytest.mark.parametrize("target", ["-f", "--help", "-c99999"])
def test_D24_probe_target_never_starts_with_a_dash(write_profile, target):
    result = run_cli("validate", str(write_profile(MINIMAL + f"probe:\n  target: '{target}'\n")))
    assert result.returncode == 2 and "probe.target" in result.stderr, result.stderr
    assert "never starting with '-'" in result.stderr
    for fine in ("10.64.64.1", "example.com:443", "[2001:db8::1]:80", "a-b.example"):
        result = run_cli("validate", str(write_profile(MINIMAL + f"probe:\n  target: '{fine}'\n", name="ok")))
        assert result.returncode == 0, (fine, result.stderr)


def test_D24_options_that_leak_the_password_are_refused(write_profile):
    for entry, reason in (("show-password", "password into the log"), ("kdebug 4", "from 0 to 1")):
        result = run_cli("validate", str(write_profile(MINIMAL + f"ppp:\n  extra_options: [{entry}]\n")))
        assert result.returncode == 2 and reason in result.stderr, result.stderr


def test_D24_no_allowed_option_runs_reads_or_leaks():
    """The allowlist against pppd's options that run a program, read or write a file, or show a secret."""
    dangerous = {"plugin", "connect", "disconnect", "init", "welcome", "file", "call", "pty", "socket",
                 "record", "logfile", "pid", "linkname", "ipparam", "show-password", "password", "user",
                 "remotename", "name", "+ua", "ip-up-script", "ip-down-script", "ipv6-up-script",
                 "ipv6-down-script", "auth-up-script", "notty", "active-filter", "pass-filter", "dump",
                 "dryrun", "updetach", "demand", "privgroup", "lock", "nolock"}
    assert not dangerous & set(pppd_options.ALLOWED)
    with pytest.raises(ValueError, match="password into the log"):
        pppd_options.check("show-password")


# === The re-test: other routes into D16, D17, D19, D20, D22 and D23 ===============================

def test_D16_a_file_an_argument_names_in_any_form_is_checked(shared, write_profile):
    """A script joined to its option, after an '=', or relative (hooks run in /) is as good as a
    program: another user who can change it has root."""
    open_dir, safe_dir = shared / "open", shared / "safe"
    open_dir.mkdir()
    safe_dir.mkdir(mode=0o755)
    open_dir.chmod(0o777)
    for directory in (open_dir, safe_dir):
        (directory / "x.awk").write_text("BEGIN { }\n")
        (directory / "s.sh").write_text("id\n")
    (open_dir / "x.awk").chmod(0o666)
    awk, script = open_dir / "x.awk", open_dir / "s.sh"
    relative = str(script).lstrip("/")

    def validate(key: str, command: str) -> subprocess.CompletedProcess:
        return run_cli("validate", str(write_profile(MINIMAL + f"{key}: {json.dumps(command)}\n")))
    for key in ("hooks:\n  on_up", "hooks:\n  on_down", "recovery:\n  reset: [command]\n  reset_command"):
        for command in (f"/usr/bin/awk -f{awk}", f"/usr/bin/awk --file={awk}", f"/usr/bin/env x=1 script={script}",
                        f"/bin/sh {relative}", f"/usr/bin/awk -f {awk}", f"/bin/sh {open_dir / 'later.sh'}",
                        f"/bin/run-parts {open_dir}", f"/bin/sh -c 'x' file:{script}"):
            result = validate(key, command)
            assert result.returncode == 2, (key, command, result.stderr)
            assert f"{open_dir} can be changed by other users (mode 0777)" in result.stderr, result.stderr
            assert "root runs it" in result.stderr and "chown root, chmod go-w" in result.stderr
            assert len(lines(result.stderr)) == 1
        assert f"naming /{relative}: commands run in /" in validate(key, f"/bin/sh {relative}").stderr
    for fine in (f"/usr/bin/awk -f{safe_dir / 'x.awk'}", f"/bin/sh {str(safe_dir / 's.sh').lstrip('/')}",
                 "/usr/bin/curl -s -o /dev/null --max-time=5 http://10.0.0.1/", "/usr/bin/find /tmp -name x",
                 "/usr/bin/logger -t tmp up"):
        result = validate("hooks:\n  on_up", fine)
        assert result.returncode == 0, (fine, result.stderr)


def test_D16_hooks_run_in_the_root_directory_where_their_arguments_were_checked(tmp_path, monkeypatch):
    from bg_pppd.link import hooks

    script = tmp_path / "hook.py"
    out = tmp_path / "out"
    script.write_text(f"import os\nopen({str(out)!r}, 'w').write(os.getcwd())\n")
    elsewhere = tmp_path / "elsewhere"
    (elsewhere / str(tmp_path).lstrip("/")).mkdir(parents=True)
    (elsewhere / str(script).lstrip("/")).write_text(f"open({str(out)!r}, 'w').write('the wrong one')\n")
    monkeypatch.chdir(elsewhere)  # the daemon's cwd: whatever started it
    thread = hooks.run([sys.executable, str(script).lstrip("/")], "office", "up", None, timeout=10)
    thread.join(10)
    assert out.read_text() == "/"


# --- D17: no message shows a PIN or a password ------------------------------------------------------

SECRET_CASES = {
    "pin-too-long": ('sim:\n  pin: "864213579"\n', ["864213579", "8642135"]),
    "pin-number": ("sim:\n  pin: 86421\n", ["86421"]),
    "pin-octal": ("sim:\n  pin: 0123456\n", ["123456", "42798"]),
    "pin-letters": ('sim:\n  pin: "86ab"\n', ["86ab"]),
    "pin-bool": ("sim:\n  pin: yes\n", ["true"]),
    "pin-date": ("sim:\n  pin: 2024-02-30\n", ["2024", "02-30"]),
    "pin-bad-int-tag": ('sim:\n  pin: !!int "8642x"\n', ["8642x"]),
    "pin-bad-float-tag": ('sim:\n  pin: !!float "86x42"\n', ["86x42"]),
    "pin-bad-bool-tag": ('sim:\n  pin: !!bool "8642"\n', ["8642"]),
    "pin-bad-escape": ('sim:\n  pin: "86\\Z42"\n', ["'Z'", "86", "42"]),
    "pin-bad-start": ("sim:\n  pin: @8642\n", ["'@'", "8642"]),
    "pin-file-number": ("sim:\n  pin_file: 86421357\n", ["86421357"]),
    "pin-file-relative": ("sim:\n  pin_file: 86421357.txt\n", ["86421357"]),
    "password-non-ascii": ('auth:\n  method: pap\n  user: u\n  password: "pässwörd-SECRET"\n',
                           ["SECRET", "pässwörd", "p\\xe4ss"]),
    "password-too-long": ("auth:\n  method: pap\n  user: u\n  password: " + "S3cr" * 80 + "\n", ["S3cr", "320"]),
    "password-number": ("auth:\n  method: pap\n  user: u\n  password: 31415926\n", ["31415926"]),
    "password-list": ("auth:\n  method: pap\n  user: u\n  password: [S3cret]\n", ["S3cret"]),
    "password-bad-escape": ('auth:\n  method: pap\n  user: u\n  password: "Se\\Qcret"\n', ["'Q'", "Se", "cret"]),
    "password-tab": ("auth:\n  method: pap\n  user: u\n  password: Se\tcret\n", ["Se", "cret"]),
    "password-flow-escape": ('auth: {method: pap, user: u, "password": "Se\\Qcret"}\n', ["'Q'", "cret"]),
}


def _secret_messages(text: str, tmp_path: Path, monkeypatch, pure: bool) -> str:
    import yaml

    from bg_pppd.util.errors import ProfileError

    if pure:  # PyYAML without libyaml (as on some Yocto images): its scanner quotes what it read
        monkeypatch.delattr(yaml, "CSafeLoader", raising=False)
    path = tmp_path / "p.yaml"
    path.write_text(MINIMAL + text)
    path.chmod(0o600)
    with pytest.raises(ProfileError) as info:
        profile.load(path)
    return str(info.value)


@pytest.mark.parametrize("pure", [False, True], ids=["libyaml", "pure-python"])
@pytest.mark.parametrize("case", sorted(SECRET_CASES))
def test_D17_no_message_shows_a_pin_or_a_password(tmp_path, monkeypatch, case, pure):
    text, secrets = SECRET_CASES[case]
    message = _secret_messages(text, tmp_path, monkeypatch, pure)
    assert len(lines(message)) == 1 and "Traceback" not in message, message
    assert "sim.pin" in message or "auth.password" in message or "in the value of" in message, message
    for secret in secrets:
        line_part = message.split(": ", 1)[1]  # the file name holds digits of its own
        assert secret not in line_part, (secret, message)


def test_D17_no_message_shows_what_a_secret_file_holds(tmp_path, write_profile):
    pin = {b"8642135790\n": "8642135790", b"86 42\n": "86 42", "86ü42\n".encode(): "86"}
    password = {b"Se\ncret\n": "cret", ("S3cr" * 80).encode(): "S3cr", "pässwörd-SECRET\n".encode(): "SECRET"}
    for key, cases in (("sim:\n  pin_file", pin), ("auth:\n  method: pap\n  user: u\n  password_file", password)):
        cases[b"S3cr\xffet\n"] = "S3cr"
        for content, secret in cases.items():
            path = tmp_path / "secret"
            path.write_bytes(content)
            path.chmod(0o600)
            result = run_cli("validate", str(write_profile(MINIMAL + f"{key}: {path}\n")))
            assert result.returncode == 2 and len(lines(result.stderr)) == 1, result.stderr
            assert secret not in result.stderr and "_file:" in result.stderr, result.stderr


def test_D17_the_user_name_is_not_a_secret(write_profile):
    """A user name is shown (it names the account, like the APN); only the password is withheld."""
    result = run_cli("validate", str(write_profile(MINIMAL + 'auth:\n  method: pap\n  user: "üser"\n')))
    assert result.returncode == 2 and "auth.user: 'üser' is not allowed" in result.stderr, result.stderr


# --- D19: limits printed as written ----------------------------------------------------------------

def test_D19_integer_limits_in_messages_are_exact(write_profile):
    for section, key, value, limit in (("ppp", "route_metric", 2**31, "at most 2147483647"),
                                       ("probe", "budget", 2**41, "at most 1099511627776"),
                                       ("recovery", "retry_wait", 0.25, "at least 0.5")):
        result = run_cli("validate", str(write_profile(with_values({section: {key: value}}))))
        assert result.returncode == 2 and f"{section}.{key}: must be {limit}, not {value}" in result.stderr, \
            result.stderr
        assert "e+" not in result.stderr


# --- D20: scenarios of the wrong shape ---------------------------------------------------------------

BAD_SCENARIOS = {"list": "[1]", "text": '"fast"', "number": "42", "sim": "sim: 3", "seconds": "boot_time: fast",
                 "negative": "boot_time: -1", "scale": "time_scale: 0", "registration": "registration: [1, 2]",
                 "stat": "registration: [[0, x]]", "contexts": "contexts: [1]", "context": "contexts: {1: IP}",
                 "replies": "replies: [a]", "slow": "slow_commands: 5", "pin": "pin: 1234", "noise": "noise: x",
                 "hang": "hang_after: -1", "echo": "echo: 1", "port": "port: ttyS0", "yaml": "a: [b",
                 "key": "{1: 2}", "deep": "[" * 2000}


@pytest.mark.parametrize("case", sorted(BAD_SCENARIOS))
def test_D20_a_scenario_of_the_wrong_shape_is_one_line(tmp_path, case):
    from bg_pppd.emulator import Scenario

    path = tmp_path / "s.yaml"
    path.write_text(BAD_SCENARIOS[case] + "\n")
    result = run_cli("emulate", "--scenario", str(path), "--link", str(tmp_path / "bg95"), timeout=20)
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith(f"bg-pppd emulate: {path}") and len(lines(result.stderr)) == 1, result.stderr
    assert not (tmp_path / "bg95").exists()
    with pytest.raises(ValueError):
        Scenario.load(path)


def test_D20_a_scenario_that_is_not_utf8_is_one_line(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_bytes(b"model: \xff\n")
    result = run_cli("emulate", "--scenario", str(path), "--link", str(tmp_path / "bg95"), timeout=20)
    assert result.returncode == 2 and "not UTF-8" in result.stderr and len(lines(result.stderr)) == 1


# --- D22: paths the kernel refuses --------------------------------------------------------------------

def test_D22_a_name_too_long_for_the_kernel_gets_the_documented_status(tmp_path):
    name = "a" * 300
    result = run_cli("--run-dir", str(tmp_path), "status", name)
    assert result.returncode == 4 and "cannot name a profile" in result.stderr, result.stderr
    assert len(lines(result.stderr)) == 1
    for command in ("down", "validate"):
        result = run_cli("--run-dir", str(tmp_path), command, name)
        assert result.returncode == 2 and "cannot name a profile" in result.stderr, result.stderr


def test_D22_a_run_dir_that_cannot_be_used_gets_the_documented_status(tmp_path, write_profile):
    prof = str(write_profile(MINIMAL))
    afile = tmp_path / "afile"
    afile.write_text("")
    for run_dir in (afile, afile / "sub", tmp_path / ("b" * 300)):
        # check needs no run dir that does not exist (no up ran since boot): only a file in its place
        commands = [("render", 2), ("down", 2), ("status", 4), ("up", 2)] + [("check", 2)] * (run_dir == afile)
        for command, code in commands:
            result = run_cli("--run-dir", str(run_dir), command, prof, timeout=20)
            assert result.returncode == code, (run_dir, command, result.stderr)
            assert len(lines(result.stderr)) == 1 and "Traceback" not in result.stderr, result.stderr
            if command in ("render", "down", "check"):
                assert "--run-dir" in result.stderr, result.stderr
        result = run_cli("render", prof, "--out", str(run_dir))
        assert result.returncode == 2 and len(lines(result.stderr)) == 1, result.stderr


# --- D23: format characters -------------------------------------------------------------------------

def test_D23_format_characters_are_escaped_everywhere(tmp_path, write_profile):
    import unicodedata

    from bg_pppd.util.errors import printable

    for char in ("\u202e", "\u2066", "\u200b", "\ufeff", "\u061c"):
        sub = tmp_path / f"a{char}b"
        sub.mkdir()
        prof = sub / "p.yaml"
        prof.write_text(MINIMAL + "bogus: 1\n")
        result = run_cli("validate", str(prof))
        assert result.returncode == 2 and char not in result.stderr, ascii(result.stderr)
        assert ascii(char)[1:-1] in result.stderr
        result = run_cli("--run-dir", str(sub), "status", "p")
        assert result.returncode == 2 and char not in result.stderr and "--run-dir" in result.stderr
    formats = [chr(c) for c in range(0x110000) if unicodedata.category(chr(c)) == "Cf"]
    assert all(printable(f"x{c}y").isascii() for c in formats)
    assert printable("bg95 é ü:x") == "bg95 é ü:x", "letters stay"
