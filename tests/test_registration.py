"""Registration against the virtual module's pty runtime: seen from its URC the moment it
happens, in either domain, with nothing between it and the dial; and the interventions short
of a reset (AT+COPS=0, the radio off/on) when it does not come (issue 17, items 2 and 3).

Moments are compared on one clock: the emulator's log stamps (time.time(), same process) and
the pre-flight's step callback.
"""

from __future__ import annotations

import datetime
import logging
import os
import re
import subprocess
import sys
import time

import pytest

from bg_pppd.modem.at_channel import AtChannel
from bg_pppd.modem.preflight import Preflight
from bg_pppd.profile import model as profile_mod
from bg_pppd.util.errors import NotRegistered, RegistrationDenied
from tests.conftest import ROOT

REGISTERED_URC = re.compile(r"^\+C[GE]REG: [15](,|$)")
REPORT_QUERIES = ("AT+COPS?", "AT+QNWINFO", "AT+QCSQ", "AT+CSQ", "AT+CGSN")


def network(b, **keys) -> None:
    """The bench profile's network keys replaced (poll_interval, registration_timeout) or added."""
    text = b.profile.read_text()
    for key, value in keys.items():
        line = re.compile(rf"^  {key}: .*$", re.MULTILINE)
        new = f"  {key}: {value}"
        text = line.sub(new, text) if line.search(text) else text.replace("network:\n", f"network:\n{new}\n")
    b.profile.write_text(text)


def run(b, **kw) -> tuple[Preflight, dict[str, float]]:
    """The pre-flight in this process on the emulator's pty; when each step ended (time.time())."""
    ended: dict[str, float] = {}

    def step(name: str, status: str, elapsed: float) -> None:
        if status:
            ended[name] = time.time()
    pre = Preflight(profile_mod.load(b.profile), state_dir=b.state, on_step=step, **kw)
    pre.run()
    return pre, ended


def events(b) -> list[tuple[float, str, str]]:
    with b.emu._lock:
        return list(b.emu.events)


def search_began(b) -> float:
    """When the emulator's current network search began, on the log's clock (time.time())."""
    offset = time.time() - b.emu.loop.now()
    return b.emu.modem.network.attach_at + offset


def registering_urc(b) -> tuple[int, float, str]:
    """The first URC that said home or roaming: its index in the log, its moment, its text."""
    return next((i, t, text) for i, (t, kind, text) in enumerate(events(b))
                if kind == "urc" and REGISTERED_URC.match(text))


# ----- item 2: registration without polling lag -----------------------------------------------

def test_registration_is_seen_from_its_urc_not_the_next_poll(bench):
    b = bench(time_scale=1, registration=[[0, 2], [1.5, 1]])
    network(b, poll_interval=30, registration_timeout=10)
    pre, ended = run(b)
    registered_at = search_began(b) + 1.5  # the scenario's moment, on the emulator's clock
    delay = ended["registration"] - registered_at
    print(f"registered-to-step-done: {delay * 1000:.1f} ms (poll_interval 30 s)")
    assert 0 <= delay < 0.2, f"the step ended {delay:.3f} s after the module registered"
    _, urc_at, text = registering_urc(b)
    assert text == '+CEREG: 1,"1A2B","01A2D001",8', "mode 2: the URC form, with the cell and the RAT"
    assert urc_at - registered_at == pytest.approx(0, abs=0.02), "the URC at the registration moment"
    assert pre.report.registration == "home" and pre.report.operator == "Example", "check's report stays"
    sent = b.commands()
    assert "AT+CEREG=2" in sent and sent.count("AT+CEREG?") <= 2, "no poll came in between"


def test_bg600l_registered_on_egprs_while_cereg_says_unknown(bench):
    """A BG600L-M3 on EGPRS: +CGREG 1 while +CEREG 4; either domain registered is registered."""
    b = bench(time_scale=1, model="BG600L-M3", rat="gsm", registration=[[0, 2], [1.5, 1]])
    network(b, poll_interval=30, registration_timeout=10, technologies="[catm1, egprs]")
    pre, ended = run(b)
    assert 0 <= ended["registration"] - (search_began(b) + 1.5) < 0.2
    assert registering_urc(b)[2] == '+CGREG: 1,"1A2B","01A2D001",3'
    urcs = [t for _, kind, t in events(b) if kind == "urc"]
    assert "+CEREG: 4" in urcs, "the LTE domain said unknown meanwhile"
    assert pre.report.registration == "home"
    assert "AT+CGREG=2" in b.commands()
    registration = next(s for s in pre.report.steps if s["step"] == "registration")
    assert "via CGREG from its URC" in registration["status"]


