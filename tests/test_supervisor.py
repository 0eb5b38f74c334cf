"""The supervisor's state machine against a recording fake System and a fake clock.

No threads, no processes: the test posts the events pppd and the workers
would post, and reads back what the supervisor did.
"""

from __future__ import annotations

from bg_pppd.daemon.data_usage import Usage
from bg_pppd.daemon.recovery import Ladder
from bg_pppd.daemon.supervisor import Ev, Failure, State, Supervisor
from bg_pppd.link.pppd import LinkInfo
from bg_pppd.profile import model as profile_mod


class FakeJob:
    def __init__(self, log, name):
        self.log, self.name, self.cancelled = log, name, False

    def cancel(self):
        self.cancelled = True
        self.log.append(f"cancel {self.name}")

    def join(self, timeout):
        return True


class FakeSystem:
    def __init__(self):
        self.now = 0.0
        self.calls: list[str] = []
        self.saved: list[Ladder] = []
        self.statuses: list[dict] = []
        self.job = None
        self.apn_memory: dict[str, str] = {}       # what load_apn_memory finds "on disk"
        self.apn_saved: list[dict[str, str]] = []  # each save_apn_memory
        self.choose_apn = None                     # the chooser the last pre-flight was given
        self.wall_start = 1_796_000_000.0          # calendar time at now == 0 (2026-11-30)
        self.usage_on_disk = Usage()               # what load_usage finds "on disk"
        self.usage_saved: list[Usage] = []         # each save_usage

    def clock(self):
        return self.now

    def wall(self):
        return self.wall_start + self.now

    def load_usage(self):
        return self.usage_on_disk

    def save_usage(self, usage):
        self.usage_saved.append(usage)
        self.usage_on_disk = usage

    def cap_hook(self, state, usage):
        self.calls.append(f"hook cap {state}")

    def start_preflight(self, post, choose_apn=None):
        self.calls.append("preflight")
        self.choose_apn = choose_apn
        self.job = FakeJob(self.calls, "preflight")
        return self.job

    def start_pppd(self, post, info):
        self.calls.append("pppd")

    def stop_pppd(self, kill):
        self.calls.append("kill pppd" if kill else "term pppd")

    def hangup_pppd(self):
        self.calls.append("hup pppd")

    def pppd_pid(self):
        return 4242

    def start_reset(self, skip_at, post):
        self.calls.append(f"reset skip_at={skip_at}")
        self.job = FakeJob(self.calls, "reset")
        return self.job

    def save_ladder(self, ladder):
        self.saved.append(Ladder.from_dict(ladder.to_dict()))

    def load_apn_memory(self):
        return dict(self.apn_memory)

    def save_apn_memory(self, memory):
        self.apn_saved.append(dict(memory))
        self.apn_memory = dict(memory)

    def status_changed(self, status):
        self.statuses.append(status)

    def link_up(self, info):
        self.calls.append("hook up")

    def link_down(self, info):
        self.calls.append("hook down")

    def reset_hook(self):
        self.calls.append("hook reset")

    def after_pppd(self):
        self.calls.append("after pppd")

    def diagnose(self):
        return {}  # a module with nothing to say (tests/test_diagnostics.py has one that says)

    def ring_hook(self, info, urcs):
        self.calls.append("hook ring" + "".join(f" {u}" for u in urcs))

    def start_watch(self, post, info):
        self.calls.append("watch")
        self.watch_post = post
        self.watch = FakeJob(self.calls, "watch")
        return self.watch

    def start_worker(self, name, body, done):
        """Runs the body at once, on the test's thread; its result is posted like a worker's."""
        body()
        if done:
            done(None)
        return FakeJob([], name)


def make(write_profile, ladder=None, **recovery):
    rec = {"retry_wait": 10, "stable_after": 60, "reset_waits": [600, 1800, 3600], **recovery}
    text = "modem:\n  port: /dev/ttyUSB2\nnetwork:\n  apn: internet\nrecovery:\n" + "".join(
        f"  {k}: {v}\n" for k, v in rec.items())
    sysm = FakeSystem()
    sup = Supervisor(profile_mod.load(write_profile(text)), sysm, ladder)
    sup.start()
    return sup, sysm


