"""The status record (daemon/status.py) and the exit-status table (util/errors.py).

status.json is an interface (README, `status --json`): its keys and their shapes are pinned
here, and the tolerant reading of files of any shape; the exit statuses that no restart
mends are pinned against the systemd unit that lists them.
"""

from __future__ import annotations

import configparser
import json
import math
import re

import pytest

from bg_pppd.cli import main as cli
from bg_pppd.daemon.status import FIELDS, STATES, Status, read_status, write_status
from bg_pppd.daemon.supervisor import State
from bg_pppd.util import errors
from tests.conftest import ROOT, run_cli

# the keys status.json has had since the radio joined it; README and scripts use them
DOCUMENTED = ("profile", "state", "since", "pid", "pppd_pid", "interface", "local_ip", "remote_ip", "dns",
              "consecutive_failures", "resets", "next_reset_not_before", "last_error",
              "registration", "operator", "access_technology", "band", "signal", "radio_at",
              "firmware", "apn", "interventions", "last_diagnostics",  # these four: issue 17
              "bytes_today", "bytes_month", "data_usage", "lifetime", "last_error_class")  # issue 19


def test_the_record_has_the_documented_keys_in_order():
    assert FIELDS == DOCUMENTED
    assert tuple(Status().to_json()) == DOCUMENTED
    assert tuple(Status.from_json({})) == DOCUMENTED


def test_interventions_read_back_as_records_and_bad_entries_are_dropped():
    data = {"interventions": [{"action": "cops=0", "at": 90.0}, "junk", {"action": "cfun 0/1", "x": [1]}],
            "last_diagnostics": {"AT+CEER": "+CEER: \"No cause information available\""}}
    back = Status.from_json(data)
    assert back.interventions == [{"action": "cops=0", "at": 90.0}, {"action": "cfun 0/1"}]
    assert back.last_diagnostics == data["last_diagnostics"]
    assert Status.from_json({"interventions": "cops"}).interventions == []


def test_the_states_are_the_supervisors():
    assert STATES == tuple(s.value for s in State)


def test_read_by_key_like_its_json_object():
    st = Status(profile="office", state="connected", local_ip="10.64.0.2", dns=["10.0.0.53"])
    assert st["state"] == "connected" and st["dns"] == ["10.0.0.53"] and "radio_at" in st
    assert {**st, "since": 5.0}["since"] == 5.0 and len(st) == len(DOCUMENTED)
    with pytest.raises(KeyError):
        st["nonsense"]
    assert Status.of({**st, "since": 5.0, "extra": 1}) == Status.of(st, since=5.0)


def test_times_on_the_daemons_clock_become_local_iso_time():
    now = 1000.0
    st = Status(state="waiting", since=now - 60, next_reset_not_before=now + 300, radio_at=None)
    out = st.to_json(now)
    for key in ("since", "next_reset_not_before"):
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d{4}", out[key]), out[key]
    assert out["radio_at"] is None
    # a time no calendar can show is dropped, never the whole status
    bad = Status(since=math.nan, next_reset_not_before=-1e300, radio_at=math.inf).to_json(now)
    assert (bad["since"], bad["next_reset_not_before"], bad["radio_at"]) == (None, None, None)
    json.dumps(bad, allow_nan=False)


def test_written_then_read_back(tmp_path):
    path = tmp_path / "status.json"
    st = Status(profile="office", state="connected", since=900.0, pid=123, pppd_pid=456, interface="ppp0",
                local_ip="10.64.0.2", remote_ip="10.64.64.64", dns=["10.0.0.53", "10.0.0.54"],
                consecutive_failures=0, resets=2, registration="roaming", operator="Example",
                access_technology="CAT-M1", band="LTE BAND 20", signal={"rssi_dbm": -73, "sinr_db": 9.4},
                radio_at=950.0)
    write_status(path, st, now=1000.0)
    assert path.stat().st_mode & 0o777 == 0o644  # status needs no root to read the file
    back = read_status(path)
    assert back is not None
    written = json.loads(path.read_text())
    assert back.to_json() == written  # the times, ISO in the file, pass through as they are
    assert {k: v for k, v in written.items() if k not in ("since", "radio_at")} == {
        k: v for k, v in st.to_json(1000.0).items() if k not in ("since", "radio_at")}


