"""APN fallback (issue 17, item 4): the order per SIM, which failures move it on, the memory of
the APN that worked, the supervisor's use of both, the pre-flight setting the chosen one, and
the virtual module refusing an APN the network does not know (NO CARRIER, AT+CEER's cause).

The policy is plain values; the supervisor runs against test_supervisor's recording FakeSystem;
the module is its model over a virtual clock, or its pty runtime for ``check`` and ``up`` as
processes. The whole fallback on a real link (kernel PPP) is tests/test_apn_uml.py.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import stat
import subprocess
import sys
import time

import pytest

from bg_pppd.daemon.apn_memory import ApnMemory
from bg_pppd.daemon.apn_order import (
    MAX_SIMS,
    ApnState,
    dial_failure_blames_apn,
    order,
    preflight_failure_blames_apn,
)
from bg_pppd.daemon.supervisor import Ev, Failure, State, Supervisor
from bg_pppd.emulator.scenario import Scenario
from bg_pppd.modem.preflight import Report
from bg_pppd.profile import model as profile_mod
from bg_pppd.util.errors import EXIT_DENIED, EXIT_NO_RESPONSE, EXIT_NOT_REGISTERED, EXIT_SIM
from tests.conftest import ROOT, run_cli
from tests.test_emulator_model import command, model
from tests.test_supervisor import UP, FakeSystem, run_until_idle
from tests.test_up_process import wait_status

SIM_A = "89882280666012345678"  # the emulator's ICCID
SIM_B = "89490200001234567890"


# ----- the order: plain values ------------------------------------------------------------------

def test_order_puts_the_remembered_apn_first_only_while_the_profile_lists_it():
    assert order(("a", "b", "c"), None) == ("a", "b", "c")
    assert order(("a", "b", "c"), "b") == ("b", "a", "c")
    assert order(("a", "b", "c"), "gone") == ("a", "b", "c"), "an APN no longer in the profile is not set"
    assert order(("a", ""), "") == ("", "a"), "the empty APN (the network picks) is an APN like any"


def test_a_new_sim_starts_with_the_first_or_its_remembered_apn():
    s = ApnState(("a", "b", "c"), {SIM_B: "c"})
    assert s.choose(SIM_A) == "a" and s.choose(None) == "a"
    assert s.choose(SIM_B) == "c"


def test_each_failure_moves_on_round_robin_and_a_whole_round_wraps():
    s = ApnState(("a", "b", "c"))
    tried = []
    for _ in range(7):
        apn = s.choose(SIM_A)
        tried.append(apn)
        s = s.failed(SIM_A, apn)
    assert tried == ["a", "b", "c", "a", "b", "c", "a"]


def test_from_the_remembered_one_the_rest_follow_in_list_order():
    s = ApnState(("a", "b", "c"), {SIM_A: "b"})
    tried = []
    for _ in range(4):
        apn = s.choose(SIM_A)
        tried.append(apn)
        s = s.failed(SIM_A, apn)
    assert tried == ["b", "a", "c", "b"]
    assert s.remembered == {SIM_A: "b"}, "failures never forget what worked"


def test_a_swapped_sim_starts_its_own_order():
    s = ApnState(("a", "b"), {SIM_B: "b"}).failed(SIM_A, "a")
    assert s.choose(SIM_A) == "b"
    assert s.choose(SIM_B) == "b", "SIM B: its remembered APN, not SIM A's rotation"
    assert ApnState(("a", "b")).failed(SIM_A, "a").choose(SIM_B) == "a"


def test_one_apn_stays_that_apn():
    s = ApnState(("internet",))
    assert s.failed(SIM_A, "internet").choose(SIM_A) == "internet"
    assert ApnState(()).choose(SIM_A) == "", "no list at all: the network picks"


def test_what_worked_is_remembered_per_sim_and_set_again():
    s = ApnState(("a", "b")).failed(SIM_A, "a").worked(SIM_A, "b")
    assert s.remembered == {SIM_A: "b"} and s.choose(SIM_A) == "b"
    s = s.worked(SIM_B, "a")
    assert s.remembered == {SIM_A: "b", SIM_B: "a"}
    assert ApnState(("a",)).worked(None, "a").remembered == {}, "no ICCID read: nothing to key it on"
    assert ApnState(("a",)).worked(SIM_A, "z").remembered == {}, "only the profile's APNs"


def test_the_memory_keeps_the_most_recent_sims():
    s = ApnState(("a",))
    sims = [f"8988228066601234{i:04d}" for i in range(MAX_SIMS + 2)]
    for iccid in sims:
        s = s.worked(iccid, "a")
    s = s.worked(sims[2], "a")  # used again: the most recent now
    assert len(s.remembered) == MAX_SIMS
    assert sims[0] not in s.remembered and sims[1] not in s.remembered and sims[2] in s.remembered
    assert list(s.remembered)[-1] == sims[2]


@pytest.mark.parametrize("code, blames", [
    (8, True),     # chat: NO CARRIER to ATD (PDN connectivity rejected)
    (10, True),    # IPCP refused: no PDN, no address
    (16, True),    # the module hung up before IP
    (2, False), (3, False), (4, False),  # options, root, kernel: the host
    (5, False), (-9, False), (None, False),  # we ended it (stop, stuck dial)
    (6, False), (7, False),  # the port
    (19, False),  # authentication: the profile's credentials, whatever the APN
])
def test_which_dial_failures_move_the_apn_on(code, blames):
    assert dial_failure_blames_apn(code) is blames


@pytest.mark.parametrize("code, context_set, blames", [
    (EXIT_DENIED, True, True), (EXIT_NOT_REGISTERED, True, True),
    (EXIT_DENIED, False, False), (EXIT_NOT_REGISTERED, False, False),  # before the context was set
    (EXIT_SIM, True, False), (EXIT_NO_RESPONSE, True, False), (1, True, False),  # SIM, module, port
])
def test_which_preflight_failures_move_the_apn_on(code, context_set, blames):
    assert preflight_failure_blames_apn(code, context_set) is blames


# ----- the memory on disk -----------------------------------------------------------------------

def test_memory_round_trip_atomic_and_readable_by_all(tmp_path):
    mem = ApnMemory(tmp_path / "state", "lab")
    assert mem.load() == ({}, "")
    mem.save({SIM_A: "iot.example", SIM_B: ""})
    assert mem.path.name == "lab.apn.json"
    assert stat.S_IMODE(mem.path.stat().st_mode) == 0o644, "no secret in it"
    assert mem.load() == ({SIM_A: "iot.example", SIM_B: ""}, "")
    assert [p.name for p in mem.path.parent.iterdir()] == ["lab.apn.json"], "no temporary left"


@pytest.mark.parametrize("content", ['{"sims": {"898', "[1, 2]", '{"sims": []}', "\xff\xfe", ""])
def test_a_damaged_memory_is_as_if_none_with_a_note(tmp_path, content):
    mem = ApnMemory(tmp_path, "lab")
    mem.path.write_text(content, errors="surrogateescape")
    memory, note = mem.load()
    assert memory == {} and "damaged" in note


def test_damaged_entries_are_dropped_the_rest_kept(tmp_path):
    mem = ApnMemory(tmp_path, "lab")
    mem.path.write_text(json.dumps({"sims": {SIM_A: {"apn": "ok.example"}, "not-an-iccid": {"apn": "x"},
                                             SIM_B: {"apn": 'x",1;ATD'}}}))
    memory, note = mem.load()
    assert memory == {SIM_A: "ok.example"} and "2 damaged entries" in note


def test_a_foreign_or_writable_memory_is_not_trusted(tmp_path):
    mem = ApnMemory(tmp_path, "lab")
    mem.save({SIM_A: "a"})
    mem.path.chmod(0o666)
    memory, note = mem.load()
    assert memory == {} and "not used" in note
    if os.geteuid() == 0:
        mem.path.chmod(0o644)
        os.chown(mem.path, 4321, 4321)
        memory, note = mem.load()
        assert memory == {} and "not used" in note
    os.unlink(mem.path)
    os.symlink(tmp_path / "elsewhere.json", mem.path)
    (tmp_path / "elsewhere.json").write_text(json.dumps({"sims": {SIM_A: {"apn": "a"}}}))
    assert mem.load()[0] == {}, "a symlink is never followed"


# ----- the supervisor, against the recording FakeSystem -----------------------------------------

def apn_supervisor(write_profile, sysm: FakeSystem, apns: str = "[wrong.example, iot.example]") -> Supervisor:
    text = (f"modem:\n  port: /dev/ttyUSB2\nnetwork:\n  apn: {apns}\n"
            "recovery:\n  retry_wait: 10\n  stable_after: 60\n  reset_waits: [600, 1800]\n")
    sup = Supervisor(profile_mod.load(write_profile(text)), sysm)
    sup.start()
    return sup


def preflight_passes(sup: Supervisor, sysm: FakeSystem, iccid: str = SIM_A) -> str:
    """What the pre-flight worker does: ask the chooser it was given, set that APN, report."""
    apn = sysm.choose_apn(iccid)
    sup.post(Ev.PREFLIGHT_OK, Report("test", "/dev/ttyUSB2", ready=True, iccid=iccid, apn=apn))
    run_until_idle(sup, sysm)
    return apn


def test_supervisor_first_apn_fails_second_is_used_next_and_remembered(write_profile, caplog):
    caplog.set_level(logging.INFO, "bg_pppd")
    sysm = FakeSystem()
    sup = apn_supervisor(write_profile, sysm)
    assert preflight_passes(sup, sysm) == "wrong.example"
    assert sup.state is State.DIALING and sysm.statuses[-1]["apn"] == "wrong.example"
    sup.post(Ev.PPPD_EXIT, 8)  # chat got NO CARRIER
    run_until_idle(sup, sysm)
    assert sup.state is State.WAITING and sup.ladder.failures == 1, "counted as any failed dial"
    assert "APN 'wrong.example' failed (the connect script (chat) failed (exit 8)); next attempt with " \
           "'iot.example'" in caplog.text
    sysm.now = sup.timer_at
    sup.step(block=False)
    assert preflight_passes(sup, sysm) == "iot.example"
    assert sysm.apn_saved == [], "nothing worked yet"
    sup.post(Ev.PPPD_UP, UP)
    run_until_idle(sup, sysm)
    assert sup.state is State.CONNECTED and sysm.statuses[-1]["apn"] == "iot.example"
    assert sysm.apn_saved == [{SIM_A: "iot.example"}]
    # the next daemon (what the state dir holds): the APN that worked first
    again = FakeSystem()
    again.apn_memory = dict(sysm.apn_memory)
    sup2 = apn_supervisor(write_profile, again)
    assert preflight_passes(sup2, again) == "iot.example"
    sup2.post(Ev.PPPD_UP, UP)
    run_until_idle(sup2, again)
    assert again.apn_saved == [], "the same APN on the same SIM: nothing to write"


def test_supervisor_with_one_apn_writes_no_memory(write_profile):
    """Nothing to choose between: no file in the state dir, no flash written on a small board."""
    sysm = FakeSystem()
    sup = apn_supervisor(write_profile, sysm, apns="iot.example")
    assert preflight_passes(sup, sysm) == "iot.example"
    sup.post(Ev.PPPD_UP, UP)
    run_until_idle(sup, sysm)
    assert sup.state is State.CONNECTED and sysm.statuses[-1]["apn"] == "iot.example"
    assert sysm.apn_saved == []


def test_supervisor_a_whole_round_of_failures_goes_on_round_robin_and_the_ladder_counts(write_profile):
    sysm = FakeSystem()
    sup = apn_supervisor(write_profile, sysm, "[a.example, b.example]")
    tried = []
    while sup.state is not State.RESETTING:
        tried.append(preflight_passes(sup, sysm))
        sup.post(Ev.PPPD_EXIT, 8)
        run_until_idle(sup, sysm)
        if sup.state is State.WAITING:
            sysm.now = sup.timer_at
            sup.step(block=False)
    assert tried == ["a.example", "b.example", "a.example"], "3 failures = dial_attempts: the reset as today"
    sup.post(Ev.RESET_DONE, "at")
    run_until_idle(sup, sysm)
    assert preflight_passes(sup, sysm) == "b.example", "the rotation goes on after the reset"


def test_supervisor_registration_failures_move_on_only_after_the_context_was_set(write_profile):
    sysm = FakeSystem()
    sup = apn_supervisor(write_profile, sysm)

    def fail(failure: Failure) -> None:
        sup.post(Ev.PREFLIGHT_FAILED, failure)
        run_until_idle(sup, sysm)
        sysm.now = sup.timer_at
        sup.step(block=False)

    reached_context = Report("test", "/dev/ttyUSB2", iccid=SIM_A, apn=sysm.choose_apn(SIM_A))
    before_context = Report("test", "/dev/ttyUSB2", iccid=SIM_A)
    fail(Failure("SIM: busy", EXIT_SIM, report=before_context))
    fail(Failure("sync: no answer", EXIT_NO_RESPONSE, not_responding=True, report=before_context))
    assert sysm.choose_apn(SIM_A) == "wrong.example", "a SIM or module problem says nothing about the APN"
    fail(Failure("the network denied registration", EXIT_DENIED, report=reached_context))
    assert sysm.choose_apn(SIM_A) == "iot.example"


def test_supervisor_a_dial_killed_or_a_host_problem_keeps_the_apn(write_profile):
    sysm = FakeSystem()
    sup = apn_supervisor(write_profile, sysm)
    preflight_passes(sup, sysm)
    sup.post(Ev.PPPD_EXIT, 7)  # the serial port could not be opened
    run_until_idle(sup, sysm)
    sysm.now = sup.timer_at
    sup.step(block=False)
    assert sysm.choose_apn(SIM_A) == "wrong.example"


# ----- the virtual module: a wrong APN as the network refuses it -------------------------------

def test_the_network_rejects_an_apn_it_does_not_know_no_carrier_after_the_dial_delay():
    modem, io = model(echo=False, dial_delay=0.5, apns=["iot.example"])
    assert command(modem, io, 'AT+CGDCONT=1,"IP","wrong.example"') == b"\r\nOK\r\n"
    dialled = io.mark()
    modem.receive(b"ATD*99#\r")
    io.advance(0.499)
    assert io.output(since=dialled) == b"", "the answer takes the dial's time"
    io.advance(0.001)
    assert io.writes(dialled) == [(500, b"\r\nNO CARRIER\r\n")] and modem.status()["mode"] == "command"
    assert modem.ceer == "Missing or unknown APN (ESM cause #27)"
    assert command(modem, io, 'AT+CGDCONT=1,"IP","iot.example"') == b"\r\nOK\r\n"
    assert command(modem, io, "ATD*99#", wait=0.5) == b"\r\nCONNECT 150000000\r\n"


@pytest.mark.parametrize("accepted, apn, connects", [
    ([], "anything.example", True),         # no list: any APN
    ([], "", True),
    (["iot.example"], "", False),          # the empty APN: only if the network has a default for it
    (["iot.example", ""], "", True),
])
def test_the_empty_apn_is_the_networks_default_when_the_scenario_has_one(accepted, apn, connects):
    modem, io = model(echo=False, dial_delay=0.5, apns=accepted)
    command(modem, io, f'AT+CGDCONT=1,"IP","{apn}"')
    answer = command(modem, io, "ATD*99#", wait=0.5)
    assert answer == (b"\r\nCONNECT 150000000\r\n" if connects else b"\r\nNO CARRIER\r\n")


@pytest.mark.parametrize("value", ["iot.example", [1], {"a": 1}])
def test_the_scenario_key_is_a_list_of_text(value):
    with pytest.raises(ValueError, match="scenario apns: must be a list of text"):
        Scenario.from_dict({"apns": value})
    assert Scenario.from_dict({"apns": ["iot.example", ""]}).apns == ["iot.example", ""]


# ----- check and up as processes against the virtual module ------------------------------------

TWO = "  apn: internet\n"
WRONG_RIGHT = "  apn: [wrong.example, iot.example]\n"


def test_check_sets_the_apn_that_worked_on_this_sim_and_says_so(bench):
    b = bench(apns=["iot.example"])
    b.profile.write_text(b.profile.read_text().replace(TWO, WRONG_RIGHT))
    first = b.check()
    assert first.returncode == 0, first.stderr
    assert "APN:          'wrong.example' (the profile's first)" in first.stdout
    ApnMemory(b.state, "bench").save({SIM_A: "iot.example"})
    done = len(b.commands())
    result = b.check("--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["apn"] == "iot.example"
    assert 'AT+CGDCONT=1,"IP","iot.example"' in b.commands()[done:]
    human = b.check()
    assert "APN:          'iot.example' (worked before on this SIM)" in human.stdout
    ApnMemory(b.state, "bench").save({SIM_B: "iot.example"})  # another SIM's
    assert "'wrong.example' (the profile's first)" in b.check().stdout


def spawn(b, dirs) -> subprocess.Popen:
    run, state = dirs
    env = {"PATH": os.environ["PATH"], "PYTHONPATH": str(ROOT), "BG_PPPD_RUN_DIR": str(run),
           "BG_PPPD_STATE_DIR": str(state)}
    return subprocess.Popen([sys.executable, "-m", "bg_pppd", "up", str(b.profile)], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, env=env)


def test_up_after_a_restart_sets_the_remembered_apn_first(bench, dirs):
    """The memory a former run left in the state dir: this run's first CGDCONT is that APN.

    (The dial itself needs kernel PPP: the full fallback is on a real link, tests/test_apn_uml.py.)
    """
    b = bench(apns=["iot.example"])
    b.profile.write_text(b.profile.read_text().replace(TWO, WRONG_RIGHT))
    ApnMemory(dirs[1], "bench").save({SIM_A: "iot.example"})
    proc = spawn(b, dirs)
    try:
        deadline = time.monotonic() + 30
        st: dict = {}
        while time.monotonic() < deadline and not st.get("apn"):
            st = json.loads(run_cli("status", str(b.profile), "--json").stdout)
            time.sleep(0.05)
        assert st.get("apn") == "iot.example", st
        writes = [c for c in b.commands() if c.startswith("AT+CGDCONT=")]
        assert writes == ['AT+CGDCONT=1,"IP","iot.example"'], writes
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=30)
    assert "pre-flight context: set IP 'iot.example'" in out and "Traceback" not in out
    wait_status(b, "stopped")
