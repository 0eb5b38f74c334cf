"""Regression tests for the daemon's part of the reliability review (issue 15): D2, D3, D6,
D7, D9, D11, D13, D18, D21, D24, and the crash paths of the same classes.

Host level: the supervisor against test_supervisor's recording FakeSystem and fake clock,
pppd's real log lines and real pppd parsing its options, DNS on files in tmp, the policy on
a fake clock. The real-link halves are in test_review_uml.py.
"""

from __future__ import annotations

import logging
import os
import stat
import time

import pytest

from bg_pppd.daemon.recovery import Ladder, Policy
from bg_pppd.daemon.supervisor import Ev, Failure, State, Supervisor
from bg_pppd.link import pppd as pppd_mod
from bg_pppd.link.dns import Dns
from bg_pppd.link.pppd import LinkInfo, describe_exit, parse_line
from bg_pppd.link.probe import probe_once
from bg_pppd.profile import model as profile_mod
from bg_pppd.profile.probe_target import parse_target
from tests.conftest import needs_pppd
from tests.test_supervisor import UP, FakeSystem, advance, connect, fail_dial, make, run_until_idle

# ----- D2: a PPP port missing for a moment is a failed attempt, not an option error -----------------


class DeviceSystem(FakeSystem):
    """pppd is given ``device``; the test feeds the lines pppd printed."""

    def __init__(self, device):
        super().__init__()
        self.device = device

    def start_pppd(self, post, info):
        super().start_pppd(post, info)
        info.device = self.device


def make_with(system, write_profile, ladder=None, **recovery):
    rec = {"retry_wait": 10, "stable_after": 60, "reset_waits": [600, 1800, 3600], **recovery}
    text = "modem:\n  port: /dev/ttyUSB2\nnetwork:\n  apn: internet\nrecovery:\n" + "".join(
        f"  {k}: {v}\n" for k, v in rec.items())
    sup = Supervisor(profile_mod.load(write_profile(text)), system, ladder)
    sup.start()
    return sup, system


def dial_and_exit(sup, sysm, lines, code):
    sup.post(Ev.PREFLIGHT_OK)
    run_until_idle(sup, sysm)
    assert sup.state is State.DIALING
    for line in lines:
        parse_line(sup.info, line)
    sup.post(Ev.PPPD_EXIT, code)
    run_until_idle(sup, sysm)


@pytest.mark.parametrize("device, line", [
    ("/dev/ttyUSB3", "/usr/sbin/pppd: In file /run/bg-pppd/test/peer: unrecognized option '/dev/ttyUSB3'"),
    ("/dev/serial/by-path/pci-0000:00:14.0-usb-0:1:1.0-port0",
     "/usr/sbin/pppd: unknown host: /dev/serial/by-path/pci-0000"),
    ("/dev/serial/by-id/usb-Quectel_BG95-if02-port0",
     "pppd: In file /run/bg-pppd/test/peer: unrecognized option '/dev/serial/by-id/usb-Quectel_BG95-if02-port0'"),
])
def test_D02_pppd_exit_2_for_its_missing_tty_is_a_failed_attempt(write_profile, device, line):
    sup, sysm = make_with(DeviceSystem(device), write_profile)
    dial_and_exit(sup, sysm, [line], 2)
    assert sup.state is State.WAITING and sup.exit_code == 0, sysm.statuses[-1]
    assert sup.ladder.failures == 1
    assert device in sup.last_error and "was missing" in sup.last_error


def test_D02_the_ladder_goes_on_to_a_reset_not_a_stop(write_profile):
    device = "/dev/ttyUSB3"
    sup, sysm = make_with(DeviceSystem(device), write_profile)
    line = f"/usr/sbin/pppd: In file /run/x/peer: unrecognized option '{device}'"
    for _ in range(2):
        dial_and_exit(sup, sysm, [line], 2)
        advance(sup, sysm, 10)
    dial_and_exit(sup, sysm, [line], 2)
    assert sup.state is State.RESETTING


@pytest.mark.parametrize("line", [
    "/usr/sbin/pppd: In file /run/bg-pppd/test/peer: unrecognized option 'nosuchoption'",
    "/usr/sbin/pppd: In file /run/bg-pppd/test/peer: unrecognized option '/dev/ttyUSB9'",  # not our tty
    "/usr/sbin/pppd: unknown host: /dev/serial/by-path/pci-0000",  # our tty holds no ':'
    "/usr/sbin/pppd: mtu value must be between 128 and 16384",
])
def test_a_real_option_error_still_stops_with_exit_2(write_profile, line):
    sup, sysm = make_with(DeviceSystem("/dev/ttyUSB3"), write_profile)
    dial_and_exit(sup, sysm, [line], 2)
    assert sup.state is State.STOPPED and sup.exit_code == 2


def rendered_profile(tmp_path, ppp_port, extra=""):
    from bg_pppd.link.render import render

    path = tmp_path / "prof.yaml"
    at = tmp_path / "at"
    at.touch()
    path.write_text(f"modem:\n  port: {at}\n  data_port: '{ppp_port}'\nnetwork:\n  apn: internet\n{extra}")
    path.chmod(0o600)
    prof = profile_mod.load(path)
    return prof, render(prof, tmp_path / "run" / prof.name, set_context=False)


def real_pppd(peer, device, *extra):
    """Real pppd on ``peer``; its lines through parse_line; (exit status, LinkInfo)."""
    import threading

    info = LinkInfo(device=device)
    done = threading.Event()
    codes = []

    def on_exit(code):
        codes.append(code)
        done.set()
    proc = pppd_mod.PppdProcess(str(peer), lambda line: parse_line(info, line), on_exit, extra=list(extra))
    assert done.wait(30), "pppd did not end"
    proc.join(5)
    return codes[0], info


@needs_pppd
@pytest.mark.parametrize("name", ["ttyUSB3", "pci-0000:00:14.0-usb-0:1:1.0-port0"])
def test_D02_real_pppd_on_a_missing_port_is_not_permanent(tmp_path, name):
    (tmp_path / "by-path").mkdir()
    port = str(tmp_path / "by-path" / name)
    _prof, rendered = rendered_profile(tmp_path, port)
    code, info = real_pppd(rendered.peer, port, "dryrun")
    assert code == 2, info
    assert pppd_mod.permanent(code, info) is None, info
    assert describe_exit(code, info).startswith(f"the PPP port {port} was missing")


@needs_pppd
def test_real_pppd_option_error_stays_permanent(tmp_path):
    master, slave = os.openpty()  # a tty: pppd takes it as the device word and fails on the next option
    try:
        port = os.ttyname(slave)
        _prof, rendered = rendered_profile(tmp_path, port)
        rendered.peer.write_text(rendered.peer.read_text() + "bg-pppd-no-such-option\n")
        code, info = real_pppd(rendered.peer, port, "dryrun")
    finally:
        os.close(master)
        os.close(slave)
    assert code == 2 and info.bad_option == "bg-pppd-no-such-option"
    assert pppd_mod.permanent(code, info) == pppd_mod.PERMANENT[2]


def real_system(tmp_path, ppp_port):
    from bg_pppd.daemon.effects import RealSystem
    from bg_pppd.daemon.ladder_store import LadderStore
    from bg_pppd.daemon.run_dir import RunDir

    prof, rendered = rendered_profile(tmp_path, ppp_port)
    run = RunDir(tmp_path / "run", prof.name)
    run.ensure()
    store = LadderStore(tmp_path / "state", prof.name)
    return prof, RealSystem(prof, run, store, rendered, str(tmp_path / "state"))


def test_D02_no_pppd_is_started_while_the_ppp_port_is_missing(tmp_path):
    port = str(tmp_path / "gone" / "ttyUSB3")
    prof, rs = real_system(tmp_path, port)
    sup = Supervisor(prof, rs)
    sup.state = State.PREFLIGHT
    sup.dispatch(Ev.PREFLIGHT_OK, None)
    try:
        assert rs.pppd is None, "pppd was started on a port that does not exist"
        assert sup.state is State.WAITING and sup.ladder.failures == 1
        assert f"the PPP port {port} does not exist" in sup.last_error
    finally:
        if rs.pppd:
            rs.pppd.kill()
            rs.pppd.join(5)


# ----- D4: a port that appears later is locked by what it leads to ---------------------------------