def test_nothing_but_the_dial_after_registration_when_dialling(bench):
    """for_dial: the IMEI is read before the wait; operator, QNWINFO and signal are not read."""
    b = bench(time_scale=1, registration=[[0, 2], [1.5, 5]])
    network(b, poll_interval=30, registration_timeout=10)
    pre, ended = run(b, for_dial=True)
    index, urc_at, _ = registering_urc(b)
    after = [text for _, kind, text in events(b)[index:] if kind == "cmd"]
    assert after == [], f"sent between registered and the end of the pre-flight: {after}"
    before = [text for _, kind, text in events(b)[:index] if kind == "cmd"]
    assert "AT+CGSN" in before and pre.report.imei == "866425012345678"
    assert not [c for c in b.commands() if c.startswith(REPORT_QUERIES[:4])], "the radio report is the monitor's"
    assert pre.report.registration == "roaming" and pre.report.operator is None
    assert pre.report.access_technology == "CAT-M1", "the URC's <AcT> (8), for free"
    assert [s["step"] for s in pre.report.steps][-2:] == ["identity", "registration"]
    assert 0 <= ended["registration"] - urc_at < 0.2


@pytest.mark.skipif(os.path.exists("/dev/ppp"), reason="this kernel has PPP: pppd would dial for real")
def test_the_daemon_sends_nothing_after_registration_but_what_dials(bench, dirs):
    """``up`` (workers.preflight): after the registering URC the pre-flight sends nothing; pppd,
    which sends the dial, stops here at once for want of kernel PPP."""
    b = bench(time_scale=1, registration=[[0, 2], [1.0, 1]])
    network(b, poll_interval=30, registration_timeout=10)
    run_dir, state = dirs
    env = {"PATH": os.environ["PATH"], "PYTHONPATH": str(ROOT), "BG_PPPD_RUN_DIR": str(run_dir),
           "BG_PPPD_STATE_DIR": str(state)}
    out = subprocess.run([sys.executable, "-m", "bg_pppd", "up", str(b.profile)], capture_output=True,
                         text=True, env=env, timeout=60)
    log = out.stdout + out.stderr
    assert "kernel lacks PPP support" in log
    # the daemon's log stamps the end of the pre-flight (local time of day, in ms)
    stamp = re.search(r"^(\d\d):(\d\d):(\d\d\.\d{3}) bench: switch from preflight to dialing", log, re.M)
    h, m, sec = stamp.groups()
    passed = int(h) * 3600 + int(m) * 60 + float(sec)

    def of_day(t: float) -> float:
        d = datetime.datetime.fromtimestamp(t)
        return d.hour * 3600 + d.minute * 60 + d.second + d.microsecond / 1e6
    index, urc_at, _ = registering_urc(b)
    assert of_day(urc_at) < passed
    after = [text for t, kind, text in events(b)[index:] if kind == "cmd" and of_day(t) < passed]
    assert after == [], f"sent between registered and the end of the pre-flight: {after}"
    before = [text for _, kind, text in events(b)[:index] if kind == "cmd"]
    assert "AT+CGSN" in before and "AT+COPS?" not in b.commands()
    assert "pre-flight identity: 866425012345678" in log


def test_a_urc_split_over_two_reads_is_read_whole():
    """The AT channel fed the bytes as a UART delivers them: one URC in two pieces 30 ms apart,
    the second after the wait's time is up; the line is read whole, nothing is left behind."""
    t = [0.0]
    chunks = [(0.50, b'\r\n+CEREG: 1,"1A'), (0.53, b'2B","01A2D001",8\r\n')]
    arrived = bytearray()

    class Uart:
        """pyserial's read on a fake clock: what has arrived, else wait up to the read timeout."""
        timeout = 0.05

        @property
        def in_waiting(self) -> int:
            while chunks and chunks[0][0] <= t[0]:
                arrived.extend(chunks.pop(0)[1])
            return len(arrived)

        def read(self, size: int = 1) -> bytes:
            if not self.in_waiting:
                t[0] = min(t[0] + self.timeout, chunks[0][0]) if chunks else t[0] + self.timeout
                if not self.in_waiting:
                    return b""
            data = bytes(arrived[:size])
            del arrived[:size]
            return data

        def write(self, data: bytes) -> int:
            return len(data)

        def reset_input_buffer(self) -> None:
            pass

    at = AtChannel(Uart(), clock=lambda: t[0])
    line = at.wait_urc(lambda text: text.startswith("+CEREG:"), timeout=0.51)
    assert line == '+CEREG: 1,"1A2B","01A2D001",8' and t[0] == pytest.approx(0.53)
    assert at.urcs == [line] and at.take_buffer() == b""
    chunks[:] = [(0.60, b"\r\n+CEREG: 2\r\n")]
    assert at.wait_urc(lambda text: text.startswith("+CGREG:"), timeout=0.2) is None
    assert at.urcs[-1] == "+CEREG: 2", "another URC is queued, not taken for the match"


# ----- item 3: interventions before a reset ---------------------------------------------------

def no_reset(b) -> None:
    assert not [c for c in b.commands() if c.startswith("AT+CFUN=1,1") or c.startswith("AT+QPOWD")]
    assert not [t for _, kind, t in events(b) if kind == "event" and t.startswith(("booting", "power-down"))]