def run_until_idle(sup, sysm):
    while sup.step(block=False):
        pass


def advance(sup, sysm, seconds):
    sysm.now += seconds
    sup.step(block=False)


UP = LinkInfo("ppp0", "10.0.0.2", "10.0.0.1", ["10.0.0.53"])


def connect(sup, sysm):
    sup.post(Ev.PREFLIGHT_OK)
    run_until_idle(sup, sysm)
    sup.post(Ev.PPPD_UP, LinkInfo(UP.interface, UP.local_ip, UP.remote_ip, list(UP.dns)))
    run_until_idle(sup, sysm)


def fail_dial(sup, sysm, code=8):
    sup.post(Ev.PREFLIGHT_OK)
    run_until_idle(sup, sysm)
    assert sup.state is State.DIALING
    sup.post(Ev.PPPD_EXIT, code)
    run_until_idle(sup, sysm)


def test_happy_path(write_profile):
    sup, sysm = make(write_profile)
    assert sup.state is State.PREFLIGHT and sysm.calls == ["preflight"]
    connect(sup, sysm)
    assert sup.state is State.CONNECTED
    assert sysm.calls == ["preflight", "pppd", "hook up", "watch"]
    st = sysm.statuses[-1]
    assert st["state"] == "connected" and st["interface"] == "ppp0" and st["pppd_pid"] == 4242


def test_three_failed_dials_then_immediate_reset_then_connected(write_profile):
    sup, sysm = make(write_profile)
    for _attempt in range(2):
        fail_dial(sup, sysm)
        assert sup.state is State.WAITING
        advance(sup, sysm, 10)
        assert sup.state is State.PREFLIGHT
    fail_dial(sup, sysm)
    assert sup.state is State.RESETTING
    assert sysm.calls.count("reset skip_at=False") == 1 and "hook reset" in sysm.calls
    sup.post(Ev.RESET_DONE, "at")
    run_until_idle(sup, sysm)
    assert sup.state is State.PREFLIGHT and sup.ladder.resets == 1 and sup.ladder.failures == 0
    connect(sup, sysm)
    assert sup.state is State.CONNECTED
    assert sysm.saved[-1].resets == 1  # persisted before the link is stable
    advance(sup, sysm, 60)
    assert sysm.saved[-1] == Ladder()  # stable: cleared, and persisted


def test_second_reset_waits_ten_minutes_with_dialling_meanwhile(write_profile):
    sup, sysm = make(write_profile, Ladder(failures=0, resets=1, last_reset=0.0))
    times = []
    while sup.state is not State.RESETTING:
        times.append(sysm.now)
        sup.post(Ev.PREFLIGHT_FAILED, Failure("not registered"))
        run_until_idle(sup, sysm)
        if sup.state is State.WAITING:
            sysm.now = sup.timer_at
            sup.step(block=False)
    assert sysm.now == 600  # 10 min after the previous reset, not earlier
    assert len(times) > 3 and all(t <= 600 for t in times)


def test_module_not_answering_skips_at_reset(write_profile):
    sup, sysm = make(write_profile, dial_attempts=1)
    sup.post(Ev.PREFLIGHT_FAILED, Failure("no answer", 10, not_responding=True))
    run_until_idle(sup, sysm)
    assert "reset skip_at=True" in sysm.calls


def test_permanent_sim_failure_stops_with_its_status(write_profile):
    sup, sysm = make(write_profile)
    sup.post(Ev.PREFLIGHT_FAILED, Failure("SIM: PIN rejected", 11, permanent=True))
    run_until_idle(sup, sysm)
    assert sup.state is State.STOPPED and sup.exit_code == 11
    assert not any(c.startswith("reset") for c in sysm.calls)