def test_D04_a_port_that_appears_as_another_profiles_port_is_not_talked_on(bench, dirs, tmp_path):
    """A runs on the emulator's port. B's port does not exist when B starts (locked only as
    written); then it appears, a symlink to A's port: B must not run its pre-flight on it."""
    import json
    import subprocess
    import sys

    from tests.conftest import ROOT, run_cli

    a = bench(registration=[[0, 2]])  # never registers: A stays up, in pre-flight, on its port
    a.profile.write_text(a.profile.read_text().replace("registration_timeout: 3", "registration_timeout: 60"))
    late = tmp_path / "usb-late"
    b = tmp_path / "B.yaml"
    b.write_text(a.profile.read_text().replace(f"port: {a.link}", f"port: {late}")
                 .replace("boot_timeout: 5", "boot_timeout: 5\n  retry_wait: 0.5\n  dial_attempts: 100"))
    b.chmod(0o600)
    run, state = dirs
    env = {"PATH": os.environ["PATH"], "PYTHONPATH": str(ROOT), "BG_PPPD_RUN_DIR": str(run),
           "BG_PPPD_STATE_DIR": str(state)}
    procs = [subprocess.Popen([sys.executable, "-m", "bg_pppd", "up", str(path)], stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True, env=env) for path in (a.profile, b)]

    def status(path):
        return json.loads(run_cli("status", str(path), "--json").stdout or "{}")

    def wait(path, test, timeout=20):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            st = status(path)
            if test(st):
                return st
            time.sleep(0.1)
        raise AssertionError(f"{path.name}: {st}")
    try:
        wait(a.profile, lambda st: st.get("state") == "preflight" and st.get("pid") == procs[0].pid)
        wait(b, lambda st: (st.get("consecutive_failures") or 0) >= 1)  # its port is missing
        late.symlink_to(a.link)
        first = wait(b, lambda st: st.get("last_error_class") == "port_in_use")
        n, tried = first["consecutive_failures"], first["lifetime"]["failed_attempts"]
        st = wait(b, lambda st: st["lifetime"]["failed_attempts"] >= tried + 2)
        assert f"port {late} (now {os.path.realpath(a.link)}) is in use by another bg-pppd: bg-pppd up is " \
               f"running (pid {procs[0].pid})" in st["last_error"], st
        # another's port: tried again, but not counted toward a module reset (it would be A's module)
        assert st["last_error_class"] == "port_in_use" and st["consecutive_failures"] == n, st
        assert status(a.profile)["state"] == "preflight", "A runs on"
    finally:
        for proc in procs:
            proc.terminate()
        outs = [proc.communicate(timeout=30)[0] for proc in procs]
    after = outs[1].split("is in use by another bg-pppd", 1)[-1]
    assert "B: pre-flight " not in after, "B's pre-flight talked on A's port"  # its steps' lines
    assert "Traceback" not in outs[0] + outs[1]


def test_D04_pppd_is_not_started_on_a_port_that_became_another_profiles(tmp_path):
    from bg_pppd.daemon.run_dir import RunDir

    master, slave = os.openpty()
    other, third = RunDir(tmp_path / "run", "A"), RunDir(tmp_path / "run", "C")
    try:
        a_port = tmp_path / "a-ppp"
        a_port.symlink_to(os.ttyname(slave))
        other.acquire(str(tmp_path / "a-at"), str(a_port))  # A: its ports by name and real path
        late = tmp_path / "b-ppp"
        prof, rs = real_system(tmp_path, str(late))
        rs.run.acquire(prof.modem.port, str(late))  # B starts: its PPP port does not exist yet
        late.symlink_to(a_port)
        sup = Supervisor(prof, rs)
        sup.state = State.PREFLIGHT
        sup.dispatch(Ev.PREFLIGHT_OK, None)
        assert rs.pppd is None, "pppd was started on another profile's port"
        assert sup.state is State.WAITING and sup.ladder.failures == 0, "not counted toward a reset"
        assert sup.error_class == "port_in_use"
        assert f"cannot start pppd: port {late} (now {os.ttyname(slave)}) is in use by another bg-pppd" \
            in sup.last_error, sup.last_error
        late.unlink()
        late.symlink_to(tmp_path / "gone")  # a re-enumeration: it leads elsewhere now
        (tmp_path / "gone").touch()
        rs.run.lock_current(str(late))  # free: locked, and nothing of A's is held by B
        other.release()
        third.lock_current(str(a_port))  # A's device is free for others
    finally:
        if rs.pppd:
            rs.pppd.kill()
        for holder in (rs.run, other, third):
            holder.release()
        os.close(master)
        os.close(slave)


def test_D04_a_port_that_leads_elsewhere_lets_its_old_device_go(tmp_path):
    from bg_pppd.daemon.run_dir import AlreadyRunning, RunDir

    for name in ("ttyUSB2", "ttyUSB3"):
        (tmp_path / name).touch()
    port = tmp_path / "by-id"
    port.symlink_to(tmp_path / "ttyUSB2")
    b, a = RunDir(tmp_path / "run", "B"), RunDir(tmp_path / "run", "A")
    b.acquire(str(tmp_path / "missing"))
    try:
        b.lock_current(str(port))
        with pytest.raises(AlreadyRunning, match="in use by another bg-pppd"):
            a.lock_current(str(tmp_path / "ttyUSB2"))
        port.unlink()
        port.symlink_to(tmp_path / "ttyUSB3")
        b.lock_current(str(port))
        b.lock_current(str(port))  # again: held already, no conflict with itself
        a.lock_current(str(tmp_path / "ttyUSB2"))
        with pytest.raises(AlreadyRunning):
            a.lock_current(str(tmp_path / "ttyUSB3"))
        with pytest.raises(AlreadyRunning):  # acquire's locks stay, whatever the port leads to
            a.lock_current(str(tmp_path / "missing"))
    finally:
        b.release()
        a.release()


# ----- D3 / D21: a stop is answered, whatever still runs --------------------------------------------


def test_D03_sigterm_with_a_stuck_preflight_worker_stops_in_bounded_time(write_profile, caplog):
    sup, sysm = make(write_profile)
    with caplog.at_level(logging.INFO, logger="bg_pppd"):
        sup.post(Ev.STOP, "signal SIGTERM")
        run_until_idle(sup, sysm)
        assert sysm.job.cancelled and sup.state is State.STOPPING
        for _ in range(4):  # the worker never reports (blocked in a write to the port)
            advance(sup, sysm, 16)
    assert sup.state is State.STOPPED, caplog.text
    assert "kill pppd" not in sysm.calls
    assert "pppd did not end" not in caplog.text, "no pppd ran"
    assert "pre-flight worker" in caplog.text and "pre-flight worker" in sysm.statuses[-1]["last_error"]


def test_D21_the_stop_says_what_it_waits_for_once(write_profile, caplog):
    sup, sysm = make(write_profile)
    with caplog.at_level(logging.WARNING, logger="bg_pppd"):
        sup.post(Ev.STOP, "down")
        run_until_idle(sup, sysm)
        for _ in range(6):
            advance(sup, sysm, 5)
    lines = [r.getMessage() for r in caplog.records]
    assert not any("pppd did not end" in m for m in lines), lines
    assert sum("pre-flight worker" in m for m in lines) == 1, lines
    assert sup.state is State.STOPPED


def test_D21_pppd_that_survives_sigkill_does_not_keep_the_daemon_alive(write_profile, caplog):
    sup, sysm = make(write_profile)
    connect(sup, sysm)
    with caplog.at_level(logging.WARNING, logger="bg_pppd"):
        sup.post(Ev.STOP, "signal SIGTERM")
        run_until_idle(sup, sysm)
        advance(sup, sysm, 16)
        assert sysm.calls[-1] == "kill pppd" and sup.state is State.STOPPING
        for _ in range(4):
            advance(sup, sysm, 6)
    assert sup.state is State.STOPPED
    assert sysm.calls.count("kill pppd") == 1, "SIGKILL once, not every 5 s"
    assert "did not end after SIGKILL" in sysm.statuses[-1]["last_error"]
    assert sysm.calls.count("hook down") == 1, "DNS undone and on_down run"


# ----- D21: a failed reset is reported as failed, and still paces the ladder ------------------------


def reset_now(sup, sysm, result):
    for _ in range(3):
        sup.post(Ev.PREFLIGHT_FAILED, Failure("not registered"))
        run_until_idle(sup, sysm)
        if sup.state is State.WAITING:
            sysm.now = sup.timer_at
            sup.step(block=False)
    assert sup.state is State.RESETTING
    sup.post(Ev.RESET_DONE, result)
    run_until_idle(sup, sysm)


