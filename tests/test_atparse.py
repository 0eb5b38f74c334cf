"""Parsers from tables of real module lines, and the AT channel fed bytes directly."""

from __future__ import annotations

import pytest

from bg_pppd.modem import at_replies as atparse
from bg_pppd.modem.at_channel import AtChannel, AtTimeout, PortGone


@pytest.mark.parametrize("line, stat, tac, act", [
    ("+CEREG: 0,1", 1, "", None),
    ("+CEREG: 2,5,\"1A2B\",\"01A2D001\",8", 5, "1A2B", 8),
    ("+CEREG: 1", 1, "", None),                                # URC, n=1
    ("+CEREG: 1,\"1A2B\",\"01A2D001\",9", 1, "1A2B", 9),       # URC, n=2
    ("+CEREG: 2,2", 2, "", None),
    ("+CEREG: 0,3", 3, "", None),
    ("+CEREG: 4", 4, "", None),
])
def test_cereg(line, stat, tac, act):
    reg = atparse.parse_reg(line)
    assert (reg.stat, reg.tac, reg.act) == (stat, tac, act)
    assert reg.registered == (stat in (1, 5))


@pytest.mark.parametrize("stat, word, text", [
    (0, "not registered", "not registered"), (1, "home", "registered (home)"), (2, "searching", "searching"),
    (3, "denied", "registration denied"), (4, "unknown", "unknown"), (5, "roaming", "registered (roaming)"),
    (6, "state 6", "state 6"),  # 27.007's SMS-only and emergency states: not ours to dial on
])
def test_the_registration_vocabulary(stat, word, text):
    """One word per state, for check's report, the monitor and status; the log line's phrase."""
    reg = atparse.Registration(stat)
    assert (reg.word, reg.text, reg.denied) == (word, text, stat == 3)
    assert reg.registered == (word in atparse.REGISTERED) == (stat in (1, 5))


def test_the_monitor_and_the_preflight_use_the_vocabulary():
    from bg_pppd.modem import radio

    class Answer:
        def __init__(self, line):
            self.line, self.ok = line, bool(line)

        def first(self, prefix):
            return self.line if self.line.startswith(prefix) else None
    answers = {"AT+CEREG?": "+CEREG: 0,3", "AT+CGREG?": "+CGREG: 0,2"}
    found = radio.read_radio(lambda cmd, _prefix: Answer(answers.get(cmd, "")), ["+CEREG", "+CGREG"])
    assert found["registration"] == atparse.DENIED  # the most telling of the two
    assert radio.summary({"operator": "Example", "registration": atparse.ROAMING}) == "Example, ?"
    assert radio.summary({"registration": atparse.SEARCHING}) == "?, ?, searching"


def test_cgreg_and_garbage():
    assert atparse.parse_reg("+CGREG: 0,1", "+CGREG").stat == 1
    assert atparse.parse_reg("+CEREG: x", "+CEREG") is None
    assert atparse.parse_reg("+CSQ: 1,2", "+CEREG") is None


@pytest.mark.parametrize("final, code", [
    ("+CME ERROR: 10", 10), ("+CME ERROR: SIM not inserted", 10), ("+CME ERROR: incorrect password", 16),
    ("+CME ERROR: SIM busy", 14), ("+CMS ERROR: 500", None), ("+CME ERROR: something new", 100),
    ("ERROR", None), ("OK", None),
])
def test_cme(final, code):
    assert atparse.cme_code(final) == code


def test_other_parsers():
    assert atparse.parse_cpin("+CPIN: SIM PIN") == "SIM PIN"
    assert atparse.parse_cops('+COPS: 0,0,"Telekom.de",8') == atparse.Operator("Telekom.de", 8)
    assert atparse.parse_cops('+COPS: 0,0,"Telekom.de",8').act_name == "LTE Cat-M1"
    assert atparse.parse_cops("+COPS: 0") is None
    assert atparse.parse_csq("+CSQ: 20,99") == (-73, None)
    assert atparse.parse_csq("+CSQ: 99,99") == (None, None)
    assert atparse.parse_qcsq('+QCSQ: "eMTC",-71,-93,160,-10') == {
        "sysmode": "eMTC", "rssi_dbm": -71, "rsrp_dbm": -93, "sinr_db": 12.0, "rsrq_db": -10}
    assert atparse.parse_qcsq('+QCSQ: "NOSERVICE"') == {"sysmode": "NOSERVICE"}
    assert atparse.parse_qcsq('+QCSQ: "GSM",-69') == {"sysmode": "GSM", "rssi_dbm": -69}
    assert atparse.parse_qnwinfo('+QNWINFO: "CAT-M1","26202","LTE BAND 20",6300')["band"] == "LTE BAND 20"
    assert atparse.parse_qnwinfo("+QNWINFO: No Service")["act"] is None
    assert atparse.parse_cgdcont('+CGDCONT: 1,"IP","internet","0.0.0.0",0,0,0') == (1, "IP", "internet")
    assert atparse.parse_qcfg('+QCFG: "iotopmode",2', "iotopmode") == "2"
    assert atparse.parse_qcfg('+QCFG: "nwscanseq",020301', "nwscanseq") == "020301"
    assert atparse.parse_ipr("+IPR: 115200") == 115200
    assert atparse.parse_qpinc('+QPINC: "SC",3,10') == (3, 10)