def test_no_kernel_ppp_is_permanent_not_a_reset(write_profile):
    sup, sysm = make(write_profile)
    fail_dial(sup, sysm, code=4)
    assert sup.state is State.STOPPED and sup.exit_code == 20
    assert "modprobe" in sysm.statuses[-1]["last_error"] or "PPP" in sysm.statuses[-1]["last_error"]


def test_pppd_option_error_is_exit_2(write_profile):
    sup, sysm = make(write_profile)
    fail_dial(sup, sysm, code=2)
    assert sup.state is State.STOPPED and sup.exit_code == 2


def test_early_drop_counts_late_drop_redials_at_once(write_profile):
    sup, sysm = make(write_profile)
    connect(sup, sysm)
    advance(sup, sysm, 5)
    sup.post(Ev.PPPD_EXIT, 16)
    run_until_idle(sup, sysm)
    assert sup.state is State.WAITING and sup.ladder.failures == 1
    advance(sup, sysm, 10)
    connect(sup, sysm)
    advance(sup, sysm, 61)  # stable
    sysm.now += 3600
    sup.post(Ev.PPPD_EXIT, 16)
    run_until_idle(sup, sysm)
    assert sup.state is State.PREFLIGHT and sup.ladder.failures == 0, "redialled at once"
    assert "hook down" in sysm.calls


def test_stop_while_connected_terminates_pppd_and_waits(write_profile):
    sup, sysm = make(write_profile)
    connect(sup, sysm)
    sup.post(Ev.STOP, "signal SIGTERM")
    run_until_idle(sup, sysm)
    assert sup.state is State.STOPPING and sysm.calls[-1] == "term pppd"
    sup.post(Ev.PPPD_EXIT, 5)
    run_until_idle(sup, sysm)
    assert sup.state is State.STOPPED and sup.exit_code == 0
    assert sysm.calls.count("hook down") == 1, "DNS undone and on_down run on a clean stop too"


def test_stop_kills_pppd_that_ignores_sigterm(write_profile):
    sup, sysm = make(write_profile)
    connect(sup, sysm)
    sup.post(Ev.STOP, "signal SIGTERM")
    run_until_idle(sup, sysm)
    advance(sup, sysm, 16)
    assert sysm.calls[-1] == "kill pppd"


def test_stop_during_preflight_cancels_and_waits_for_the_worker(write_profile):
    sup, sysm = make(write_profile)
    sup.post(Ev.STOP, "signal SIGINT")
    run_until_idle(sup, sysm)
    assert sup.state is State.STOPPING and sysm.job.cancelled
    sup.post(Ev.PREFLIGHT_FAILED, Failure("cancelled"))
    run_until_idle(sup, sysm)
    assert sup.state is State.STOPPED and sup.exit_code == 0


def test_stop_while_waiting_is_immediate(write_profile):
    sup, sysm = make(write_profile)
    fail_dial(sup, sysm)
    sup.post(Ev.STOP, "down")
    run_until_idle(sup, sysm)
    assert sup.state is State.STOPPED


def test_every_transition_is_in_the_table():
    states = {s for s, _ in Supervisor.TABLE}
    assert states == set(State) - {State.STOPPED}
    for row in Supervisor.TABLE.values():
        assert callable(getattr(Supervisor, row.handler)), row
        assert row.targets <= set(State), row
    assert all((s, Ev.STOP) in Supervisor.TABLE for s in states - {State.STOPPING}), "a stop is answered anywhere"


def test_probe_says_link_dead_ends_pppd_and_counts(write_profile):
    sup, sysm = make(write_profile)
    connect(sup, sysm)
    advance(sup, sysm, 5)
    sup.post(Ev.LINK_DEAD, "probe: 10.0.0.1 unreachable 3 times in a row")
    run_until_idle(sup, sysm)
    assert sysm.calls[-1] == "hup pppd" and sup.state is State.CONNECTED
    sup.post(Ev.PPPD_EXIT, 16)
    run_until_idle(sup, sysm)
    assert "cancel watch" in sysm.calls
    assert sup.state is State.WAITING and sup.ladder.failures == 1
    assert sup.last_error.startswith("probe: 10.0.0.1 unreachable")