def test_D21_failed_reset_is_reported_as_failed(write_profile, caplog):
    sup, sysm = make(write_profile)
    with caplog.at_level(logging.INFO, logger="bg_pppd"):
        reset_now(sup, sysm, Failure("command: /bin/sh did not finish within 2 s"))
    st = sysm.statuses[-1]
    assert st["last_error"].startswith("reset 1 failed") and "did not finish within 2 s" in st["last_error"]
    switch = [r for r in caplog.records if "switch from resetting" in r.getMessage()]
    assert len(switch) == 1 and "failed" in switch[0].getMessage()
    assert "done" not in switch[0].getMessage() and "unconfirmed" not in caplog.text
    assert switch[0].levelno >= logging.WARNING
    # the pacing advances all the same: no second reset before 10 min
    assert sup.ladder.resets == 1 and sup.ladder.last_reset == sysm.now
    assert sysm.saved[-1].resets == 1


def test_a_broken_reset_never_becomes_a_power_cycle_loop(write_profile):
    sup, sysm = make(write_profile)
    resets = []
    while sysm.now < 3 * 3600:
        if sup.state is State.RESETTING:
            resets.append(sysm.now)
            sup.post(Ev.RESET_DONE, Failure("command: gpio exited 1"))
        elif sup.state is State.PREFLIGHT:
            sup.post(Ev.PREFLIGHT_FAILED, Failure("no answer", 10, not_responding=True))
        else:
            sysm.now = sup.timer_at
            sup.step(block=False)
        run_until_idle(sup, sysm)
    gaps = [b - a for a, b in zip(resets, resets[1:])]
    assert len(resets) >= 4 and gaps[:3] == [600, 1800, 3600], gaps


def test_D21_policy_reset_done_unconfirmed_paces_like_a_confirmed_one():
    p = Policy(dial_attempts=3, retry_wait=10, reset_waits=(600, 1800, 3600))
    done, failed = Ladder(failures=3), Ladder(failures=3)
    p.reset_started(done, 40.0)
    p.reset_started(failed, 40.0)
    a = p.reset_done(done, 100.0)
    b = p.reset_done(failed, 100.0, confirmed=False)
    assert (a.action, a.at) == (b.action, b.at) == ("dial", 100.0)
    assert a.reason == "reset 1 done" and b.reason == "reset 1 failed"
    assert done == failed and p.reset_allowed_at(failed) == 700.0


class KilledMidReset(FakeSystem):
    """What was saved when the reset worker started is all that the next run has (SIGKILL)."""

    on_disk_at_reset = None

    def start_reset(self, skip_at, post):
        self.on_disk_at_reset = Ladder.from_dict(self.saved[-1].to_dict()) if self.saved else None
        return super().start_reset(skip_at, post)


def failing_run(write_profile, ladder, now, seconds, stop):
    """One `up`: every pre-flight fails; when a reset starts, the daemon is stopped (SIGTERM: the
    cancelled worker answers) or killed (SIGKILL: nothing more happens). The ladder the next run
    loads, and whether this run reset the module."""
    rec = {"retry_wait": 10, "stable_after": 60, "reset_waits": [600, 1800, 3600]}
    text = "modem:\n  port: /dev/ttyUSB2\nnetwork:\n  apn: internet\nrecovery:\n" + "".join(
        f"  {k}: {v}\n" for k, v in rec.items())
    sysm = KilledMidReset()
    sysm.now = now
    sup = Supervisor(profile_mod.load(write_profile(text)), sysm, ladder)
    sup.start()
    end = now + seconds
    while True:
        if sup.state is State.RESETTING:
            if stop == "SIGKILL":
                return sysm.on_disk_at_reset, True
            sup.post(Ev.STOP, "signal SIGTERM")
            run_until_idle(sup, sysm)
            assert sysm.job.cancelled
            sup.post(Ev.RESET_DONE, Failure("cancelled"))
            run_until_idle(sup, sysm)
            assert sup.state is State.STOPPED
            return sysm.saved[-1], True
        if sup.state is State.PREFLIGHT:
            sup.post(Ev.PREFLIGHT_FAILED, Failure("not registered"))
            run_until_idle(sup, sysm)
        elif sup.timer_at is not None and sup.timer_at <= end:
            sysm.now = sup.timer_at
            sup.step(block=False)
        else:
            return (sysm.saved[-1] if sysm.saved else ladder), False


@pytest.mark.parametrize("stop", ["SIGTERM", "SIGKILL"])
def test_D21_a_reset_cut_short_by_a_stop_still_paces_the_next(write_profile, stop):
    """The re-test: three runs 17 s apart, each stopped while its reset command runs (a reboot
    as reset command: a reboot loop). The ladder demands 10 min between the resets."""
    ladder, now, resets = Ladder(), 0.0, []
    for _ in range(3):
        ladder, reset = failing_run(write_profile, ladder, now, 60, stop)
        if reset:
            resets.append(now)
        now += 17
    assert len(resets) == 1, f"{stop}: module reset by runs at {resets}"
    assert ladder.resets == 1 and ladder.last_reset is not None and ladder.last_reset <= 20.0, ladder
    ladder, reset = failing_run(write_profile, ladder, now, 600, stop)  # a long run: the next reset
    assert reset, "the ladder goes on: a reset once its 10 min are over"
    assert ladder.resets == 2 and ladder.last_reset >= resets[0] + 600, ladder


def test_D21_policy_counts_a_reset_when_it_starts():
    p = Policy(dial_attempts=3, retry_wait=10, reset_waits=(600, 1800, 3600))
    ladder, now = Ladder(), 0.0
    for _ in range(3):
        d = p.failed(ladder, now)
        now = d.at
    assert d.action == "reset" and d.reason.endswith("first reset, immediate")
    p.reset_started(ladder, now)
    assert (ladder.resets, ladder.last_reset, ladder.failures) == (1, now, 0)
    saved = Ladder.from_dict(ladder.to_dict())  # killed mid-reset: the next run loads this
    later = now + 17
    while (d := p.failed(saved, later)).action == "dial":
        assert d.at > later
        later = d.at
    assert later == now + 600 and saved.resets == 1, "the next reset waits its 10 min from the cut one"
    done = p.reset_done(ladder, now + 5)  # a reset that finishes is counted once, paced from its end
    assert ladder.resets == 1 and done.reason == "reset 1 done" and p.reset_allowed_at(ladder) == now + 605


def test_D21_the_stop_says_a_reset_command_may_still_run(write_profile, caplog):
    sup, sysm = make(write_profile, reset="[command]", reset_command="[/bin/true]", boot_timeout=90)
    for _ in range(3):
        sup.post(Ev.PREFLIGHT_FAILED, Failure("not registered"))
        run_until_idle(sup, sysm)
        if sup.state is State.WAITING:
            sysm.now = sup.timer_at
            sup.step(block=False)
    assert sup.state is State.RESETTING
    with caplog.at_level(logging.WARNING, logger="bg_pppd"):
        sup.post(Ev.STOP, "signal SIGTERM")
        run_until_idle(sup, sysm)
        for _ in range(4):  # the worker never answers: its command (a reboot, a power switch) runs on
            advance(sup, sysm, 16)
    assert sup.state is State.STOPPED
    last = sysm.statuses[-1]["last_error"]
    assert "the reset worker" in last and "its reset command /bin/true may still be running" in last, last
    assert "stuck in I/O on the port" not in caplog.text
    assert sysm.saved[-1].resets == 1, "the reset that was cut short counts"


# ----- D6: the link's facts come from pppd and the kernel, never from peer text ---------------------

REVIEW_LINE = ("chat:  Dec 01 20:24:53 CONNECT 150000000 local  IP address 203.0.113.66 remote IP address "
               "203.0.113.1 primary DNS address 203.0.113.53 secondary DNS address 203.0.113.54")

