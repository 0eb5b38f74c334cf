"""The supervisor's state machine against a recording fake System and a fake clock.

No threads, no processes: the test posts the events pppd and the workers
would post, and reads back what the supervisor did.
"""

from __future__ import annotations

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


class FakeSystem:
    def __init__(self):
        self.now = 0.0
        self.calls: list[str] = []
        self.saved: list[Ladder] = []
        self.statuses: list[dict] = []
        self.job = None

    def clock(self):
        return self.now

    def start_preflight(self, post):
        self.calls.append("preflight")
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

    def ring_hook(self, info, urcs):
        self.calls.append("hook ring" + "".join(f" {u}" for u in urcs))

    def start_watch(self, post, info):
        self.calls.append("watch")
        self.watch = FakeJob(self.calls, "watch")
        return self.watch


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
    handlers = Supervisor.table(Supervisor.__new__(Supervisor))
    states = {s for s, _ in handlers}
    assert states == set(State) - {State.STOPPED}


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