def test_ring_while_connected_runs_the_hook(write_profile):
    sup, sysm = make(write_profile)
    sup.post(Ev.RING)
    run_until_idle(sup, sysm)
    assert "hook ring" not in sysm.calls  # not connected: nothing to report
    connect(sup, sysm)
    sup.post(Ev.RING)
    run_until_idle(sup, sysm)
    assert sysm.calls[-1] == "hook ring" and sup.state is State.CONNECTED


def test_ring_urcs_from_the_at_port_reach_the_hook(write_profile):
    sup, sysm = make(write_profile)
    connect(sup, sysm)
    sup.post(Ev.RING, ['+CMTI: "ME",1'])
    run_until_idle(sup, sysm)
    assert sysm.calls[-1] == 'hook ring +CMTI: "ME",1'


class Report:
    def __init__(self):
        self.registration, self.operator, self.access_technology = "home", "Example", "CAT-M1"
        self.band, self.signal = "LTE BAND 20", {"rssi_dbm": -73}


def test_radio_from_the_preflight_then_the_monitor_is_in_status(write_profile):
    sup, sysm = make(write_profile)
    sup.post(Ev.PREFLIGHT_OK, Report())
    run_until_idle(sup, sysm)
    st = sup.status()
    assert (st["registration"], st["operator"], st["signal"]) == ("home", "Example", {"rssi_dbm": -73})
    assert st["radio_at"] == 0.0
    sup.post(Ev.PPPD_UP, LinkInfo(UP.interface, UP.local_ip, UP.remote_ip, list(UP.dns)))
    run_until_idle(sup, sysm)
    sysm.now = 30.0
    sup.post(Ev.RADIO, {"registration": "roaming", "signal": {"rssi_dbm": -91}})
    run_until_idle(sup, sysm)
    st = sysm.statuses[-1]
    assert (st["registration"], st["operator"], st["signal"], st["radio_at"]) == (
        "roaming", "Example", {"rssi_dbm": -91}, 30.0)
    assert st["state"] == "connected"


# ----- issue 16: attempts, a loop that never waits, the table's targets ------------------------------


def test_defect2_a_stale_probe_event_does_not_hang_up_the_next_link(write_profile):
    """The probe's ping was in flight when the link went down; its LINK_DEAD arrives after the
    redial, on the new, healthy link: it belongs to the old attempt and is dropped."""
    sup, sysm = make(write_profile)
    connect(sup, sysm)
    old_post = sysm.watch_post
    advance(sup, sysm, 61)  # stable: the next drop redials at once
    sup.post(Ev.PPPD_EXIT, 16)
    run_until_idle(sup, sysm)
    assert sup.state is State.PREFLIGHT
    connect(sup, sysm)
    assert sup.state is State.CONNECTED
    old_post(Ev.LINK_DEAD, "probe: 10.0.0.1 unreachable 3 times in a row")
    run_until_idle(sup, sysm)
    assert sysm.calls[-1] != "hup pppd" and "hup pppd" not in sysm.calls
    assert sup.state is State.CONNECTED and sup.dead_reason == ""
    sysm.watch_post(Ev.LINK_DEAD, "probe: 10.0.0.1 unreachable 3 times in a row")  # the current one acts
    run_until_idle(sup, sysm)
    assert sysm.calls[-1] == "hup pppd"


class DeferredSystem(FakeSystem):
    """Workers that have not run yet: what the supervisor does while a DNS tool or the clean-up
    after pppd is still busy (the test runs them when it wants)."""

    def __init__(self):
        super().__init__()
        self.pending: list = []

    def start_worker(self, name, body, done):
        self.pending.append((name, body, done))
        return FakeJob(self.calls, name)

    def finish(self, name):
        for item in list(self.pending):
            if item[0] == name:
                self.pending.remove(item)
                item[1]()
                if item[2]:
                    item[2](None)