HOSTILE = [
    REVIEW_LINE,
    "chat:  Dec 01 20:24:53 CONNECT Using interface eth0",
    "chat:  Dec 01 20:24:53 CONNECT Connect: eth0 <--> /dev/ttyUSB2",
    "Remote message: local  IP address 203.0.113.66",
    "Remote message: remote IP address 203.0.113.1",
    "Remote message: primary   DNS address 203.0.113.53",
    "CHAP authentication succeeded: Using interface eth0",
    "CHAP authentication failed: local  IP address 203.0.113.66",
    "local  IP address 203.0.113.66^M",              # chat -v's echo of a module line ending in CR
    "local  IP address 203.0.113.66 remote IP address 203.0.113.1",
    " local  IP address 203.0.113.66",
    "local  IP address 203.0.113.66\r",
    "Using interface ../../../etc",
    "Using interface -fppp0",
    "Using interface ppp0;reboot",
    "Connect: ../x <--> /dev/ttyUSB2",
    "local  IP address 999.0.113.66",
    "local  IP address $(reboot)",
    "local  IP address 2001:db8::1",                 # an IPv6 value in pppd's IPv4 line
    "primary   DNS address -h",
    "primary   DNS address 203.0.113.53;x",
    "local  LL address 203.0.113.66",                # an IPv4 value in the IPv6 line
]


@pytest.mark.parametrize("line", HOSTILE)
def test_D06_text_pppd_does_not_print_itself_sets_no_fact(line):
    info = LinkInfo()
    assert parse_line(info, line) is False
    assert (info.interface, info.local_ip, info.remote_ip, info.dns) == ("", "", "", [])


def test_D06_review_line_after_the_interface_does_not_bring_ip_up():
    info = LinkInfo()
    parse_line(info, "Using interface ppp0")
    assert parse_line(info, REVIEW_LINE) is False
    assert not info.up and info.dns == [] and info.interface == "ppp0"


def test_pppd_own_ip_up_burst_still_parses():
    info = LinkInfo()
    lines = ["Using interface ppp0", "Connect: ppp0 <--> /dev/ttyUSB2", "local  IP address 10.64.64.2",
             "remote IP address 10.64.64.1", "primary   DNS address 10.64.64.53",
             "secondary DNS address 10.64.64.54"]
    ups = [parse_line(info, line) for line in lines]
    assert ups == [False, False, False, True, False, False]
    assert info == LinkInfo("ppp0", "10.64.64.2", "10.64.64.1", ["10.64.64.53", "10.64.64.54"],
                            device="")


def test_D06_dns_echoed_before_pppd_ip_up_burst_is_dropped():
    """With ppp.debug, chat -v echoes module lines whole; pppd's own DNS lines follow its local IP line."""
    info = LinkInfo()
    for line in ["primary   DNS address 203.0.113.53", "Using interface ppp0",
                 "local  IP address 10.64.64.2", "remote IP address 10.64.64.1",
                 "primary   DNS address 10.64.64.53"]:
        parse_line(info, line)
    assert info.dns == ["10.64.64.53"]


def test_D06_the_kernel_must_hold_the_claimed_addresses():
    # what chat -v lets a module print cleanly parses, so the kernel is asked
    info = LinkInfo()
    for line in ["Using interface ppp0", "local  IP address 203.0.113.66", "remote IP address 203.0.113.1"]:
        parse_line(info, line)
    assert info.up
    assert pppd_mod.kernel_disagrees(info) != ""  # no ppp0 holds 203.0.113.66 on this host


def test_D06_the_kernel_check_reads_the_kernel():
    flags, local, peer = pppd_mod._kernel_ipv4("lo")
    assert local == "127.0.0.1" and flags & pppd_mod.IFF_UP
    # lo holds the address, but is no point-to-point link
    why = pppd_mod.kernel_disagrees(LinkInfo("lo", "127.0.0.1", peer))
    assert "point-to-point" in why
    assert "holds 127.0.0.1" in pppd_mod.kernel_disagrees(LinkInfo("lo", "127.0.0.2", "127.0.0.1"))
    assert "interface name" in pppd_mod.kernel_disagrees(LinkInfo("../lo", "127.0.0.1", "127.0.0.1"))


def link_pid_dir(tmp_path, monkeypatch):
    """pppd's link pid files (/run/ppp-LINKNAME.pid), here in tmp. raising=False: on the code
    before issue 15's re-test the constant does not exist, and /run is read (and holds none)."""
    directory = tmp_path / "pppd-run"
    directory.mkdir()
    monkeypatch.setattr(pppd_mod, "LINK_PID_DIRS", (str(directory),), raising=False)
    return directory


def test_D06_pppd_link_pid_file_pins_the_interface(tmp_path, monkeypatch):
    run = link_pid_dir(tmp_path, monkeypatch)
    info = LinkInfo("ppp0", "1.2.3.4", "1.2.3.5")
    assert "has not named its interface" in pppd_mod.kernel_disagrees(info, "bg-pppd-x", 4242)
    (run / "ppp-bg-pppd-x.pid").write_text("4242\n")  # pppd's first write, before the connect script
    assert "has not named its interface" in pppd_mod.kernel_disagrees(info, "bg-pppd-x", 4242)
    (run / "ppp-bg-pppd-x.pid").write_text("4243\nppp0\n")  # another pppd's, or a stale one
    assert "has not named its interface" in pppd_mod.kernel_disagrees(info, "bg-pppd-x", 4242)
    (run / "ppp-bg-pppd-x.pid").write_text("4242\nppp1\n")
    assert "runs on ppp1" in pppd_mod.kernel_disagrees(info, "bg-pppd-x", 4242)
    (run / "ppp-bg-pppd-x.pid").unlink()
    (run / "ppp-bg-pppd-x.pid").symlink_to(tmp_path / "forged")  # never read through a symlink
    (tmp_path / "forged").write_text("4242\nppp0\n")
    assert "has not named its interface" in pppd_mod.kernel_disagrees(info, "bg-pppd-x", 4242)


@pytest.fixture
def p2p(request):
    """Real point-to-point interfaces (tun) that hold the given addresses, as a PPP link does."""
    import subprocess

    made = []

    def make_link(local, peer):
        name = f"bgt{os.getpid() % 100000}{chr(97 + len(made))}"
        steps = [["ip", "tuntap", "add", "dev", name, "mode", "tun"],
                 ["ip", "addr", "add", local, "peer", peer, "dev", name], ["ip", "link", "set", name, "up"]]
        for index, step in enumerate(steps):
            result = subprocess.run(step, capture_output=True, text=True)
            if result.returncode:
                pytest.skip(f"cannot make a tun interface here: {result.stderr.strip()}")
            if index == 0:
                made.append(name)
        return name
    yield make_link
    for name in made:
        subprocess.run(["ip", "link", "del", name], capture_output=True)


class ReplayedPppd:
    """Stands in for pppd's process on this host (no kernel PPP): the test hands RealSystem
    the lines that chat and pppd print (as in the UML lab, where test_review_uml runs the real
    ones), so that what RealSystem believes of them is tested against the real kernel."""

    last = None

    def __init__(self, peer, on_line, on_exit, extra=None, pppd=None):
        self.on_line, self.on_exit = on_line, on_exit
        self.pid, self.exit_code = 4242, None
        ReplayedPppd.last = self

    def terminate(self):
        pass

    kill = hangup = terminate

    def join(self, timeout=None):
        return True


def wait_posted(posted, seconds):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and not posted:
        time.sleep(0.05)
    return list(posted)


def test_D06_chat_echo_naming_another_profiles_live_link_is_not_believed(tmp_path, monkeypatch, p2p, caplog):
    """expx1: with ppp.debug, chat -v echoes the module's lines whole; they name profile A's live
    link (which really holds those addresses) before B's pppd has named any interface."""
    a_link = p2p("10.64.64.2", "10.64.64.1")
    b_link = p2p("10.64.70.2", "10.64.70.1")
    run = link_pid_dir(tmp_path, monkeypatch)
    monkeypatch.setattr("bg_pppd.daemon.effects.PppdProcess", ReplayedPppd)
    port = tmp_path / "usb"
    port.touch()
    prof, rs = real_system(tmp_path, str(port))
    posted, info = [], LinkInfo()
    linkpid = run / f"ppp-bg-pppd-{prof.name}.pid"
    with caplog.at_level(logging.INFO, logger="bg_pppd"):
        rs.start_pppd(lambda ev, data: posted.append((ev, data)), info)
        pppd = ReplayedPppd.last
        linkpid.write_text(f"{pppd.pid}\n")  # pppd's first write: no interface yet
        for line in ["AT", "OK", f"Using interface {a_link}", "local  IP address 10.64.64.2",
                     "remote IP address 10.64.64.1", "primary DNS address 203.0.113.53",
                     "secondary DNS address 203.0.113.54", "CONNECT 150000000", " -- got it", ""]:
            pppd.on_line(line)  # chat -v's echo (its "expect"/"send" lines are more of the same)
        assert wait_posted(posted, 1.5) == [], "the module's lines declared the link up"
        assert (info.local_ip, info.dns) == ("", []), info
        assert f"shows 'Using interface {a_link}' before pppd named its interface" in caplog.text
        # pppd's own lines, once the connect script has ended: set_ifunit names the interface
        linkpid.write_text(f"{pppd.pid}\n{b_link}\n")
        for line in [f"Using interface {b_link}", f"Connect: {b_link} <--> {port}", "local  IP address 10.64.70.2",
                     "remote IP address 10.64.70.1", "primary   DNS address 10.64.70.53",
                     "secondary DNS address 10.64.70.54"]:
            pppd.on_line(line)
        got = wait_posted(posted, 3)
    assert got == [(Ev.PPPD_UP, info)], got
    assert (info.interface, info.local_ip, info.remote_ip) == (b_link, "10.64.70.2", "10.64.70.1")
    assert info.dns == ["10.64.70.53", "10.64.70.54"]