class FakeClock:
    def __init__(self):
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


class Scripted:
    """A transport that answers each write from a script of byte chunks; time advances per read."""

    def __init__(self, clock: FakeClock, answers: dict[bytes, bytes], gone: bool = False):
        self.clock, self.answers, self.gone = clock, answers, gone
        self.timeout = 0.05
        self.pending = b""
        self.written: list[bytes] = []

    def write(self, data: bytes) -> int:
        self.written.append(data)
        self.pending += self.answers.get(data, b"")
        return len(data)

    def read(self, size: int = 1) -> bytes:
        if self.gone:
            raise OSError("device disconnected")
        self.clock.t += self.timeout or 0.0
        out, self.pending = self.pending[:size], self.pending[size:]
        return out

    @property
    def in_waiting(self) -> int:
        return len(self.pending)

    def reset_input_buffer(self) -> None:
        self.pending = b""


def test_echo_blank_lines_garbage_and_urcs_are_set_apart():
    clock = FakeClock()
    t = Scripted(clock, {b"AT+CEREG?\r": b"AT+CEREG?\r\r\n+CEREG: 1\r\n\xff\x00\r\n\r\n"
                                        b"+CEREG: 0,1\r\n\r\nOK\r\n"})
    urcs = []
    at = AtChannel(t, timeout=5, clock=clock, on_urc=urcs.append)
    r = at.command("AT+CEREG?", info_prefix="+CEREG:")
    assert r.ok and r.info == ["+CEREG: 0,1"]
    assert urcs == ["+CEREG: 1"]


def test_urc_then_answer_same_family():
    clock = FakeClock()
    t = Scripted(clock, {b"AT+CSQ\r": b"\r\n+CEREG: 5\r\n\r\n+CSQ: 20,99\r\n\r\nOK\r\n"})
    at = AtChannel(t, timeout=5, clock=clock)
    r = at.command("AT+CSQ", info_prefix="+CSQ:")
    assert r.info == ["+CSQ: 20,99"] and at.take_urcs() == ["+CEREG: 5"]


def test_no_carrier_is_a_urc_unless_dialling():
    clock = FakeClock()
    t = Scripted(clock, {b"AT\r": b"\r\nNO CARRIER\r\n\r\nOK\r\n", b"ATD*99#\r": b"\r\nNO CARRIER\r\n"})
    at = AtChannel(t, timeout=5, clock=clock)
    assert at.command("AT").ok and at.take_urcs() == ["NO CARRIER"]
    assert at.command("ATD*99#").final == "NO CARRIER"


def test_cme_final():
    clock = FakeClock()
    t = Scripted(clock, {b"AT+CPIN?\r": b"\r\n+CME ERROR: SIM not inserted\r\n"})
    r = AtChannel(t, timeout=5, clock=clock).command("AT+CPIN?")
    assert not r.ok and r.cme == 10


def test_silence_is_a_timeout_not_a_hang():
    clock = FakeClock()
    at = AtChannel(Scripted(clock, {}), timeout=60, clock=clock)
    with pytest.raises(AtTimeout, match="no answer to AT\\+CSQ within 60 s"):
        at.command("AT+CSQ")
    assert 60 < clock.t < 61


def test_vanished_port():
    clock = FakeClock()
    with pytest.raises(PortGone):
        AtChannel(Scripted(clock, {}, gone=True), clock=clock).command("AT")


def test_sync_retries_every_interval():
    clock = FakeClock()
    t = Scripted(clock, {})
    at = AtChannel(t, clock=clock)
    with pytest.raises(AtTimeout):
        at.sync(1.0)
    assert 9 <= t.written.count(b"AT\r") <= 12


def test_a_registrations_act_names_the_technology_as_status_does():
    assert [atparse.technology_of_act(a) for a in (0, 3, 8, 9)] == ["GSM", "EGPRS", "CAT-M1", "CAT-NB1"]
    assert atparse.technology_of_act(None) is None and atparse.technology_of_act(5) is None
    # and +COPS keeps its own names for the same numbers
    assert atparse.parse_cops('+COPS: 0,0,"Telekom.de",8').act_name == "LTE Cat-M1"
