"""The metrics file (daemon/metrics_file.py): Prometheus' text format, by its client's own parser.

The daemon's status record is rendered; the parser reads it back; names follow Prometheus'
conventions (prefix, base units, _total on counters); values are the status record's. The
file on a real link, against ``status --json``: tests/test_fleet_uml.py.
"""

from __future__ import annotations

import logging
import re

from prometheus_client.parser import text_string_to_metric_families

from bg_pppd.daemon import metrics_file
from bg_pppd.daemon.status import STATES, Status
from bg_pppd.daemon.supervisor import Ev
from tests.test_data_usage import local, make, reading, up
from tests.test_supervisor import FakeSystem

NAME = re.compile(r"bg_pppd_[a-z][a-z0-9_]*")
UNITS = ("_seconds", "_bytes", "_dbm", "_db", "_total", "_info", "_timestamp_seconds")


def families(text: str) -> dict:
    return {f.name: f for f in text_string_to_metric_families(text)}


def connected_status(write_profile) -> tuple[Status, FakeSystem]:
    sysm = FakeSystem()
    sysm.wall_start = local(2026, 12, 3, 12)
    sup = make(write_profile, sysm, "  data_cap: 100000\n")
    up(sup, sysm)
    sup.post(Ev.RADIO, {"registration": "roaming", "operator": 'Op "A"\\B', "access_technology": "CAT-M1",
                        "band": "LTE BAND 20", "signal": {"rssi_dbm": -71, "rsrp_dbm": -93, "sinr_db": 12.0,
                                                          "rsrq_db": -10, "sysmode": "eMTC"}})
    reading(sup, sysm, 90, 5000, 1200)
    return sysm.statuses[-1], sysm


def test_the_file_parses_and_its_names_follow_the_conventions(write_profile):
    status, sysm = connected_status(write_profile)
    text = metrics_file.render(status, sysm.now, sysm.wall())
    found = families(text)
    assert len(found) >= 20
    for name, family in found.items():
        assert NAME.fullmatch(name), name
        assert family.documentation, f"{name} has no HELP"
        if family.type == "counter":  # the parser gives the family without _total, samples with it
            assert all(s.name == name + "_total" for s in family.samples), name
        else:
            assert family.type == "gauge" and not name.endswith("_total"), name
        assert any(name.endswith(u) or (family.type == "counter") for u in UNITS) or name in (
            "bg_pppd_up", "bg_pppd_state", "bg_pppd_registered", "bg_pppd_consecutive_failures",
            "bg_pppd_ladder_step"), f"{name}: no unit"
        for s in family.samples:
            assert s.labels["profile"] == "test"
    assert text.endswith("\n") and "\n\n" not in text


def test_the_values_are_the_status_record_s(write_profile):
    status, sysm = connected_status(write_profile)
    found = families(metrics_file.render(status, sysm.now, sysm.wall()))

    def one(name, **labels):
        family = found[name]
        matches = [s.value for s in family.samples if {k: v for k, v in s.labels.items() if k != "profile"} == labels]
        assert len(matches) == 1, (name, labels, family.samples)
        return matches[0]
    assert one("bg_pppd_up") == 1
    assert [one("bg_pppd_state", state=s) for s in STATES] == [int(s == "connected") for s in STATES]
    assert one("bg_pppd_receive_bytes", ) == 5000 and one("bg_pppd_transmit_bytes") == 1200
    assert one("bg_pppd_month_receive_bytes") == 5000 and one("bg_pppd_data_cap_bytes") == 100000
    assert one("bg_pppd_connections") == 1 and one("bg_pppd_connected_seconds") == 90
    assert one("bg_pppd_rsrp_dbm") == -93 and one("bg_pppd_sinr_db") == 12.0 and one("bg_pppd_rssi_dbm") == -71
    assert one("bg_pppd_registered") == 1
    # a label value with a quote and a backslash survives the round trip
    assert one("bg_pppd_radio_info", registration="roaming", operator='Op "A"\\B', access_technology="CAT-M1",
               band="LTE BAND 20") == 1
    assert one("bg_pppd_state_since_timestamp_seconds") == sysm.wall() - (sysm.now - status.since)
    assert "bg_pppd_last_error_info" not in found and "bg_pppd_next_reset_timestamp_seconds" not in found


def test_a_failure_shows_its_class_and_a_reset_the_next_one(write_profile):
    from bg_pppd.daemon.supervisor import Failure, State
    from tests.test_supervisor import advance

    sysm = FakeSystem()
    sup = make(write_profile, sysm)
    for _ in range(3):  # dial_attempts: then the first reset
        sup.post(Ev.PREFLIGHT_FAILED, Failure("SIM: not inserted", 11))
        while sup.step(block=False):
            pass
        if sup.state is State.WAITING:
            advance(sup, sysm, 10)
    found = families(metrics_file.render(sysm.statuses[-1], sysm.now, sysm.wall()))
    assert [s.labels["class"] for s in found["bg_pppd_last_error_info"].samples] == ["sim"]
    assert found["bg_pppd_failed_attempts"].samples[0].value == 3
    assert found["bg_pppd_resets"].samples[0].value == 1 and found["bg_pppd_ladder_step"].samples[0].value == 1
    assert found["bg_pppd_state"].samples[STATES.index("resetting")].value == 1
    sup.post(Ev.RESET_DONE, "ok")
    sup.post(Ev.PREFLIGHT_FAILED, Failure("SIM: not inserted", 11))  # the attempt after the reset fails too
    while sup.step(block=False):
        pass
    status = sysm.statuses[-1]
    found = families(metrics_file.render(status, sysm.now, sysm.wall()))
    # the next reset waits the ladder's first step (600 s) after this one
    assert found["bg_pppd_next_reset_timestamp_seconds"].samples[0].value == sysm.wall() - (
        sysm.now - status.next_reset_not_before)
    assert status.next_reset_not_before == sysm.now + 600


def test_the_daemon_writes_it_at_each_status_change_and_says_once_when_it_cannot(tmp_path, write_profile, caplog):
    from tests.test_review_daemon import real_system

    prof, rs = real_system(tmp_path, str(tmp_path / "tty"))
    target = tmp_path / "prom" / "bg-pppd-prof.prom"
    rs.p = type(prof)(**{**prof.__dict__, "metrics": type(prof.metrics)(textfile=str(target))})
    status, _ = connected_status(write_profile)
    with caplog.at_level(logging.ERROR, logger="bg_pppd"):
        rs.status_changed(status)
        rs.status_changed(status)
    assert [r.getMessage() for r in caplog.records].count(
        f"prof: cannot write the metrics file {target}: No such file or directory") == 1
    target.parent.mkdir()
    rs.status_changed(status)
    assert target.stat().st_mode & 0o777 == 0o644
    assert families(target.read_text())["bg_pppd_up"].samples[0].value == 1
    assert sorted(p.name for p in target.parent.iterdir()) == ["bg-pppd-prof.prom"]  # no temporary left