def test_D06_the_kernel_check_wants_this_pppds_own_interface(tmp_path, monkeypatch, p2p):
    a_link = p2p("10.64.64.2", "10.64.64.1")
    run = link_pid_dir(tmp_path, monkeypatch)
    info = LinkInfo(a_link, "10.64.64.2", "10.64.64.1")
    assert pppd_mod.kernel_disagrees(info) == "", "the kernel holds what the claim says"
    assert "has not named its interface" in pppd_mod.kernel_disagrees(info, "bg-pppd-B", 4242)
    (run / "ppp-bg-pppd-A.pid").write_text(f"4000\n{a_link}\n")  # A's pppd runs on it
    assert "has not named its interface" in pppd_mod.kernel_disagrees(info, "bg-pppd-B", 4242)
    (run / "ppp-bg-pppd-B.pid").write_text(f"4242\n{a_link}\n")
    assert pppd_mod.kernel_disagrees(info, "bg-pppd-B", 4242) == ""


def test_D06_chat_lines_read_after_pppd_named_its_interface_end_at_its_connect_line():
    """The reader can lag behind: chat's echo still in the pipe when pppd has already written its
    link pid file (seen in UML). pppd's "Connect:" line comes after the connect script, always."""
    info = LinkInfo()
    for line in ["Using interface ppp1", "local  IP address 10.64.64.2", "remote IP address 10.64.64.1",
                 "primary DNS address 203.0.113.53", "CONNECT 150000000",
                 "Script /usr/sbin/chat -s -S -v -f /run/bg-pppd/B/connect.chat finished (pid 769), status = 0x0",
                 "Serial connection established.", "using channel 2", "Using interface ppp1"]:
        parse_line(info, line)
    parse_line(info, "Connect: ppp1 <--> /dev/ttyUSB2")
    assert (info.interface, info.local_ip, info.remote_ip, info.dns) == ("ppp1", "", "", []), info
    for line in ["local  IP address 10.64.70.2", "remote IP address 10.64.70.1", "primary   DNS address 10.64.70.53"]:
        parse_line(info, line)
    assert info == LinkInfo("ppp1", "10.64.70.2", "10.64.70.1", ["10.64.70.53"])


def test_D06_fact_lines_before_pppd_named_its_interface_are_not_taken():
    info, named = LinkInfo(), []
    for line in ["Using interface ppp0", "local  IP address 10.64.64.2", "remote IP address 10.64.64.1",
                 "primary DNS address 203.0.113.53"]:
        assert parse_line(info, line, lambda: bool(named)) is False
    assert (info.interface, info.local_ip, info.remote_ip, info.dns) == ("", "", "", [])
    assert info.untrusted == "Using interface ppp0", "the next fact-like line came before any name"
    parse_line(info, "Connect script failed", lambda: bool(named))
    assert info.reason == "Connect script failed", "pppd's reasons are still read"
    named.append("ppp1")
    ups = [parse_line(info, line, lambda: bool(named)) for line in
           ["Connect: ppp1 <--> /dev/ttyUSB2", "local  IP address 10.64.65.2", "remote IP address 10.64.65.1"]]
    assert ups == [False, False, True] and info.interface == "ppp1"


def test_pppd_own_interface_line_read_before_its_link_pid_file_is_no_warning():
    """pppd prints "Using interface" and then writes the link pid file: a reader that asks at once
    finds no file yet (seen in UML on a warm start). Named by pppd's next line ("Connect:"), the
    line was pppd's: not a sign. Two unnamed ones in a row: the first was not pppd's."""
    info, named = LinkInfo(), []
    assert parse_line(info, "Using interface ppp0", lambda: bool(named)) is False
    assert info.interface == "" and info.untrusted == ""
    named.append("ppp0")
    assert parse_line(info, "Connect: ppp0 <--> /dev/ttyUSB2", lambda: bool(named)) is False
    assert info.interface == "ppp0" and info.untrusted == "" and info.unsure == ""
    info, named = LinkInfo(), []
    for line in ["Using interface ppp0", "Using interface ppp1"]:
        parse_line(info, line, lambda: bool(named))
    assert info.untrusted == "Using interface ppp0" and info.unsure == "Using interface ppp1"


@pytest.mark.parametrize("name", ["ppp0", "wwan0", "ppp_x.1"])
def test_valid_interface_names(name):
    assert pppd_mod.valid_interface(name)


@pytest.mark.parametrize("name", ["", "-h", "../x", "a/b", "a b", ".", "..", "x" * 16, "ppp0\n"])
def test_D06_interface_names_that_reach_tools_are_validated(name, tmp_path, monkeypatch):
    assert not pppd_mod.valid_interface(name)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    log = bin_dir / "calls.log"
    for tool in ("resolvectl", "resolvconf"):
        (bin_dir / tool).write_text(f'#!/bin/sh\necho "{tool} $@" >> {log}\n')
        (bin_dir / tool).chmod(0o755)
    monkeypatch.setenv("PATH", str(bin_dir))
    for mode in ("resolved", "resolvconf"):
        dns = Dns("office", mode, str(tmp_path / "resolv.conf"), tmp_path / "state")
        dns.apply(name, ["10.0.0.53"])
        dns.undo(name)
    assert not log.exists(), log.read_text()


# ----- D7: dns: file keeps what was there ------------------------------------------------------------


def resolver_symlink(tmp_path, target_text=None):
    managed = tmp_path / "run" / "resolvconf" / "resolv.conf"
    managed.parent.mkdir(parents=True)
    managed.write_text("nameserver 192.0.2.10  # managed by resolvconf\n")
    etc = tmp_path / "etc"
    etc.mkdir()
    link = etc / "resolv.conf"
    link.symlink_to(target_text or str(managed))
    return managed, link


@pytest.mark.parametrize("relative", [False, True])
def test_D07_a_symlinked_resolv_conf_is_a_symlink_again(tmp_path, relative):
    managed, link = resolver_symlink(tmp_path, "../run/resolvconf/resolv.conf" if relative else None)
    target_text = os.readlink(link)
    dns = Dns("office", "file", str(link), tmp_path / "state")
    dns.apply("ppp0", ["10.64.64.53"])
    assert "nameserver 10.64.64.53" in link.read_text()
    assert managed.read_text().startswith("nameserver 192.0.2.10"), "the manager's file is not written through"
    dns.undo("ppp0")
    assert link.is_symlink() and os.readlink(link) == target_text
    managed.write_text("nameserver 192.0.2.99\n")  # the resolver manager's next update reaches it
    assert link.read_text() == "nameserver 192.0.2.99\n"
    assert not (tmp_path / "state" / "office.dns-backup").exists()


def test_D07_a_crash_while_up_is_undone_by_the_next_run(tmp_path):
    managed, link = resolver_symlink(tmp_path)
    Dns("office", "file", str(link), tmp_path / "state").apply("ppp0", ["10.64.64.53"])
    # the daemon dies; the next run brings the link up and down again
    nxt = Dns("office", "file", str(link), tmp_path / "state")
    nxt.apply("ppp1", ["10.64.64.54"])
    nxt.undo("ppp1")
    assert link.is_symlink() and os.readlink(link) == str(managed)


def test_D07_the_next_runs_link_down_alone_restores_too(tmp_path):
    managed, link = resolver_symlink(tmp_path)
    Dns("office", "file", str(link), tmp_path / "state").apply("ppp0", ["10.64.64.53"])
    Dns("office", "file", str(link), tmp_path / "state").undo("ppp0")
    assert link.is_symlink() and os.readlink(link) == str(managed)


