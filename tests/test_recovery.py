"""The reset ladder with a fake clock in milliseconds, at the vendor's real durations."""

from __future__ import annotations

from bg_pppd.daemon.recovery import Ladder, Policy

MIN = 60_000  # ms
S = 1000


def policy() -> Policy:
    # the vendor's durations, in milliseconds: 10 s retry, 10/30/60 min between resets
    return Policy(dial_attempts=3, retry_wait=10 * S, reset_waits=(10 * MIN, 30 * MIN, 60 * MIN),
                  stable_after=60 * S, max_retry_pause=600 * S)


def fail_until_reset(p: Policy, ladder: Ladder, now: float) -> tuple[float, list[float]]:
    """Fail every attempt when it is due; return the reset time and the attempt times."""
    attempts = []
    while True:
        attempts.append(now)
        d = p.failed(ladder, now, "NO CARRIER")
        if d.action == "reset":
            return d.at, attempts
        assert d.at > now
        now = d.at


def test_three_failures_then_an_immediate_first_reset():
    p, ladder = policy(), Ladder()
    assert p.failed(ladder, 0).action == "dial"
    assert p.failed(ladder, 10 * S).at == 20 * S
    d = p.failed(ladder, 20 * S)
    assert (d.action, d.at) == ("reset", 20 * S)
    assert "first reset" in d.reason


def test_the_whole_ladder_10_30_60_60_minutes():
    p, ladder = policy(), Ladder()
    now = 0.0
    reset_times = []
    for _ in range(6):
        now, _attempts = fail_until_reset(p, ladder, now)
        reset_times.append(now)
        p.reset_started(ladder, now)
        p.reset_done(ladder, now)
    gaps = [(b - a) / MIN for a, b in zip(reset_times, reset_times[1:])]
    # each gap is the wait since the previous reset (3 quick attempts fit inside it)
    assert gaps == [10, 30, 60, 60, 60]
    assert ladder.resets == 6


def test_dialling_goes_on_with_growing_spacing_while_a_reset_waits():
    p, ladder = policy(), Ladder()
    now, _ = fail_until_reset(p, ladder, 0)
    p.reset_started(ladder, now)
    p.reset_done(ladder, now)
    start = now
    reset_at, attempts = fail_until_reset(p, ladder, now)
    spacing = [b - a for a, b in zip(attempts, attempts[1:])]
    assert spacing[:2] == [10 * S, 10 * S]                   # the 3 attempts after a reset
    assert spacing[2:6] == [10 * S, 20 * S, 40 * S, 80 * S]  # then growing
    assert max(spacing) <= 600 * S
    assert reset_at == start + 10 * MIN                      # never earlier than the ladder says
    assert all(a <= start + 10 * MIN for a in attempts)  # the last try is at the reset time


def test_stable_link_clears_everything():
    p, ladder = policy(), Ladder()
    now, _ = fail_until_reset(p, ladder, 0)
    p.reset_started(ladder, now)
    p.reset_done(ladder, now)
    p.failed(ladder, now + 1)
    d = p.link_down(ladder, now + 5 * MIN, up_since=now + 1 * MIN)
    assert d.action == "dial" and d.at == now + 5 * MIN
    assert ladder == Ladder()
    assert p.failed(ladder, now + 6 * MIN).action == "dial"  # a fresh ladder: 3 attempts again


def test_early_drop_counts_as_a_failed_attempt():
    p, ladder = policy(), Ladder()
    p.failed(ladder, 0)
    p.failed(ladder, 10 * S)
    d = p.link_down(ladder, 50 * S, up_since=20 * S)  # up 30 s < 60 s
    assert d.action == "reset" and ladder.failures == 3


def test_a_success_that_is_not_yet_stable_does_not_clear():
    p, ladder = policy(), Ladder()
    for t in (0, 10 * S):
        p.failed(ladder, t)
    assert ladder.failures == 2  # nothing clears until stable_after


def test_ladder_round_trips_and_rejects_garbage():
    ladder = Ladder(2, 3, 1234.5, "NO CARRIER")
    assert Ladder.from_dict(ladder.to_dict()) == ladder
    for bad in ({"failures": -1}, {"resets": "x"}, {"last_reset": "yesterday"}):
        try:
            Ladder.from_dict(bad)
        except ValueError:
            continue
        raise AssertionError(bad)


def test_restart_in_the_middle_continues_from_persisted_state():
    p, ladder = policy(), Ladder()
    now, _ = fail_until_reset(p, ladder, 0)
    p.reset_started(ladder, now)
    p.reset_done(ladder, now)
    restored = Ladder.from_dict(ladder.to_dict())  # the daemon restarted
    reset_at, _ = fail_until_reset(p, restored, now + 1 * S)
    assert reset_at == now + 10 * MIN
