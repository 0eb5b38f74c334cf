"""Diagnostics on failure (issue 17, item 8): what the module says when registration or a dial fails.

``AT+QENG="servingcell"``, ``AT+CEER``, ``AT+QCSQ``, ``AT+QNWINFO`` (those the module answers), in
the log (one line), in ``check --json``'s ``diagnostics`` and in ``status --json``'s
``last_diagnostics``. Against the pty emulator, and as processes (``check``, ``up``).
"""

from __future__ import annotations

import json

from bg_pppd.daemon.supervisor import Ev, State, Supervisor
from bg_pppd.link.pppd import LinkInfo
from bg_pppd.modem import diagnostics
from bg_pppd.modem.at_channel import AtTimeout, Response
from bg_pppd.profile import model as profile_mod
from tests.modemport import Port
from tests.test_supervisor import UP, FakeJob, FakeSystem, advance, run_until_idle
from tests.test_up_process import slow_retry, spawn_up, wait_status

SEARCHING = {
    'AT+QENG="servingcell"': '+QENG: "servingcell","SEARCH"',
    "AT+CEER": "+CEER: No cause information available",
    "AT+QCSQ": '+QCSQ: "NOSERVICE"',
    "AT+QNWINFO": "+QNWINFO: No Service",
}


def test_capture_keeps_what_the_module_answered_and_stops_when_it_does_not():
    asked: list[tuple[str, str, float]] = []
    answers = {'AT+QENG="servingcell"': Response("", "ERROR"),
               "AT+CEER": Response("", "OK", ["+CEER: Regular deactivation"]),
               "AT+QCSQ": Response("", "OK", ['+QCSQ: "eMTC",-71,-93,160,-10'])}

    def command(cmd: str, prefix: str, timeout: float) -> Response:
        asked.append((cmd, prefix, timeout))
        if cmd not in answers:
            raise AtTimeout(f"no answer to {cmd}")
        return answers[cmd]
    found = diagnostics.capture(command, timeout=1.5)
    assert found == {"AT+CEER": "+CEER: Regular deactivation", "AT+QCSQ": '+QCSQ: "eMTC",-71,-93,160,-10'}
    assert [a[0] for a in asked] == ['AT+QENG="servingcell"', "AT+CEER", "AT+QCSQ", "AT+QNWINFO"]
    assert all(t == 1.5 for _, _, t in asked) and asked[2][1] == "+QCSQ:", "bounded; the answer named"
    assert diagnostics.one_line(found) == ('AT+CEER: +CEER: Regular deactivation; '
                                           'AT+QCSQ: +QCSQ: "eMTC",-71,-93,160,-10')
    answers.pop("AT+CEER")
    assert diagnostics.capture(command) == {}, "a module that stops answering is not asked the rest"


def test_check_reports_the_diagnostics_of_a_registration_that_fails(bench):
    b = bench(registration=[[0, 2]], replies={"AT+QNWINFO": ["ERROR"]})  # this firmware refuses QNWINFO
    result = b.check("--json")
    assert result.returncode == 13, result.stderr
    report = json.loads(result.stdout)
    assert report["diagnostics"] == {k: v for k, v in SEARCHING.items() if k != "AT+QNWINFO"}
    assert "Traceback" not in result.stderr


def test_a_denied_registration_has_its_diagnostics_too(bench):
    b = bench(registration=[[0, 3]])
    result = b.check("--json")
    assert result.returncode == 12, result.stderr
    found = json.loads(result.stdout)["diagnostics"]
    assert found['AT+QENG="servingcell"'].startswith('+QENG: "servingcell","LIMSRV","eMTC","FDD",262,02,')
    assert "AT+CEER" in found