def test_D07_no_file_before_means_no_file_after(tmp_path):
    target = tmp_path / "resolv.conf"
    dns = Dns("office", "file", str(target), tmp_path / "state")
    dns.apply("ppp0", ["10.64.64.53"])
    assert target.exists()
    dns.undo("ppp0")
    assert not target.exists() and not target.is_symlink()


def test_D07_content_and_mode_come_back(tmp_path):
    target = tmp_path / "resolv.conf"
    target.write_bytes(b"nameserver 192.0.2.1\n# \xff binary is kept as it was\n")
    target.chmod(0o640)
    dns = Dns("office", "file", str(target), tmp_path / "state")
    dns.apply("ppp0", ["10.64.64.53"])
    dns.undo("ppp0")
    assert target.read_bytes() == b"nameserver 192.0.2.1\n# \xff binary is kept as it was\n"
    assert stat.S_IMODE(target.stat().st_mode) == 0o640 and not target.is_symlink()


def test_dns_backup_of_an_older_bg_pppd_is_restored(tmp_path):
    target = tmp_path / "resolv.conf"
    target.write_text("ours\n")
    (tmp_path / "office.dns-backup").write_bytes(b"nameserver 192.0.2.1\n")  # the bare old content
    Dns("office", "file", str(target), tmp_path).undo("ppp0")
    assert target.read_text() == "nameserver 192.0.2.1\n"


def test_D07_two_profiles_on_one_symlinked_resolv_conf_keep_the_symlink(tmp_path, caplog):
    """The re-test's exact sequence: A applies, B applies, A undoes, B undoes."""
    managed, link = resolver_symlink(tmp_path)
    state = tmp_path / "state"
    a, b = Dns("A", "file", str(link), state), Dns("B", "file", str(link), state)
    with caplog.at_level(logging.INFO, logger="bg_pppd"):
        a.apply("ppp0", ["10.64.64.53"])
        b.apply("ppp1", ["10.64.65.53"])
        assert "10.64.64.53" in link.read_text() and "10.64.65.53" not in link.read_text()
        a.undo("ppp0")
        b.undo("ppp1")
    assert link.is_symlink() and os.readlink(link) == str(managed), "the resolver's symlink is back"
    assert sorted(os.listdir(state)) == []
    refused = [r.getMessage() for r in caplog.records if r.getMessage().startswith("B: dns:")]
    assert refused == [f"B: dns: {link} is managed by profile A ({state / 'A.dns-backup'} holds what was there "
                       "before); DNS servers not applied"], refused


def test_two_profiles_undone_in_the_other_order_keep_the_symlink(tmp_path):
    managed, link = resolver_symlink(tmp_path)
    a, b = (Dns(name, "file", str(link), tmp_path / "state") for name in ("A", "B"))
    a.apply("ppp0", ["10.64.64.53"])
    b.apply("ppp1", ["10.64.65.53"])
    b.undo("ppp1")
    assert "10.64.64.53" in link.read_text(), "A's link is still up: its DNS stays"
    a.undo("ppp0")
    assert link.is_symlink() and os.readlink(link) == str(managed)


def test_D07_a_crashed_profiles_backup_still_claims_the_file(tmp_path):
    """A dies while up: its backup holds the original, so B must not write over A's file
    (B's backup would hold A's DNS); A's next run puts the original back."""
    managed, link = resolver_symlink(tmp_path)
    state = tmp_path / "state"
    Dns("A", "file", str(link), state).apply("ppp0", ["10.64.64.53"])  # then SIGKILL
    b = Dns("B", "file", str(link), state)
    b.apply("ppp1", ["10.64.65.53"])
    assert "10.64.64.53" in link.read_text()
    nxt = Dns("A", "file", str(link), state)
    nxt.apply("ppp0", ["10.64.64.54"])
    nxt.undo("ppp0")
    b.undo("ppp1")
    assert link.is_symlink() and os.readlink(link) == str(managed)
    b.apply("ppp1", ["10.64.65.53"])  # free again
    assert "10.64.65.53" in link.read_text()
    b.undo("ppp1")
    assert link.is_symlink() and os.readlink(link) == str(managed)


def test_D07_one_file_however_its_path_is_spelt(tmp_path):
    managed, link = resolver_symlink(tmp_path)
    (tmp_path / "etc-alias").symlink_to(tmp_path / "etc")
    state = tmp_path / "state"
    a = Dns("A", "file", str(link), state)
    b = Dns("B", "file", str(tmp_path / "etc-alias" / ".." / "etc" / "resolv.conf"), state)
    c = Dns("C", "file", str(tmp_path / "etc-alias" / "resolv.conf"), state)
    a.apply("ppp0", ["10.64.64.53"])
    b.apply("ppp1", ["10.64.65.53"])
    c.apply("ppp2", ["10.64.66.53"])
    assert "10.64.64.53" in link.read_text()
    for dns in (c, b, a):
        dns.undo("ppp")
    assert link.is_symlink() and os.readlink(link) == str(managed)


def test_D07_a_profile_that_moved_its_dns_file_puts_the_old_one_back(tmp_path):
    managed, link = resolver_symlink(tmp_path)
    other = tmp_path / "other.conf"
    other.write_text("nameserver 192.0.2.7\n")
    Dns("A", "file", str(link), tmp_path / "state").apply("ppp0", ["10.64.64.53"])  # crash, then edit
    moved = Dns("A", "file", str(other), tmp_path / "state")
    moved.apply("ppp0", ["10.64.64.54"])
    assert link.is_symlink() and os.readlink(link) == str(managed), "the earlier run's file is put back"
    moved.undo("ppp0")
    assert other.read_text() == "nameserver 192.0.2.7\n"


def test_D07_one_profile_claims_the_file_at_a_time(tmp_path):
    """Links of two profiles coming up at the same moment: one of them writes the file."""
    import threading

    managed, link = resolver_symlink(tmp_path)
    state = tmp_path / "state"
    profiles = [Dns(f"P{i}", "file", str(link), state) for i in range(8)]
    go = threading.Barrier(len(profiles))

    def apply(dns):
        go.wait()
        dns.apply("ppp0", [f"10.64.64.{profiles.index(dns) + 1}"])
    threads = [threading.Thread(target=apply, args=(dns,)) for dns in profiles]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert len(os.listdir(state)) == 1, os.listdir(state)
    for dns in profiles:
        dns.undo("ppp0")
    assert link.is_symlink() and os.readlink(link) == str(managed)


# ----- D8: a backup in a shared state dir is trusted only if only we can have written it ------------

NOBODY = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]


@pytest.fixture
def sticky_state():
    """A state dir like /tmp (sticky, world-writable: the README allows one), that another user
    can reach (pytest's tmp is root's 0700)."""
    import shutil
    import tempfile
    from pathlib import Path

    base = Path(tempfile.mkdtemp(prefix="bg-pppd-d08-", dir="/tmp"))
    base.chmod(0o755)
    state = base / "state"
    state.mkdir()
    state.chmod(0o1777)
    yield state
    shutil.rmtree(base, ignore_errors=True)


def as_nobody(*cmd):
    import subprocess

    subprocess.run([*NOBODY, *cmd], check=True, capture_output=True, timeout=30)


def test_D08_a_planted_backup_symlink_is_never_read(tmp_path, sticky_state, caplog):
    secret = tmp_path / "shadow"
    secret.write_text("root:$6$SECRET-HASH:19000:0:99999:7:::\n")
    secret.chmod(0o600)
    as_nobody("ln", "-s", str(secret), str(sticky_state / "A.dns-backup"))
    resolv = tmp_path / "resolv.conf"
    resolv.write_text("nameserver 192.0.2.1\n")
    dns = Dns("A", "file", str(resolv), sticky_state)
    with caplog.at_level(logging.INFO, logger="bg_pppd"):
        dns.apply("ppp0", ["10.64.64.53"])
        assert "10.64.64.53" in resolv.read_text()
        dns.undo("ppp0")
    assert resolv.read_text() == "nameserver 192.0.2.1\n", "the original, not the planted file's target"
    assert "SECRET" not in resolv.read_text() and stat.S_IMODE(resolv.stat().st_mode) == 0o644
    assert f"A: dns: {sticky_state / 'A.dns-backup'} is not trusted (not a regular file (a symlink))" in caplog.text