def test_defect1_dns_and_on_up_run_off_the_loop_and_a_stop_is_answered_meanwhile(write_profile):
    sysm = DeferredSystem()
    text = "modem:\n  port: /dev/ttyUSB2\nnetwork:\n  apn: internet\n"
    sup = Supervisor(profile_mod.load(write_profile(text)), sysm)
    sup.start()
    connect(sup, sysm)
    assert sup.state is State.CONNECTED
    assert "hook up" not in sysm.calls, "the link-up actions (a DNS tool) ran on the supervisor's thread"
    sup.post(Ev.STOP, "signal SIGTERM")
    run_until_idle(sup, sysm)
    assert sup.state is State.STOPPING and sysm.calls[-1] == "term pppd"
    sup.post(Ev.PPPD_EXIT, 5)
    run_until_idle(sup, sysm)
    assert sup.state is State.STOPPED, "the stop does not wait on the loop for the clean-up"
    sysm.finish("link-up")
    sysm.finish("cleanup")
    assert sysm.calls[-3:] == ["hook up", "hook down", "after pppd"]


def test_defect1_restoring_waits_for_the_cleanup_and_answers_a_stop(write_profile):
    sysm = DeferredSystem()
    text = "modem:\n  port: /dev/ttyUSB2\nnetwork:\n  apn: internet\nrecovery:\n  retry_wait: 10\n"
    sup = Supervisor(profile_mod.load(write_profile(text)), sysm)
    sup.start()
    fail = [Ev.PREFLIGHT_OK, Ev.PPPD_EXIT]
    sup.post(fail[0])
    run_until_idle(sup, sysm)
    sup.post(fail[1], 8)
    run_until_idle(sup, sysm)
    assert sup.state is State.RESTORING and "after pppd" not in sysm.calls
    sysm.finish("cleanup")
    run_until_idle(sup, sysm)
    assert sup.state is State.WAITING and sysm.calls[-1] == "after pppd"
    advance(sup, sysm, 10)
    sup.post(Ev.PREFLIGHT_OK)
    run_until_idle(sup, sysm)
    sup.post(Ev.PPPD_EXIT, 8)
    run_until_idle(sup, sysm)
    assert sup.state is State.RESTORING
    sup.post(Ev.STOP, "signal SIGTERM")
    run_until_idle(sup, sysm)
    assert sup.state is State.STOPPED, "a stop while the port is put back in command mode is answered at once"


def test_switch_asserts_the_rows_targets(write_profile):
    import pytest

    sup, _sysm = make(write_profile)
    sup._allowed = Supervisor.TABLE[(State.PREFLIGHT, Ev.PREFLIGHT_OK)].targets
    with pytest.raises(AssertionError):
        sup.switch(State.CONNECTED, "not a way the table allows")


def test_the_table_is_one_for_the_class():
    a, b = Supervisor.__new__(Supervisor), Supervisor.__new__(Supervisor)
    assert a.TABLE is b.TABLE is Supervisor.TABLE


def test_failure_of_classifies_exceptions():
    from bg_pppd.daemon.supervisor import failure_of
    from bg_pppd.util.cancel import Cancelled
    from bg_pppd.util.errors import BgPppdError, NotResponding, SimProblem

    assert failure_of(Cancelled()) == Failure("cancelled")
    nr = failure_of(NotResponding("no answer"))
    assert nr.not_responding and nr.message == "no answer" and nr.exit_code == NotResponding.exit_code
    sim = failure_of(SimProblem("PIN rejected", permanent=True))
    assert sim.message == "SIM: PIN rejected" and sim.permanent and not failure_of(SimProblem("busy")).permanent
    assert failure_of(BgPppdError("x")).exit_code == BgPppdError.exit_code
    assert failure_of(KeyError("k"), "reset") == Failure("reset error: 'k'")


def test_which_watchers_run(write_profile):
    from bg_pppd.daemon.workers import watchers

    base = "modem:\n  port: /dev/ttyUSB2\nnetwork:\n  apn: internet\n"
    assert watchers(profile_mod.load(write_profile(base)), False) == {"carrier"}
    assert watchers(profile_mod.load(write_profile(base)), True) == {"carrier", "escape monitor"}
    probe = base + "probe:\n  target: 10.0.0.1\n"
    assert watchers(profile_mod.load(write_profile(probe)), False) == {"carrier", "probe"}