def test_stuck_then_cops_0_registers_without_the_radio_off(bench, caplog):
    b = bench(time_scale=1, stuck_until="cops", registration=[[0, 2], [0.5, 1]])
    network(b, poll_interval=0.5, registration_timeout=4, reselect_after=1, technologies="[catm1]")
    with caplog.at_level(logging.INFO, logger="bg_pppd"):
        pre, _ = run(b)
    assert pre.report.registration == "home"
    [done] = pre.report.interventions
    assert done["action"] == "cops=0" and done["after"] == pytest.approx(1.0, abs=0.15)
    assert "searching" in done["why"]
    sent = b.commands()
    assert "AT+COPS=0" in sent and not [c for c in sent if c.startswith("AT+CFUN=")]
    # the BG95 reset nwscanmode at AT+COPS=0: the scan settings were written again after it
    assert 'AT+QCFG="nwscanmode",3,1' in sent[sent.index("AT+COPS=0"):]
    assert b.emu.status()["qcfg"]["nwscanmode"] == 3
    logged = [r.getMessage() for r in caplog.records if "AT+COPS=0 (automatic" in r.getMessage()]
    assert len(logged) == 1 and logged[0].startswith("bench: registration still")
    no_reset(b)


def test_stuck_past_cops_0_then_the_radio_off_and_on_registers(bench, caplog):
    b = bench(time_scale=1, stuck_until="cfun", registration=[[0, 2], [0.5, 1]])
    network(b, poll_interval=0.5, registration_timeout=2, reselect_after=1)
    with caplog.at_level(logging.INFO, logger="bg_pppd"):
        pre, _ = run(b)
    assert pre.report.ready and pre.report.registration == "home"
    assert [d["action"] for d in pre.report.interventions] == ["cops=0", "cfun 0/1"]
    assert [round(d["after"]) for d in pre.report.interventions] == [1, 2]
    sent = b.commands()
    assert sent.index("AT+COPS=0") < sent.index("AT+CFUN=0") < sent.index("AT+CFUN=1")
    assert len([r for r in caplog.records if "radio off and on" in r.getMessage()]) == 1
    no_reset(b)


def test_the_radio_off_powers_the_sim_down_and_its_pin_is_entered_again(bench):
    """AT+CFUN=0 is minimum functionality: the SIM too. A SIM with its PIN enabled asks again after
    AT+CFUN=1, and the search waits for it: without the PIN the module never registers."""
    b = bench(time_scale=1, stuck_until="cfun", sim="pin", registration=[[0, 2], [0.5, 1]])
    network(b, poll_interval=0.5, registration_timeout=2, reselect_after=1)
    b.profile.write_text(b.profile.read_text().replace("modem:\n", 'sim:\n  pin: "1234"\nmodem:\n', 1))
    pre, _ = run(b)
    assert pre.report.ready and pre.report.registration == "home"
    sent = b.commands()
    pins = [i for i, c in enumerate(sent) if c.startswith("AT+CPIN=")]
    assert len(pins) == 2 and pins[0] < sent.index("AT+CFUN=0") < sent.index("AT+CFUN=1") < pins[1]
    assert not (b.state / "bench.rejected-pin").exists()
    no_reset(b)


@pytest.mark.parametrize("stat, error", [(2, NotRegistered), (3, RegistrationDenied)])
def test_stuck_past_both_fails_after_twice_the_registration_timeout(bench, stat, error):
    """Searching for ever, or denied 0.3 s into every search, whatever is done."""
    b = bench(time_scale=1, registration=[[0, 2]] if stat == 2 else [[0, 2], [0.3, 3]])
    network(b, poll_interval=0.5, registration_timeout=2, reselect_after=1)
    pre = Preflight(profile_mod.load(b.profile), state_dir=b.state)
    start = time.monotonic()
    with pytest.raises(error) as exc:
        pre.run()
    took = time.monotonic() - start
    assert 4.0 <= took < 4.8, f"about 2 x registration_timeout, not {took:.1f} s"
    assert [d["action"] for d in pre.report.interventions] == ["cops=0", "cfun 0/1"]
    assert re.search(r"AT\+COPS=0 at 1(\.\d)? s and the radio off/on at 2(\.\d)? s", str(exc.value))
    if stat == 3:
        assert "denied" in str(exc.value) and pre.report.registration == "denied"
    else:
        assert "not registered after 4 s" in str(exc.value)
    no_reset(b)


def test_a_denial_that_cops_0_mends(bench):
    b = bench(time_scale=1, stuck_until="cops", stuck_stat=3, registration=[[0, 2], [0.5, 5]])
    network(b, poll_interval=0.5, registration_timeout=3, reselect_after=1)
    pre, _ = run(b)
    assert pre.report.registration == "roaming"
    assert [d["action"] for d in pre.report.interventions] == ["cops=0"]
    assert "denied" in pre.report.interventions[0]["why"], "the module said denied until then"
    urcs = [t for _, kind, t in events(b) if kind == "urc" and t.startswith("+CEREG")]
    assert urcs[:2] == ["+CEREG: 2", '+CEREG: 5,"1A2B","01A2D001",8'], "a new search after AT+COPS=0"
    no_reset(b)