def test_D08_a_planted_backup_at_link_down_changes_nothing(tmp_path, sticky_state, caplog):
    """Another user's JSON with a mode and owner of their choosing: neither is applied, nor its content."""
    import base64
    import json

    resolv = tmp_path / "resolv.conf"
    resolv.write_text("nameserver 10.64.64.53\n")
    forged = json.dumps({"kind": "file", "mode": 0o4777, "uid": 65534, "gid": 65534,
                         "content": base64.b64encode(b"nameserver 198.51.100.66\n").decode()})
    as_nobody("sh", "-c", f"printf '%s' '{forged}' > {sticky_state / 'A.dns-backup'}")
    with caplog.at_level(logging.INFO, logger="bg_pppd"):
        Dns("A", "file", str(resolv), sticky_state).undo("ppp0")
    st = resolv.stat()
    assert resolv.read_text() == "nameserver 10.64.64.53\n" and st.st_uid == 0
    assert stat.S_IMODE(st.st_mode) == 0o644
    assert f"{sticky_state / 'A.dns-backup'} is not trusted (is not a file of ours" in caplog.text
    assert f"{resolv} left as it is" in caplog.text


def test_D08_another_users_backup_claims_no_file(tmp_path, sticky_state, caplog):
    import json

    resolv = tmp_path / "resolv.conf"
    resolv.write_text("nameserver 192.0.2.1\n")
    forged = json.dumps({"kind": "none", "file": str(resolv), "profile": "X"})
    as_nobody("sh", "-c", f"printf '%s' '{forged}' > {sticky_state / 'X.dns-backup'}")
    dns = Dns("A", "file", str(resolv), sticky_state)
    with caplog.at_level(logging.WARNING, logger="bg_pppd"):
        dns.apply("ppp0", ["10.64.64.53"])
    assert "10.64.64.53" in resolv.read_text(), "a forged claim does not keep DNS away"
    assert "X.dns-backup is not trusted" in caplog.text
    dns.undo("ppp0")
    assert resolv.read_text() == "nameserver 192.0.2.1\n"


def test_D08_a_fifo_at_the_dns_file_is_not_read(tmp_path, caplog):
    fifo = tmp_path / "resolv.conf"
    os.mkfifo(fifo)
    with caplog.at_level(logging.ERROR, logger="bg_pppd"):
        Dns("A", "file", str(fifo), tmp_path / "state").apply("ppp0", ["10.64.64.53"])  # no hang
    assert "cannot write" in caplog.text and "FIFO" in caplog.text
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode) and os.listdir(tmp_path / "state") == []


# ----- D9: DNS trouble is logged; the crash barrier ends pppd and exits 1 ---------------------------


def test_D09_unwritable_dns_file_is_logged_never_raised(tmp_path, caplog):
    blocker = tmp_path / "ro"
    blocker.write_text("a file where a directory should be\n")
    dns = Dns("office", "file", str(blocker / "resolv.conf"), tmp_path / "state")
    with caplog.at_level(logging.ERROR, logger="bg_pppd"):
        dns.apply("ppp0", ["10.64.64.53"])
        dns.undo("ppp0")
    assert "cannot write" in caplog.text and "resolv.conf" in caplog.text


class CrashSystem(FakeSystem):
    """FakeSystem whose pppd ends on SIGTERM (as the real one does) and whose ``fail`` methods raise."""

    def __init__(self, *fail, term_ends=True):
        super().__init__()
        self.fail, self.term_ends, self.post = set(fail), term_ends, None

    def _maybe_fail(self, name):
        if name in self.fail:
            raise RuntimeError(f"{name} broke")

    def start_pppd(self, post, info):
        self.post = post
        super().start_pppd(post, info)

    def stop_pppd(self, kill):
        self._maybe_fail("stop_pppd" if not kill else "kill_pppd")
        super().stop_pppd(kill)
        if self.post and (kill or self.term_ends):
            self.post(Ev.PPPD_EXIT, -9 if kill else 5)

    def hangup_pppd(self):
        self._maybe_fail("hangup_pppd")
        super().hangup_pppd()

    def status_changed(self, status):
        super().status_changed(status)
        self._maybe_fail("status_changed")

    def save_ladder(self, ladder):
        self._maybe_fail("save_ladder")
        super().save_ladder(ladder)

    def link_up(self, info):
        self._maybe_fail("link_up")
        super().link_up(info)

    def link_down(self, info):
        self._maybe_fail("link_down")
        super().link_down(info)

    def start_watch(self, post, info):
        self._maybe_fail("start_watch")
        return super().start_watch(post, info)

    def ring_hook(self, info, urcs):
        self._maybe_fail("ring_hook")
        super().ring_hook(info, urcs)

    def reset_hook(self):
        self._maybe_fail("reset_hook")
        super().reset_hook()

    def after_pppd(self):
        self._maybe_fail("after_pppd")
        super().after_pppd()


def run_supervisor(write_profile, system, events, **recovery):
    """Supervisor.run() with ``events`` queued; the fake clock moves 1 s per tick (10 ms real)."""
    text = "modem:\n  port: /dev/ttyUSB2\nnetwork:\n  apn: internet\nrecovery:\n" + "".join(
        f"  {k}: {v}\n" for k, v in {"retry_wait": 10, **recovery}.items())
    sup = Supervisor(profile_mod.load(write_profile(text)), system)
    for ev in events:
        sup.post(*ev)

    def tick():
        system.now += 1
    t0 = time.monotonic()
    code = sup.run(tick=tick, tick_every=0.01)
    assert time.monotonic() - t0 < 20
    return sup, code


UP_EVENTS = [(Ev.PREFLIGHT_OK, None), (Ev.PPPD_UP, LinkInfo(UP.interface, UP.local_ip, UP.remote_ip, list(UP.dns)))]


def test_D09_a_handler_that_raises_ends_pppd_and_exits_1(write_profile, caplog):
    system = CrashSystem("hangup_pppd")
    with caplog.at_level(logging.INFO, logger="bg_pppd"):
        sup, code = run_supervisor(write_profile, system, [*UP_EVENTS, (Ev.LINK_DEAD, "probe: dead")])
    assert code == 1 and sup.state is State.STOPPED
    assert "term pppd" in system.calls and system.calls.count("hook down") == 1
    last = system.statuses[-1]
    assert last["state"] == "stopped" and "hangup_pppd broke" in last["last_error"]
    assert sum(1 for r in caplog.records if r.exc_info) == 1, "the traceback is logged once"


def test_D09_crash_with_a_pppd_that_ignores_sigterm_kills_it_after_a_bounded_wait(write_profile):
    system = CrashSystem("hangup_pppd", term_ends=False)
    _sup, code = run_supervisor(write_profile, system, [*UP_EVENTS, (Ev.LINK_DEAD, "probe: dead")])
    assert code == 1 and system.calls[-3:].count("kill pppd") == 1
    assert system.statuses[-1]["state"] == "stopped"


def test_D09_crash_while_the_stop_itself_fails_still_stops(write_profile):
    system = CrashSystem("hangup_pppd", "stop_pppd")
    sup, code = run_supervisor(write_profile, system, [*UP_EVENTS, (Ev.LINK_DEAD, "probe: dead")])
    assert code == 1 and sup.state is State.STOPPED
    assert "kill pppd" in system.calls and system.statuses[-1]["state"] == "stopped"


def test_D09_a_crash_in_a_worker_start_exits_1(write_profile):
    class NoThreads(CrashSystem):
        def start_reset(self, skip_at, post):
            raise RuntimeError("can't start new thread")
    system = NoThreads()
    fails = [(Ev.PREFLIGHT_FAILED, Failure("no answer"))]
    _sup, code = run_supervisor(write_profile, system, fails, dial_attempts=1)
    assert code == 1 and "can't start new thread" in system.statuses[-1]["last_error"]


@pytest.mark.parametrize("broken", ["status_changed", "save_ladder", "link_up", "link_down", "start_watch",
                                    "ring_hook", "reset_hook", "after_pppd"])