def test_docs_draw_the_table():
    """docs/supervisor.md holds the table as a Mermaid diagram; regenerate it with
    ``python -m tests.render_supervisor_doc``."""
    from tests.render_supervisor_doc import DOC, render

    assert DOC.read_text() == render(), "docs/supervisor.md is stale: run python -m tests.render_supervisor_doc"


def test_defect4_a_crash_after_the_cleanup_stops_with_a_clear_last_status(write_profile, caplog):
    """The crash barrier also holds in RESTORING: a handler that raises there stops the daemon
    with exit 1 and the reason in the last status, instead of unwinding run()."""
    import logging

    class NoReset(FakeSystem):
        def start_reset(self, skip_at, post):
            raise RuntimeError("can't start new thread")
    sysm = NoReset()
    text = "modem:\n  port: /dev/ttyUSB2\nnetwork:\n  apn: internet\nrecovery:\n  dial_attempts: 1\n"
    sup = Supervisor(profile_mod.load(write_profile(text)), sysm)
    sup.post(Ev.PREFLIGHT_OK)
    sup.post(Ev.PPPD_EXIT, 8)  # the failed dial: RESTORING, then the reset that cannot start
    with caplog.at_level(logging.INFO, logger="bg_pppd"):
        code = sup.run(tick=lambda: None, tick_every=0.01)
    assert code == 1 and sup.state is State.STOPPED
    assert "internal error in state resetting" in caplog.text or "internal error in state restoring" in caplog.text
    assert "can't start new thread" in sysm.statuses[-1]["last_error"]
    assert sysm.statuses[-1]["state"] == "stopped"


def test_a_port_another_program_holds_is_retried_with_growing_pauses_never_reset(write_profile):
    """pppd or ModemManager on the port: the module is not to blame, and a reset (a power cycle by
    the reset command) would cut that program's link. Retried after retry_wait, 2x, 4x...,
    capped at 10 min; the ladder is left as it was; the first failure of the module's own counts again."""
    from bg_pppd.daemon.supervisor import failure_of
    from bg_pppd.modem.preflight import PortOwned

    sup, sysm = make(write_profile, Ladder(failures=2, resets=1, last_reset=-10_000.0))
    held = failure_of(PortOwned("/dev/ttyUSB2 is in use by pppd (line discipline PPP): bg-pppd does not talk AT on it"))
    assert held.port_held and held.kind == "port_in_use"
    waits = []
    for _attempt in range(8):
        sup.post(Ev.PREFLIGHT_FAILED, held)
        run_until_idle(sup, sysm)
        assert sup.state is State.WAITING, sup.state
        waits.append(round(sup.timer_at - sysm.now, 3))
        sysm.now = sup.timer_at
        sup.step(block=False)
        assert sup.state is State.PREFLIGHT
    assert waits == [10, 20, 40, 80, 160, 320, 600, 600]  # the growing pauses' cap: 10 min
    assert not any(c.startswith("reset") for c in sysm.calls), sysm.calls
    assert sup.ladder == Ladder(failures=2, resets=1, last_reset=-10_000.0, last_error=""), sup.ladder
    st = sysm.statuses[-1]
    assert st["last_error_class"] == "port_in_use" and "in use by pppd" in st["last_error"]
    assert st["consecutive_failures"] == 2 and st["lifetime"]["failed_attempts"] == 8
    sup.post(Ev.PREFLIGHT_FAILED, Failure("not registered"))  # the module's own: the ladder's third
    run_until_idle(sup, sysm)
    assert sup.state is State.RESETTING and sup.ladder.resets == 2
    sup.post(Ev.RESET_DONE, "at")
    run_until_idle(sup, sysm)
    sup.post(Ev.PREFLIGHT_FAILED, held)  # held again after the reset: pauses start from retry_wait
    run_until_idle(sup, sysm)
    assert round(sup.timer_at - sysm.now, 3) == 10