def test_a_registration_that_succeeds_reads_no_diagnostics(bench):
    b = bench()
    result = b.check("--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["diagnostics"] == {}
    assert not any("QENG" in c or "CEER" in c for c in b.commands())


def test_up_status_and_log_hold_the_registration_failures_diagnostics(bench, dirs):
    b = bench(registration=[[0, 2]])
    slow_retry(b)
    proc = spawn_up(b, dirs)
    try:
        st = wait_status(b, "waiting", timeout=40)
        assert st["last_diagnostics"] == SEARCHING
        proc.terminate()
        assert proc.wait(10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
    out = proc.stdout.read()
    lines = [line for line in out.splitlines() if "the module's diagnostics" in line]
    assert len(lines) == 1 and 'AT+QENG="servingcell": +QENG: "servingcell","SEARCH"' in lines[0], out
    assert "AT+CEER: +CEER: No cause information available" in lines[0]


def test_after_a_failed_dial_the_capture_reads_the_port_back_in_command_mode(bench, write_profile):
    """What the clean-up worker reads after pppd (RealSystem.diagnose): the dial's NO CARRIER left
    the port in command mode; the module's cause is there."""
    b = bench(dial_results=["NO CARRIER"])
    port = Port(str(b.link))
    try:
        assert port.cmd("ATD*99#").endswith(b"NO CARRIER\r\n")
    finally:
        port.close()
    found = diagnostics.capture_on_port(profile_mod.load(b.profile))
    assert found["AT+CEER"] == "+CEER: No cause information available"
    assert found['AT+QENG="servingcell"'].startswith('+QENG: "servingcell","NOCONN","eMTC","FDD",262,02,')
    assert set(found) == set(SEARCHING)


class Diagnosing(FakeSystem):
    """The recorder, with the real start_worker's contract: ``done`` gets what the body returned."""

    def diagnose(self):
        self.calls.append("diagnose")
        return {"AT+CEER": "+CEER: Regular deactivation (ESM cause #36)"}

    def start_worker(self, name, body, done):
        result = body()
        if done:
            done(result)
        return FakeJob([], name)


def make(write_profile):
    text = "modem:\n  port: /dev/ttyUSB2\nnetwork:\n  apn: internet\nrecovery:\n  retry_wait: 10\n"
    sysm = Diagnosing()
    sup = Supervisor(profile_mod.load(write_profile(text)), sysm)
    sup.start()
    return sup, sysm


def test_a_failed_dial_carries_the_diagnostics_to_status_on_cleaned(write_profile):
    sup, sysm = make(write_profile)
    sup.post(Ev.PREFLIGHT_OK)
    run_until_idle(sup, sysm)
    sup.post(Ev.PPPD_EXIT, 8)  # the connect script failed: before IP up
    run_until_idle(sup, sysm)
    assert sup.state is State.WAITING
    assert sysm.calls.index("after pppd") < sysm.calls.index("diagnose"), "once the port is back"
    assert sysm.statuses[-1]["last_diagnostics"] == {"AT+CEER": "+CEER: Regular deactivation (ESM cause #36)"}


def test_a_link_that_was_up_reads_no_diagnostics_its_end_is_the_reason(write_profile):
    sup, sysm = make(write_profile)
    sup.post(Ev.PREFLIGHT_OK)
    run_until_idle(sup, sysm)
    sup.post(Ev.PPPD_UP, LinkInfo(UP.interface, UP.local_ip, UP.remote_ip, list(UP.dns)))
    run_until_idle(sup, sysm)
    advance(sup, sysm, 61)
    sup.post(Ev.LINK_DEAD, "the network ended the PDP context (+CGEV: NW PDN DEACT 1)")
    run_until_idle(sup, sysm)
    assert sysm.calls[-1] == "hup pppd"
    sup.post(Ev.PPPD_EXIT, 16)
    run_until_idle(sup, sysm)
    assert "diagnose" not in sysm.calls and sup.status()["last_diagnostics"] == {}
    assert sup.last_error == "the network ended the PDP context (+CGEV: NW PDN DEACT 1)"
    assert sup.state is State.PREFLIGHT, "a stable link's end redials at once"