def test_D09_a_failing_side_effect_is_logged_and_the_daemon_goes_on(write_profile, caplog, broken):
    system = CrashSystem(broken)
    sup, _ = make_with(system, write_profile, dial_attempts=1)
    with caplog.at_level(logging.ERROR, logger="bg_pppd"):
        connect(sup, system)
        assert sup.state is State.CONNECTED
        sup.post(Ev.RING, ["RING"])
        run_until_idle(sup, system)
        advance(sup, system, 5)
        sup.post(Ev.PPPD_EXIT, 16)  # an early drop: a failed attempt, then the reset
        run_until_idle(sup, system)
        assert sup.state is State.RESETTING
        sup.post(Ev.RESET_DONE, "at")
        run_until_idle(sup, system)
        assert sup.state is State.PREFLIGHT
        fail_dial(sup, system)
        sup.post(Ev.STOP, "down")
        run_until_idle(sup, system)
        sup.post(Ev.RESET_DONE, Failure("cancelled"))
        run_until_idle(sup, system)
    assert sup.state is State.STOPPED and sup.exit_code == 0
    assert f"{broken} broke" in caplog.text
    assert sum(1 for r in caplog.records if r.exc_info) == 1, "one traceback, then one line each"


def test_D09_status_with_a_damaged_time_is_still_written(tmp_path):
    import json

    _prof, rs = real_system(tmp_path, str(tmp_path / "tty"))
    status = Supervisor(_prof, FakeSystem()).status()
    rs.status_changed({**status, "since": float("nan"), "next_reset_not_before": -1e300})
    written = json.loads((tmp_path / "run" / "prof" / "status.json").read_text())
    assert written["since"] is None and written["state"] == "stopped"


# ----- D11: once pppd runs, it is tracked --------------------------------------------------------------


@needs_pppd
def test_D11_pid_file_write_failing_after_spawn_keeps_pppd_tracked(tmp_path, monkeypatch, caplog):
    import errno

    from bg_pppd.daemon.run_dir import RunDir

    master, slave = os.openpty()
    try:
        prof, rs = real_system(tmp_path, os.ttyname(slave))

        def full(self, pid):
            raise OSError(errno.ENOSPC, "No space left on device")
        monkeypatch.setattr(RunDir, "write_pppd_pid", full)
        sup = Supervisor(prof, rs)
        sup.state = State.PREFLIGHT
        with caplog.at_level(logging.WARNING, logger="bg_pppd"):
            sup.dispatch(Ev.PREFLIGHT_OK, None)
            assert sup.state is State.DIALING and sup.pppd_running, caplog.text
            assert rs.pppd is not None and "No space left" in caplog.text
            item = sup.events.get(30)  # this host has no kernel PPP: pppd exits 4
            assert item is not None and item[0] is Ev.PPPD_EXIT
            sup.dispatch(*item)
        assert sup.state is State.STOPPED and sup.exit_code == 20, "pppd's own exit was acted on"
    finally:
        if rs.pppd:
            rs.pppd.kill()
        os.close(master)
        os.close(slave)


# ----- D13: no overflow, no hot loop ------------------------------------------------------------------


@pytest.mark.parametrize("failures", [1027, 1100, 10**6])
def test_D13_huge_failure_counts_with_a_float_retry_wait(failures):
    p = Policy(dial_attempts=3, retry_wait=10.5, reset_waits=(600.0, 1800.0, 3600.0))
    ladder = Ladder(failures=failures, resets=1, last_reset=1000.0)
    d = p.failed(ladder, 1200.0)
    assert d.action == "dial" and 1200.0 < d.at <= 1600.0


def test_D13_a_persisted_huge_count_does_not_crash_the_daemon(write_profile):
    sup, sysm = make(write_profile, Ladder(failures=5000, resets=1, last_reset=0.0), retry_wait=10.5)
    sup.post(Ev.PREFLIGHT_FAILED, Failure("not registered"))
    run_until_idle(sup, sysm)
    assert sup.state is State.WAITING


@pytest.mark.parametrize("retry_wait", [0, 0.0, 1e-9])
def test_D13_retry_wait_zero_is_no_hot_loop(retry_wait):
    p = Policy(dial_attempts=3, retry_wait=retry_wait, reset_waits=(600, 1800, 3600))
    ladder, now, attempts = Ladder(), 0.0, 0
    while now < 3600 and attempts < 100_000:
        attempts += 1
        d = p.failed(ladder, now)
        if d.action == "reset":
            p.reset_started(ladder, now)
            p.reset_done(ladder, now)
            continue  # the pre-flight right after a reset
        assert d.at >= now + 0.5, f"attempt {attempts}: the next one {d.at - now} s later"
        now = d.at
    assert now >= 3600 and attempts <= 3600 * 2 + 10


def test_D13_zero_waits_everywhere_cannot_loop_resets():
    p = Policy(dial_attempts=1, retry_wait=0, reset_waits=(0,), stable_after=0)
    ladder, now, resets, steps = Ladder(), 0.0, 0, 0
    while now < 60 and steps < 100_000:
        steps += 1
        d = p.failed(ladder, now)
        if d.action == "reset":
            resets += 1
            p.reset_started(ladder, now)
            p.reset_done(ladder, now, confirmed=False)  # a broken reset command, at once
            continue
        now = d.at
    assert now >= 60 and resets <= 121, (now, resets)
    assert p.stable_wait >= 0.5


# ----- D18: the log says why an attempt failed -------------------------------------------------------


def test_D18_the_waiting_and_resetting_lines_say_why(write_profile, caplog):
    sup, sysm = make(write_profile)
    why = "SIM: no SIM card (+CME ERROR: 10 SIM not inserted)"
    with caplog.at_level(logging.INFO, logger="bg_pppd"):
        for _ in range(3):
            sup.post(Ev.PREFLIGHT_FAILED, Failure(why))
            run_until_idle(sup, sysm)
            if sup.state is State.WAITING:
                advance(sup, sysm, 10)
    lines = [r.getMessage() for r in caplog.records if "switch from preflight to" in r.getMessage()]
    assert len(lines) == 3 and all(why in m for m in lines), lines
    assert "to waiting: attempt 1 of 3 failed" in lines[0] and "to resetting" in lines[2]


def test_D18_a_multi_line_failure_is_one_log_line(write_profile, caplog):
    sup, sysm = make(write_profile)
    with caplog.at_level(logging.INFO, logger="bg_pppd"):
        sup.post(Ev.PREFLIGHT_FAILED, Failure("pre-flight error: first\nsecond line"))
        run_until_idle(sup, sysm)
    line = [r.getMessage() for r in caplog.records if "to waiting" in r.getMessage()]
    assert len(line) == 1 and "first second line" in line[0] and "\n" not in line[0]


def test_D18_a_dial_failure_says_why_too(write_profile, caplog):
    sup, sysm = make(write_profile)
    with caplog.at_level(logging.INFO, logger="bg_pppd"):
        fail_dial(sup, sysm, code=8)
    assert "attempt 1 of 3 failed (the connect script (chat) failed (exit 8))" in caplog.text


# ----- D24: ping never takes the target as an option ----------------------------------------------


def fake_ping(tmp_path, monkeypatch):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    log = bin_dir / "ping.log"
    (bin_dir / "ping").write_text(f'#!/bin/sh\nfor a in "$@"; do echo "$a"; done > {log}\nexit 0\n')
    (bin_dir / "ping").chmod(0o755)
    monkeypatch.setenv("PATH", str(bin_dir))
    return log


def test_D24_ping_gets_the_host_after_double_dash(tmp_path, monkeypatch):
    log = fake_ping(tmp_path, monkeypatch)
    assert probe_once("10.64.64.1", "ppp0", 1) == (True, "no echo reply")
    argv = log.read_text().splitlines()
    assert argv[-2:] == ["--", "10.64.64.1"] and argv[argv.index("-I") + 1] == "ppp0"


@pytest.mark.parametrize("target", ["-f", "--help", "-c99999", "-I"])
def test_D24_a_target_starting_with_dash_is_refused(tmp_path, monkeypatch, target):
    log = fake_ping(tmp_path, monkeypatch)
    with pytest.raises(ValueError):
        parse_target(target)
    ok, why = probe_once(target, "ppp0", 1)
    assert not ok and "-" in why and not log.exists(), "ping never ran"


def test_D24_an_interface_that_is_no_name_never_reaches_ping(tmp_path, monkeypatch):
    log = fake_ping(tmp_path, monkeypatch)
    ok, _why = probe_once("10.64.64.1", "-c99999", 1)
    assert not ok and not log.exists()


@pytest.mark.skipif(not os.path.exists("/usr/bin/ping") and not os.path.exists("/bin/ping"),
                    reason="iputils ping is not installed")
def test_real_ping_takes_the_probe_command_line():
    assert probe_once("127.0.0.1", "", 2)[0]
