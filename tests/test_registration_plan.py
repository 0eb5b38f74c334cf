"""The intervention schedule as pure policy, driven by a fake clock in milliseconds.

``drive`` plays the pre-flight's part: it asks the plan, waits to the moment the plan names
(or to when the module registers), and spends the time each intervention takes on a module
(AT+COPS=0 ~0.3 s; AT+CFUN=0 and =1 ~0.32 s each, field notes), on the fake clock only.
"""

from __future__ import annotations

import pytest

from bg_pppd.modem.registration_plan import CFUN, COPS, GIVE_UP, WAIT, Done, Next, RegistrationPlan

COST_MS = {COPS: 300, CFUN: 640}


def drive(plan: RegistrationPlan, registers=lambda done, ms: False, state: str = "CEREG searching"):
    """Run the plan until registered or given up: (outcome, ms, [(action, ms)])."""
    ms, done = 0, []
    while True:
        if registers(done, ms):
            return "registered", ms, [(d.action, round(d.after * 1000)) for d in done]
        step = plan.next(ms / 1000, state, done)
        if step.action == GIVE_UP:
            return "gave up", ms, [(d.action, round(d.after * 1000)) for d in done]
        if step.action == WAIT:
            due = round(step.at * 1000)
            assert due > ms, "a wait always ends later than now"
            # the module may register before the plan's moment: look each ms it could happen
            while ms < due and not registers(done, ms):
                ms += 1
            continue
        done.append(Done(step.action, ms / 1000, step.why))
        ms += COST_MS[step.action]


def test_never_registered_cops_at_half_cfun_at_the_timeout_then_one_more_timeout():
    outcome, ms, done = drive(RegistrationPlan(90, 180))
    assert done == [(COPS, 90_000), (CFUN, 180_000)]
    assert (outcome, ms) == ("gave up", 180_000 + 180_000), "one more registration_timeout from the radio off/on"


def test_the_last_wait_counts_from_when_the_radio_off_on_was_done():
    plan = RegistrationPlan(1, 2)
    done = [Done(COPS, 1.0, ""), Done(CFUN, 2.7, "")]  # the CFUN began late: a slow AT+COPS=0
    assert plan.next(4.699, "searching", done) == Next(WAIT, 4.7)
    assert plan.next(4.7, "searching", done).action == GIVE_UP


def test_registered_before_reselect_after_means_no_intervention():
    outcome, ms, done = drive(RegistrationPlan(90, 180), registers=lambda done, ms: ms >= 12_345)
    assert (outcome, ms, done) == ("registered", 12_345, [])


def test_registered_after_cops_0_no_radio_off():
    outcome, ms, done = drive(RegistrationPlan(30, 180), registers=lambda done, ms: bool(done) and ms >= 32_000)
    assert (outcome, ms, done) == ("registered", 32_000, [(COPS, 30_000)])


def test_registered_after_the_radio_off_on():
    def after_cfun(done, ms):
        return any(d.action == CFUN for d in done) and ms >= 180_640 + 10_000
    outcome, ms, done = drive(RegistrationPlan(90, 180), registers=after_cfun)
    assert (outcome, ms, done) == ("registered", 190_640, [(COPS, 90_000), (CFUN, 180_000)])


def test_each_intervention_once_and_in_order_whatever_the_moment_asked():
    plan = RegistrationPlan(10, 20)
    assert plan.next(0, "searching", []) == Next(WAIT, 10)
    assert plan.next(25, "searching", []).action == CFUN, "late: the radio off/on is due, not COPS=0 first"
    cops = [Done(COPS, 10.0, "")]
    assert plan.next(10.3, "searching", cops) == Next(WAIT, 20)
    assert plan.next(20, "denied", cops) == Next(CFUN, 20, "still denied after 20 s")


def test_why_names_the_state_and_the_wait():
    step = RegistrationPlan(90, 180).next(90, "CEREG denied", [])
    assert step == Next(COPS, 90, "still CEREG denied after 90 s")
    assert Done(COPS, 90.0004, step.why).record() == {"action": "cops=0", "after": 90.0, "why": step.why}


@pytest.mark.parametrize("reselect, timeout", [(0, 10), (10, 10), (11, 10), (-1, 10)])
def test_reselect_after_must_come_before_the_timeout(reselect, timeout):
    with pytest.raises(ValueError):
        RegistrationPlan(reselect, timeout)