@pytest.mark.parametrize("data, expect", [
    ([1, 2], {}),
    ("hello", {}),
    ({"dns": "8.8.8.8", "signal": [1, 2]}, {"dns": [], "signal": {}}),
    ({"dns": ["10.0.0.53", 5, None], "signal": {"rssi_dbm": -70, "x": math.nan, "y": [1], "z": True}},
     {"dns": ["10.0.0.53"], "signal": {"rssi_dbm": -70, "z": True}}),
    ({"resets": "3", "consecutive_failures": -1, "pid": True, "pppd_pid": 4.0},
     {"resets": None, "consecutive_failures": None, "pid": None, "pppd_pid": None}),
    ({"last_error": {"a": 1}, "since": 12, "state": 7}, {"last_error": None, "since": None, "state": "preflight"}),
    ({"state": "bogus"}, {"state": "preflight"}),
    ({"state": "stopped", "future_key": 1}, {"state": "stopped"}),
    ({"dns": [str(i) for i in range(40)]}, {"dns": [str(i) for i in range(16)]}),
])
def test_a_file_of_any_shape_is_read_for_what_is_of_the_daemons_shape(data, expect):
    out = Status.from_json(data).to_json()
    base = {key: None for key in DOCUMENTED} | {"state": "preflight", "dns": [], "signal": {}, "interventions": [],
                                                "last_diagnostics": {}, "bytes_today": {}, "bytes_month": {},
                                                "data_usage": {}, "lifetime": {}}
    assert out == base | expect
    json.dumps(out, allow_nan=False)


@pytest.mark.parametrize("content", ["", "{", "[1]", "null", "\xff"])
def test_an_unreadable_file_reads_as_none(tmp_path, content):
    path = tmp_path / "status.json"
    path.write_text(content, errors="surrogateescape")
    assert read_status(path) is None
    assert read_status(tmp_path / "missing.json") is None


@pytest.mark.parametrize("st, line", [
    (Status(state="connected", local_ip="10.64.0.2", last_error="an old one"), "connected 10.64.0.2"),
    (Status(state="waiting", last_error="the connect script (chat) failed"),
     "waiting (the connect script (chat) failed)"),
    (Status(state="preflight"), "preflight"),
])
def test_the_headline_systemd_shows(st, line):
    assert st.headline() == line


# ----- exit statuses -----------------------------------------------------------------------------

def _unit_no_restart() -> list[int]:
    unit = configparser.ConfigParser(strict=False, interpolation=None)
    unit.optionxform = str  # type: ignore[assignment]
    unit.read(ROOT / "systemd" / "bg-pppd@.service")
    return sorted(int(code) for code in unit["Service"]["RestartPreventExitStatus"].split())


def test_the_unit_prevents_a_restart_for_exactly_the_tables_statuses():
    assert _unit_no_restart() == sorted(errors.NO_RESTART)
    assert {errors.EXIT_PROFILE, errors.EXIT_SIM, errors.EXIT_PPPD_UNUSABLE} == set(errors.NO_RESTART)
    readme = (ROOT / "README.md").read_text()
    assert f"RestartPreventExitStatus={' '.join(map(str, sorted(errors.NO_RESTART)))}" in readme


def test_every_exit_status_is_in_the_table_once():
    codes = [s.code for s in errors.EXIT_STATUSES]
    assert len(codes) == len(set(codes))
    named = {value for name, value in vars(errors).items() if name.startswith("EXIT_") and isinstance(value, int)}
    assert named == set(codes)
    assert all(s.meaning for s in errors.EXIT_STATUSES)


def test_ctrl_c_exits_with_the_tables_status(monkeypatch, tmp_path):
    def interrupted(_args):
        raise KeyboardInterrupt
    monkeypatch.setattr(cli, "_cmd_validate", interrupted)
    assert cli.main(["validate", str(tmp_path / "p.yaml")]) == errors.EXIT_INTERRUPTED == 130


def test_status_shows_interventions_and_diagnostics_on_one_line_each(tmp_path):
    from tests.test_review_files import hold_lock

    run = tmp_path / "run"
    (run / "x").mkdir(parents=True, mode=0o700)
    holder = hold_lock(run / "x" / "lock")
    try:
        data = {"pid": holder.pid, "state": "connected", "firmware": "BG95M3LAR02A03_01.204.01.204",
                "interventions": [{"action": "cops=0", "after": 30.0}, {"action": "cfun 0/1", "after": 60.0}],
                "last_diagnostics": {"AT+CEER": "+CEER: \"No cause information available\""}}
        (run / "x" / "status.json").write_text(json.dumps(data))
        human = run_cli("--run-dir", str(run), "status", "x")
        assert human.returncode == 0, human.stderr
        lines = {line.split()[0]: line.split(None, 1)[1] for line in human.stdout.splitlines() if " " in line.strip()}
        assert lines["interventions"] == "action=cops=0 after=30.0; action=cfun 0/1 after=60.0"
        assert lines["firmware"] == "BG95M3LAR02A03_01.204.01.204"
        assert lines["last_diagnostics"].startswith("AT+CEER=+CEER:")
        out = json.loads(run_cli("--run-dir", str(run), "status", "--json", "x").stdout)
        assert out["interventions"] == data["interventions"] and out["last_diagnostics"] == data["last_diagnostics"]
    finally:
        holder.kill()
        holder.wait(5)
