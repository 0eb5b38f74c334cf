"""Data usage (issue 19): counted per calendar day and month, kept across restarts, the cap.

The policy is pure (daemon/data_usage.py) and the supervisor runs it over a fake clock and a
fake calendar: readings of the interface counters are TRAFFIC events, pppd's last line gives
the rest at the link's end, and the record is what FakeSystem.save_usage got.
"""

from __future__ import annotations

import json
import os
import time

import pytest

from bg_pppd.daemon.data_usage import Cap, Meter, Usage, day_of, month_start_after
from bg_pppd.daemon.supervisor import Ev, State, Supervisor
from bg_pppd.daemon.usage_store import UsageStore
from bg_pppd.link.pppd import LinkInfo, parse_line
from bg_pppd.profile import model as profile_mod
from tests.test_supervisor import UP, FakeSystem, advance, run_until_idle


def local(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> float:
    return time.mktime((year, month, day, hour, minute, 0, 0, 0, -1))


# ----- the pure record -----------------------------------------------------------------------------


def test_bytes_count_on_their_day_and_month_and_a_new_month_starts_at_zero():
    u = Usage().add(100, 10, local(2026, 11, 30, 23, 50))
    assert (u.day, u.month, u.day_received, u.month_sent, u.total_received) == ("2026-11-30", "2026-11", 100, 10, 100)
    u = u.add(5, 5, local(2026, 11, 30, 23, 59))
    assert (u.day_received, u.month_received) == (105, 105)
    u = u.add(1, 2, local(2026, 12, 1, 0, 1))  # midnight, and the month with it
    assert (u.day, u.day_received, u.day_sent, u.month_received, u.month_sent) == ("2026-12-01", 1, 2, 1, 2)
    assert (u.total_received, u.total_sent) == (106, 17)
    u = u.add(3, 0, local(2026, 12, 2, 12))  # a new day, the same month
    assert (u.day_received, u.month_received) == (3, 4)


def test_a_calendar_that_goes_back_never_reopens_a_day_already_counted():
    """A board without an RTC boots in the past until NTP sets its clock."""
    u = Usage().add(50, 50, local(2026, 12, 3, 10))
    back = u.add(7, 0, local(1970, 1, 2))
    assert (back.day, back.day_received, back.month_received, back.total_received) == ("2026-12-03", 57, 57, 57)


def test_the_month_ends_where_the_local_calendar_says():
    assert day_of(month_start_after(local(2026, 12, 31, 23, 59))) == "2027-01-01"
    assert day_of(month_start_after(local(2026, 2, 1))) == "2026-03-01"
    assert month_start_after(local(2026, 2, 27)) == local(2026, 3, 1)


def test_the_meter_turns_counters_into_increments_and_survives_a_restarted_counter():
    m = Meter()
    assert m.delta(100, 40) == (100, 40)
    assert m.delta(150, 40) == (50, 0)
    assert m.delta(20, 5) == (20, 5)  # a new interface: its counters start again
    assert (m.received, m.sent) == (20, 5)


def test_the_cap_tells_the_warning_and_the_cap_once_a_month_each():
    cap = Cap(1000, 0.8, stop=True)
    u = Usage().add(500, 0, local(2026, 12, 3))
    assert cap.news(u) == ("", u) and cap.state(u) == "under"
    news, u = cap.news(u.add(300, 0, local(2026, 12, 3)))
    assert news == "warning" and cap.news(u)[0] == ""
    news, u = cap.news(u.add(0, 200, local(2026, 12, 4)))
    assert news == "reached" and cap.stops(u) and cap.news(u)[0] == ""
    u = u.at(local(2027, 1, 1, 0, 0))  # the next month: the count and what was told start again
    assert (u.month_bytes, u.cap_told, cap.stops(u)) == (0, "", False)
    # straight past both: the cap only (the warning is behind it)
    assert cap.news(u.add(2000, 0, local(2027, 1, 2)))[0] == "reached"
    assert not Cap(0).stops(u.add(10**9, 0, local(2027, 1, 2)))


@pytest.mark.parametrize("data", [None, [], "x", {"day": 5, "day_received": -1, "total_sent": 1.5,
                                                  "connected_seconds": float("nan"), "cap_told": "maybe",
                                                  "resets": True}])
def test_a_damaged_record_reads_as_zero_field_by_field(data):
    u = Usage.from_dict(data)
    assert (u.day, u.day_received, u.total_sent, u.connected_seconds, u.cap_told, u.resets) == ("", 0, 0, 0.0, "", 0)


def test_the_store_keeps_the_record_atomically_and_reads_damage_as_zero(tmp_path):
    store = UsageStore(tmp_path / "state", "office")
    assert store.load() == (Usage(), "")
    u = Usage().add(1234, 567, local(2026, 12, 3)).count(connections=2, resets=1, connected_seconds=61.5)
    store.save(u)
    path = tmp_path / "state" / "office.usage.json"
    assert path.stat().st_mode & 0o777 == 0o644
    assert store.load() == (u, "")
    assert [p.name for p in path.parent.iterdir()] == ["office.usage.json"]  # no temporary left behind
    path.write_text("{")
    back, note = store.load()
    assert back == Usage() and "damaged" in note
    path.write_text(json.dumps({"version": 1, "usage": {"total_received": "lots", "total_sent": 9}}))
    assert store.load()[0] == Usage(total_sent=9)


def test_pppd_s_last_line_gives_the_link_s_byte_counts_once_named():
    info = LinkInfo(interface="ppp0")
    named = [False]
    parse_line(info, "Sent 999 bytes, received 999 bytes.", lambda: named[0])
    assert info.sent_bytes is None  # before pppd named its interface: the connect script's echo
    named[0] = True
    parse_line(info, "Sent 4211 bytes, received 9120 bytes.", lambda: named[0])
    parse_line(info, "Sent 1 bytes, received 2 bytes.", lambda: named[0])  # the first one only
    assert (info.sent_bytes, info.received_bytes) == (4211, 9120)


# ----- the supervisor ------------------------------------------------------------------------------


def make(write_profile, sysm: FakeSystem, network: str = "", hooks: str = "") -> Supervisor:
    text = ("modem:\n  port: /dev/ttyUSB2\nnetwork:\n  apn: internet\n" + network +
            "recovery:\n  retry_wait: 10\n  stable_after: 60\n" + hooks)
    sup = Supervisor(profile_mod.load(write_profile(text)), sysm)
    sup.start()
    return sup


def up(sup: Supervisor, sysm: FakeSystem) -> None:
    sup.post(Ev.PREFLIGHT_OK)
    run_until_idle(sup, sysm)
    sup.post(Ev.PPPD_UP, LinkInfo(UP.interface, UP.local_ip, UP.remote_ip, list(UP.dns)))
    run_until_idle(sup, sysm)
    assert sup.state is State.CONNECTED


def reading(sup: Supervisor, sysm: FakeSystem, seconds: float, received: int, sent: int) -> None:
    sysm.now += seconds
    sup.post(Ev.TRAFFIC, (received, sent))
    run_until_idle(sup, sysm)


def pppd_ends(sup: Supervisor, sysm: FakeSystem, received: int | None, sent: int | None, code: int = 16) -> None:
    if received is not None:
        sup.info.received_bytes, sup.info.sent_bytes = received, sent
    sup.post(Ev.PPPD_EXIT, code)
    run_until_idle(sup, sysm)


def test_readings_and_pppd_s_last_line_are_counted_saved_and_in_status(write_profile):
    sysm = FakeSystem()
    sysm.wall_start = local(2026, 12, 3, 12)
    sup = make(write_profile, sysm)
    up(sup, sysm)
    reading(sup, sysm, 60, 1000, 300)
    reading(sup, sysm, 60, 1500, 300)
    status = sysm.statuses[-1]
    assert status["bytes_today"] == status["bytes_month"] == {"received": 1500, "sent": 300}
    assert status["data_usage"] == {"day": "2026-12-03", "month": "2026-12", "total_received": 1500,
                                    "total_sent": 300, "connection_received": 1500, "connection_sent": 300}
    assert status["lifetime"]["connections"] == 1 and status["lifetime"]["connected_seconds"] == 120
    saves = len(sysm.usage_saved)
    reading(sup, sysm, 60, 1500, 300)  # nothing passed: nothing written to the flash
    assert len(sysm.usage_saved) == saves
    pppd_ends(sup, sysm, 1700, 350)  # "Sent 350 bytes, received 1700 bytes."
    saved = sysm.usage_saved[-1]
    assert (saved.total_received, saved.total_sent, saved.link_drops, saved.connected_seconds) == (1700, 350, 1, 180)
    assert sysm.statuses[-1]["last_error_class"] == "link_down"


def test_the_usage_survives_a_restart_and_a_month_boundary(write_profile):
    sysm = FakeSystem()
    sysm.wall_start = local(2026, 12, 31, 23, 55)
    sup = make(write_profile, sysm)
    up(sup, sysm)
    reading(sup, sysm, 60, 4000, 1000)
    sup.post(Ev.STOP, "signal SIGTERM")
    run_until_idle(sup, sysm)
    pppd_ends(sup, sysm, 4100, 1000, code=5)
    assert sup.state is State.STOPPED
    on_disk = sysm.usage_on_disk
    assert (on_disk.month, on_disk.month_received, on_disk.connections) == ("2026-12", 4100, 1)
    # the next run, ten minutes later: the new year's month and day start at 0, the totals go on
    again = FakeSystem()
    again.usage_on_disk, again.wall_start = on_disk, local(2027, 1, 1, 0, 6)
    sup2 = make(write_profile, again)
    assert again.statuses[-1]["data_usage"]["total_received"] == 4100
    up(sup2, again)
    reading(sup2, again, 60, 200, 20)
    last = again.statuses[-1]
    assert (last["data_usage"]["month"], last["bytes_month"]["received"], last["bytes_today"]["received"],
            last["data_usage"]["total_received"]) == ("2027-01", 200, 200, 4300)
    assert again.statuses[-1]["lifetime"]["connections"] == 2


def test_failures_and_resets_are_lifetime_counters(write_profile):
    sysm = FakeSystem()
    sup = make(write_profile, sysm)
    for _ in range(3):
        sup.post(Ev.PREFLIGHT_FAILED, __import__("bg_pppd.daemon.supervisor", fromlist=["Failure"]).Failure(
            "not registered", 13))
        run_until_idle(sup, sysm)
        if sup.state is State.WAITING:
            advance(sup, sysm, 10)
    assert sup.state is State.RESETTING
    life = sysm.statuses[-1]["lifetime"]
    assert (life["failed_attempts"], life["resets"]) == (3, 1)
    assert sysm.usage_on_disk.resets == 1  # saved before the reset runs
    assert sysm.statuses[-1]["last_error_class"] == "not_registered"


def test_the_cap_warns_once_then_stops_dialling_until_the_month_ends(write_profile):
    sysm = FakeSystem()
    sysm.wall_start = local(2026, 12, 30, 12)
    net = "  data_cap: 10000\n  data_cap_warning: 50\n  data_cap_action: stop\n"
    sup = make(write_profile, sysm, net, "hooks:\n  on_cap: /bin/true\n")
    up(sup, sysm)
    reading(sup, sysm, 60, 5000, 100)
    assert sysm.calls.count("hook cap warning") == 1
    reading(sup, sysm, 60, 6000, 100)
    assert sysm.calls.count("hook cap warning") == 1 and sup.state is State.CONNECTED
    reading(sup, sysm, 60, 9000, 1000)
    assert "hook cap reached" in sysm.calls and sysm.calls[-1] == "term pppd"  # SIGTERM: LCP Terminate
    pppd_ends(sup, sysm, 9100, 1000, code=5)
    assert sup.state is State.WAITING and sysm.statuses[-1]["last_error_class"] == "data_cap"
    assert sysm.usage_on_disk.link_drops == 0 and sup.ladder.failures == 0  # not a failure
    assert sysm.statuses[-1]["data_usage"]["cap_state"] == "reached"
    calls = len(sysm.calls)
    advance(sup, sysm, 3600)  # an hour on: the same month, no dial
    assert sup.state is State.WAITING and "preflight" not in sysm.calls[calls:]
    # a restart in the same month does not dial either
    again = FakeSystem()
    again.usage_on_disk, again.wall_start = sysm.usage_on_disk, sysm.wall()
    sup2 = make(write_profile, again, net)
    assert sup2.state is State.WAITING and "preflight" not in again.calls
    # the month ends: the next look dials
    sysm.now = local(2027, 1, 1, 0, 0) - sysm.wall_start + 1
    while sup.state is State.WAITING and sysm.now < 10**7:
        advance(sup, sysm, 3600)
        if sup.state is not State.WAITING:
            break
    assert sup.state is State.PREFLIGHT and sysm.calls[-1] == "preflight"
    assert sysm.statuses[-1]["data_usage"]["month"] == "2027-01"


def test_the_cap_with_warn_only_keeps_the_link_up(write_profile):
    sysm = FakeSystem()
    sup = make(write_profile, sysm, "  data_cap: 1000\n")
    up(sup, sysm)
    reading(sup, sysm, 60, 2000, 0)
    assert "hook cap reached" in sysm.calls and "term pppd" not in sysm.calls
    assert sup.state is State.CONNECTED


def test_a_profile_with_a_cap_and_metrics_is_checked(write_profile):
    base = "modem:\n  port: /dev/ttyUSB2\nnetwork:\n  apn: internet\n"
    p = profile_mod.load(write_profile(base + "  data_cap: 5000000\n  data_cap_action: stop\n"
                                       "metrics:\n  textfile: /var/lib/prometheus/node-exporter/bg-pppd-a.prom\n"
                                       "  interval: 30\n"))
    assert (p.network.data_cap, p.network.data_cap_warning, p.metrics.interval) == (5000000, 80, 30)
    for extra, where in (("metrics:\n  textfile: /tmp/x.txt\n", "metrics.textfile"),
                         ("metrics:\n  interval: 0\n", "metrics.interval"),
                         ("  data_cap: -1\n", "network.data_cap"),
                         ("  data_cap_action: block\n", "network.data_cap_action")):
        with pytest.raises(profile_mod.ProfileError) as err:
            profile_mod.load(write_profile(base + extra))
        assert where in str(err.value), str(err.value)


def test_the_store_is_written_where_the_daemon_keeps_its_state(tmp_path):
    """RealSystem's load/save go through the store in the state dir (the daemon's restart test)."""
    from bg_pppd.daemon.effects import RealSystem

    system = RealSystem.__new__(RealSystem)
    system.state_dir, system.p = str(tmp_path / "state"), profile_mod.load(_profile(tmp_path))
    system.save_usage(Usage(total_received=5))
    assert system.load_usage() == Usage(total_received=5)
    assert os.path.exists(tmp_path / "state" / "p.usage.json")


def _profile(tmp_path):
    path = tmp_path / "p.yaml"
    path.write_text("modem:\n  port: /dev/ttyUSB2\nnetwork:\n  apn: internet\n")
    path.chmod(0o600)
    return path


def test_on_cap_runs_with_the_month_s_figures(tmp_path):
    import dataclasses
    import sys

    from tests.test_review_daemon import real_system

    prof, rs = real_system(tmp_path, str(tmp_path / "tty"))
    out = tmp_path / "env"
    script = ("import os, sys; open(sys.argv[1], 'w').write(' '.join(f'{k}={os.environ[k]}' for k in "
              "('BG_PPPD_EVENT', 'BG_PPPD_CAP', 'BG_PPPD_MONTH', 'BG_PPPD_MONTH_BYTES', 'BG_PPPD_DATA_CAP')))")
    rs.p = dataclasses.replace(prof, hooks=dataclasses.replace(prof.hooks, on_cap=(sys.executable, "-c", script,
                                                                                   str(out))),
                               network=dataclasses.replace(prof.network, data_cap=5000))
    assert rs.cap_hook("warning", Usage().add(3000, 1000, local(2026, 12, 3))).join(10)
    assert out.read_text() == ("BG_PPPD_EVENT=cap BG_PPPD_CAP=warning BG_PPPD_MONTH=2026-12 "
                               "BG_PPPD_MONTH_BYTES=4000 BG_PPPD_DATA_CAP=5000")
