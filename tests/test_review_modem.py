"""Regression tests for the modem/AT-layer defects of the reliability review (issue 15).

Each test is named after its defect. Process-level ones run `bg-pppd check` (or the
pre-flight and reset in-process) against the emulator; the AT channel's own logic is
tested on a fake clock with a scripted module that answers one command at a time.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import json
import logging
import os
import socket
import struct
import subprocess
import sys
import termios
import threading
import time
from pathlib import Path
from typing import ClassVar

import pytest

from bg_pppd.modem.at_channel import AtChannel, AtTimeout, PortGone
from bg_pppd.modem.preflight import Preflight
from bg_pppd.profile import model as profile_mod
from bg_pppd.util.errors import BgPppdError, SimProblem
from tests.conftest import ROOT, run_cli

PIN = "75318642"   # digits that appear nowhere else in a report or a log
WRONG = "86420135"
N_NULL = 27        # a line discipline this kernel has; N_PPP needs kernel PPP


def cpin_sent(b) -> list[str]:
    return [c for c in b.commands() if c.startswith("AT+CPIN=")]


def record_of(b) -> Path:
    return b.state / "bench.rejected-pin"


def with_pin(pin: str, extra: str = "") -> str:
    return f'sim:\n  pin: "{pin}"\n' + extra


def set_pin(b, pin: str) -> None:
    text = b.profile.read_text()
    head, _, _ = text.partition("sim:\n")
    b.profile.write_text(head + with_pin(pin))


def load(b):
    return profile_mod.load(b.profile)


@contextlib.contextmanager
def tmpfs(path: Path, options: str):
    path.mkdir(parents=True, exist_ok=True)
    result = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(path)], capture_output=True)
    if result.returncode:
        pytest.skip(f"cannot mount a tmpfs here: {result.stderr.decode().strip()}")
    try:
        yield path
    finally:
        subprocess.run(["umount", str(path)], check=False)


# ----- a module on a fake clock ------------------------------------------------------------------


class FakeClock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


class QueuedModem:
    """A scripted module on a fake clock: one command at a time, in the order heard, each answered
    ``latency`` s (plus its ``slow`` extra) after the module is free to take it; deaf before ``ready_at``."""

    ANSWERS: ClassVar[dict[str, list[str]]] = {
        "AT+CPIN?": ["+CPIN: READY"], "AT+CSQ": ["+CSQ: 20,99"], "ATI": ["Quectel", "BG95-M3"],
        "AT+CMEE?": ["+CMEE: 0"]}

    def __init__(self, clock: FakeClock, latency: float, ready_at: float = 0.0,
                 slow: dict[str, float] | None = None, jitter: tuple[float, ...] = ()):
        self.clock, self.latency, self.ready_at, self.slow = clock, latency, ready_at, slow or {}
        self.jitter = jitter  # the n-th answer's own latency, instead of ``latency``
        self.timeout = 0.05
        self.out: list[tuple[float, bytes]] = []
        self.pending = b""
        self.line = b""
        self.free_at = 0.0
        self.heard: list[str] = []

    def write(self, data: bytes) -> int:
        for byte in data:
            if byte != 0x0D:
                self.line += bytes([byte])
                continue
            cmd, self.line = self.line.decode(), b""
            if self.clock.t < self.ready_at:
                continue  # booting: nothing read, nothing answered
            self.heard.append(cmd)
            n = len(self.heard) - 1
            latency = self.jitter[n] if n < len(self.jitter) else self.latency
            self.free_at = max(self.clock.t, self.free_at) + latency + self.slow.get(cmd, 0.0)
            body = b"".join(b"\r\n" + i.encode() + b"\r\n" for i in self.ANSWERS.get(cmd, []))
            self.out.append((self.free_at, body + b"\r\nOK\r\n"))
        return len(data)

    def _due(self) -> None:
        while self.out and self.out[0][0] <= self.clock.t + 1e-9:
            self.pending += self.out.pop(0)[1]

    def read(self, size: int = 1) -> bytes:
        self._due()
        if not self.pending:
            step = self.timeout if not self.out else min(self.timeout, self.out[0][0] - self.clock.t)
            self.clock.t += max(0.0, step)
            self._due()
        data, self.pending = self.pending[:size], self.pending[size:]
        return data

    @property
    def in_waiting(self) -> int:
        self._due()
        return len(self.pending)

    def reset_input_buffer(self) -> None:
        self.pending = b""


# ----- D1 / D20: a PIN is entered once, and never again unless the SIM said OK --------------------


def test_D01_the_attempt_is_recorded_before_the_pin_is_sent_and_cleared_on_ok(bench):
    b = bench(sim="pin", pin=PIN, qpinc=False, slow_commands={"AT+CPIN=": 20.0},  # 1 s at time_scale 0.05
              profile_extra=with_pin(PIN))
    seen: dict[str, object] = {}

    def watch() -> None:
        if b.emu.wait_for("cmd", "AT+CPIN=", 30):
            seen["record"] = record_of(b).read_text() if record_of(b).exists() else None
    watcher = threading.Thread(target=watch)
    watcher.start()
    result = b.check()
    watcher.join()
    assert result.returncode == 0, result.stderr
    assert isinstance(seen.get("record"), str) and "in-flight" in seen["record"], \
        "the record exists while the answer is awaited"
    assert not record_of(b).exists(), "an OK clears it"
    assert cpin_sent(b) == [f'AT+CPIN="{PIN}"']


def test_D01_a_pin_is_not_entered_while_the_iccid_cannot_be_read(tmp_path):
    """The re-test's route: the record names the SIM by its ICCID; on a run where AT+QCCID fails
    (a busy SIM) a rejected PIN would not be recognised and would be entered again."""
    from tests.conftest import Bench

    scenario = {"sim": "pin", "pin": PIN, "qpinc": False}
    first = Bench(tmp_path, scenario, with_pin(WRONG))
    try:
        assert first.check().returncode == 11
        assert cpin_sent(first) == [f'AT+CPIN="{WRONG}"']
    finally:
        first.stop()
    for answer in (["+CME ERROR: 14"], ["+QCCID: ", "OK"], ["+QCCID: 8988228066601234567x", "OK"]):
        again = Bench(tmp_path, {**scenario, "replies": {"AT+QCCID": answer}}, with_pin(WRONG))
        try:
            result = again.check()
            assert result.returncode == 11 and "ICCID cannot be read" in result.stderr, result.stderr
            assert cpin_sent(again) == [], "entered once, in the first run only"
        finally:
            again.stop()


@pytest.mark.parametrize("outcome", ["no answer", "vanished", "other error", "killed"])
def test_D01_a_pin_whose_outcome_is_unknown_is_never_entered_again(bench, outcome):
    slow = {"slow_commands": {f'AT+CPIN="{WRONG}"': 100.0}}  # 5 s at time_scale 0.05: after at_timeout
    scenario = {"no answer": slow, "vanished": {"reboot_on": "AT+CPIN="},
                "other error": {"replies": {f'AT+CPIN="{WRONG}"': ["ERROR"]}}, "killed": slow}[outcome]
    b = bench(sim="pin", pin=PIN, qpinc=False, profile_extra=with_pin(WRONG), **scenario)
    if outcome == "killed":
        proc = subprocess.Popen([sys.executable, "-m", "bg_pppd", "--state-dir", str(b.state), "check",
                                 str(b.profile)], env={**os.environ, "PYTHONPATH": str(ROOT)},
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        assert b.emu.wait_for("cmd", "AT+CPIN=", 30)
        proc.kill()  # between the PIN and its answer
        proc.wait(10)
    else:
        first = b.check()
        assert first.returncode == 11 and "Traceback" not in first.stderr, first.stderr
        assert str(record_of(b)) in first.stderr and "not entered again" in first.stderr
    if "slow_commands" in scenario:  # let the module finish with that PIN before the next run
        assert b.emu.wait_for("final", "incorrect password", 30)
    assert record_of(b).exists()
    for _ in range(2):
        again = b.check()
        assert again.returncode == 11, again.stderr
        assert "rejected before" in again.stderr and f"remove {record_of(b)}" in again.stderr
        assert "check the SIM by hand" in again.stderr and "Traceback" not in again.stderr
    assert cpin_sent(b) == [f'AT+CPIN="{WRONG}"'], "entered once, never again"
    set_pin(b, PIN)  # the recovery the message describes: fix the PIN (a new PIN is a new record)
    fixed = b.check()
    assert fixed.returncode == 0, fixed.stderr
    assert cpin_sent(b) == [f'AT+CPIN="{WRONG}"', f'AT+CPIN="{PIN}"'] and not record_of(b).exists()


@pytest.mark.parametrize("how", ["read-only", "full"])
def test_D01_no_pin_without_a_writable_record_check(bench, tmp_path, how):
    b = bench(sim="pin", pin=PIN, qpinc=False, profile_extra=with_pin(PIN))
    options = "size=64k,mode=0700" + (",ro" if how == "read-only" else "")
    with tmpfs(tmp_path / "st", options) as state:
        if how == "full":
            with contextlib.suppress(OSError), open(state / "filler", "wb") as f:
                while True:
                    f.write(b"\0" * 4096)
                    f.flush()
        for _ in range(3):
            result = run_cli("--state-dir", str(state), "check", str(b.profile))
            assert result.returncode == 11, result.stderr
            assert "not entering the PIN" in result.stderr and str(state / "bench.rejected-pin") in result.stderr
            reason = "Read-only file system" if how == "read-only" else "No space left on device"
            assert reason in result.stderr and "Traceback" not in result.stderr
    assert cpin_sent(b) == [], "a PIN whose attempt cannot be recorded is never sent"


@pytest.mark.parametrize("how", ["no state dir", "state dir is a file"])
def test_D01_no_pin_without_a_writable_record_preflight(bench, tmp_path, how):
    b = bench(sim="pin", pin=PIN, qpinc=False, profile_extra=with_pin(PIN))
    state = None
    if how == "state dir is a file":
        state = tmp_path / "not-a-dir"
        state.write_text("")
    with pytest.raises(SimProblem) as exc:
        Preflight(load(b), state_dir=state).run()
    assert exc.value.permanent and "not entering the PIN" in str(exc.value)
    if state:
        assert str(state / "bench.rejected-pin") in str(exc.value)
    assert cpin_sent(b) == []


@pytest.mark.parametrize("damage", ["not UTF-8", "garbage", "a directory", "a FIFO", "a symlink"])
def test_D20_a_damaged_pin_record_counts_as_rejected(bench, damage):
    b = bench(sim="pin", pin=PIN, profile_extra=with_pin(PIN))
    b.state.mkdir()
    record = record_of(b)
    if damage == "not UTF-8":
        record.write_bytes(b"\xff\xfe")
    elif damage == "garbage":
        record.write_text("hello\n")
    elif damage == "a directory":
        record.mkdir()
    elif damage == "a FIFO":
        os.mkfifo(record)
    else:
        (b.state / "elsewhere").write_text("0" * 64 + "\n")
        record.symlink_to(b.state / "elsewhere")
    result = b.check(timeout=30)
    assert result.returncode == 11, result.stderr
    assert "cannot be trusted" in result.stderr and str(record) in result.stderr
    assert "Traceback" not in result.stderr
    assert cpin_sent(b) == []


# ----- D2: the PPP port is waited for too ---------------------------------------------------------


def test_D02_preflight_waits_for_the_ppp_port(tmp_path, write_profile):
    from bg_pppd.emulator import Emulator

    at, modem = tmp_path / "at", tmp_path / "modem"  # a USB module's two ports, by their udev links
    path = write_profile(f"""\
        modem:
          port: {at}
          data_port: {modem}
        network:
          apn: internet
          registration_timeout: 3
        recovery:
          at_timeout: 2
          boot_timeout: 5
        """)
    with Emulator({"boot_at_start": False, "time_scale": 0.05, "registration": [[0, 1]], "at_port": True},
                  at_link=at) as emu:
        appear = threading.Timer(1.5, lambda: modem.symlink_to(emu.device))  # a moment after the AT port
        start = time.monotonic()
        appear.start()
        result = run_cli("--state-dir", str(tmp_path / "state"), "check", str(path), "--json")
        took = time.monotonic() - start
        appear.join()
    assert result.returncode == 0, result.stderr
    assert took >= 1.5, "not before the PPP port exists"
    port = json.loads(result.stdout)["steps"][0]
    assert port["step"] == "port" and port["status"] == "appeared"


def test_D02_a_ppp_port_that_never_appears_is_a_diagnosis(bench, tmp_path):
    b = bench()
    b.profile.write_text(b.profile.read_text().replace(f"port: {b.link}", f"port: {b.link}\n"
                                                       f"  data_port: {tmp_path / 'modem'}"))
    result = b.check()
    assert result.returncode == 10, result.stderr
    assert f"PPP port (modem.data_port) {tmp_path / 'modem'} does not exist (waited 5 s)" in result.stderr
    assert b.commands() == [], "no AT before both ports are there"


def _reset_bench(bench, tmp_path, monkeypatch, **scenario):
    monkeypatch.setenv("PYTHONPATH", str(ROOT))
    control = [sys.executable, "-m", "bg_pppd.emulator.control", f"{tmp_path / 'bg95'}.control", "reset"]
    extra = ("  reset: [command]\n  reset_command: " + " ".join(control) + "\n")
    return bench(time_scale=1, reboot_time=1.0, usb_drop_delay=0.5, boot_urc_gap=0.01,
                 profile_extra="", **scenario), extra


def test_D02_a_reset_waits_for_the_ppp_port(bench, tmp_path, monkeypatch):
    from bg_pppd.modem.reset import ResetFailed, Resetter

    b, extra = _reset_bench(bench, tmp_path, monkeypatch)
    modem = tmp_path / "modem"
    modem.symlink_to(b.emu.device)
    text = b.profile.read_text().replace(f"port: {b.link}", f"port: {b.link}\n  data_port: {modem}")
    b.profile.write_text(text.replace("recovery:\n", "recovery:\n" + extra))
    made: list[float] = []

    def udev() -> None:  # the PPP port's link goes with the reset and comes back 1 s after the AT port
        assert b.emu.wait_for("event", "port vanished", 10)
        modem.unlink()
        assert b.emu.wait_for("event", "port appeared", 10)
        time.sleep(1.0)
        modem.symlink_to(b.emu.device)
        made.append(time.monotonic())
    helper = threading.Thread(target=udev)
    helper.start()
    assert Resetter(load(b), threading.Event()).run(skip_at=True) == "command"
    done = time.monotonic()
    helper.join()
    assert made and done >= made[0], "the reset waited for the PPP port"

    modem.unlink()  # and one that never comes back is a failed reset, not a done one
    with pytest.raises(ResetFailed, match=r"PPP port .* did not come back within 5 s"):
        Resetter(load(b), threading.Event()).run(skip_at=True)


# ----- D3: writes time out without spinning; a tty in another line discipline is refused ---------

_WRITER = """
import json, os, sys, time
from bg_pppd.profile import model as profile
from bg_pppd.modem.at_channel import AtChannel, AtTimeout
from bg_pppd.modem.serial_port import open_port
master, slave = os.openpty()
path = sys.argv[1]
open(path, "w").write("modem: {port: %s}\\nnetwork: {apn: internet}\\nrecovery: {at_timeout: 1}\\n" % os.ttyname(slave))
os.chmod(path, 0o600)
ser = open_port(profile.load(path))
at = AtChannel(ser, timeout=1)
cpu, wall = time.process_time(), time.monotonic()
try:
    while True:  # nobody reads the master: the pty fills, then takes nothing
        at.write(b"A" * 4096)
except AtTimeout as exc:
    first = str(exc)
try:
    at.command("AT+CSQ")
    second = "answered?"
except AtTimeout as exc:
    second = str(exc)
print(json.dumps({"first": first, "second": second, "cpu": time.process_time() - cpu,
                  "wall": time.monotonic() - wall, "write_timeout": ser.write_timeout}))
"""


def test_D03_a_write_nobody_takes_times_out_without_spinning(tmp_path):
    try:
        result = subprocess.run([sys.executable, "-c", _WRITER, str(tmp_path / "p.yaml")], capture_output=True,
                                text=True, timeout=20, env={**os.environ, "PYTHONPATH": str(ROOT)})
    except subprocess.TimeoutExpired:
        pytest.fail("the write never timed out (pyserial's EAGAIN loop)")
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    assert out["write_timeout"] == 1, "the port has the profile's at_timeout as its write timeout"
    assert "not written within 1 s" in out["first"] and "nobody reads" in out["first"]
    assert out["second"].startswith("cannot send AT+CSQ:")
    assert 1.5 <= out["wall"] < 6
    assert out["cpu"] < 0.3, f"{out['cpu']:.2f} s of CPU for {out['wall']:.1f} s of waiting: it spins"


def test_D03_a_tty_another_line_discipline_owns_is_refused(bench):
    from bg_pppd.modem.serial_port import N_PPP, owner

    assert owner(N_PPP).startswith("pppd")
    b = bench(port="uart")
    holder = os.open(b.link, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)  # as pppd holds its tty
    try:
        fcntl.ioctl(holder, termios.TIOCSETD, struct.pack("i", N_NULL))
        result = b.check(timeout=30)
        assert result.returncode == 1, result.stderr
        assert f"{b.link} is in use by another program (line discipline {N_NULL}" in result.stderr
        assert "does not talk AT on it" in result.stderr and "Traceback" not in result.stderr
    finally:
        fcntl.ioctl(holder, termios.TIOCSETD, struct.pack("i", 0))
        os.close(holder)
    assert b.commands() == []


# ----- D5: a slow module does not shift the answers -----------------------------------------------


@pytest.mark.parametrize("latency", [0.12, 0.25, 1.0, 3.0])
def test_D05_the_channel_stays_in_step_with_a_slow_module(latency):
    for ready_at in (0.0, 2.0):  # answering from the start, or booting (deaf) for 2 s first
        clock = FakeClock()
        module = QueuedModem(clock, latency, ready_at)
        at = AtChannel(module, timeout=5, clock=clock)
        at.sync(10)
        assert clock.t < ready_at + latency * (len(module.heard) + 2) + 2, "the drain ends"
        assert at.command("AT+CPIN?", info_prefix="+CPIN:").info == ["+CPIN: READY"]
        assert at.command("AT+CSQ", info_prefix="+CSQ:").info == ["+CSQ: 20,99"]
        assert at.command("ATI").info == ["Quectel", "BG95-M3"]
        assert "OK" not in at.urcs and at.owed == 0
        assert module.out == [], "nothing still owed"


def test_D05_a_module_whose_answers_jitter_stays_in_step():
    """Late OKs of the sync that come with long pauses between them (the re-test's route): the
    channel never guesses from silences; a marker command's own answer ends the drain."""
    clock = FakeClock()
    module = QueuedModem(clock, 0.15, jitter=(1.0, 0.15, 0.15, 0.15, 1.0, 0.15, 0.15, 1.0))
    at = AtChannel(module, timeout=5, clock=clock)
    at.sync(2)
    assert at.command("AT+CPIN?", info_prefix="+CPIN:").info == ["+CPIN: READY"]
    assert at.command("ATI").info == ["Quectel", "BG95-M3"]
    assert at.owed == 0 and module.out == [] and at.take_urcs() == []


def test_D05_a_command_that_timed_out_does_not_shift_the_next_answer():
    clock = FakeClock()
    module = QueuedModem(clock, 0.05, slow={"AT+COPS=?": 2.0})
    at = AtChannel(module, timeout=2, clock=clock)
    at.sync(1)
    with pytest.raises(AtTimeout):
        at.command("AT+COPS=?", timeout=1)
    assert at.command("AT+CSQ", info_prefix="+CSQ:").info == ["+CSQ: 20,99"]
    assert at.command("AT+CPIN?", info_prefix="+CPIN:").info == ["+CPIN: READY"]
    assert at.take_urcs() == [], "a late OK is no URC"


def test_D05_stray_finals_before_a_command_are_dropped_not_urcs():
    clock = FakeClock()
    module = QueuedModem(clock, 0.0)
    at = AtChannel(module, timeout=2, clock=clock)
    module.pending = b"\r\nOK\r\n\r\n+CME ERROR: 100\r\n\r\n+QIND: SMS DONE\r\n"
    assert at.command("AT+CSQ", info_prefix="+CSQ:").info == ["+CSQ: 20,99"]
    assert at.take_urcs() == ["+QIND: SMS DONE"]


@pytest.mark.parametrize("delay", [0.12, 0.25, 1.0])
def test_D05_check_with_a_slow_module(bench, delay):
    b = bench(response_delay=delay, time_scale=1)
    result = b.check("--json", timeout=120)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["model"] == "BG95-M3" and report["sim"] == "ready" and report["registration"] == "home"


@pytest.mark.parametrize("delay", [0.12, 0.25, 1.0])
def test_D05_preflight_with_a_slow_module_leaves_the_port_in_step(bench, delay):
    from tests.modemport import Port

    b = bench(response_delay=delay, time_scale=1, echo=False)
    report = Preflight(load(b), state_dir=b.state).run()
    assert report.ready and report.model == "BG95-M3" and report.iccid == "89882280666012345678"
    assert report.imei == "866425012345678" and report.operator == "Example"
    assert not [u for u in report.urcs if u == "OK"]
    port = Port(str(b.link))  # what pppd's chat finds next: no OK left over, its AT answered in turn
    try:
        assert port.read_for(delay + 0.3) == b""
        assert port.cmd("AT+CSQ", timeout=delay + 2) == b"\r\n+CSQ: 20,99\r\n\r\nOK\r\n"
    finally:
        port.close()


# ----- D12: a port that vanishes is PortGone, wherever it happens ---------------------------------


class DyingPort:
    """A port that dies after some reads: then reads, writes and reconfiguring all fail with EIO."""

    def __init__(self, clock: FakeClock, reads: int):
        self.clock, self.left, self._timeout = clock, reads, 0.05
        self.dead = False

    @property
    def timeout(self) -> float:
        return self._timeout

    @timeout.setter
    def timeout(self, value: float) -> None:
        if self.dead:
            raise OSError(5, "Could not configure port: (5, 'Input/output error')")
        self._timeout = value

    def read(self, size: int = 1) -> bytes:
        self.left -= 1
        if self.left < 0:
            self.dead = True
        if self.dead:
            raise OSError(5, "Input/output error")
        self.clock.t += 0.05
        return b""

    @property
    def in_waiting(self) -> int:
        if self.dead:
            raise OSError(5, "Input/output error")
        return 0

    def write(self, data: bytes) -> int:
        if self.dead:
            raise OSError(5, "Input/output error")
        return len(data)

    def reset_input_buffer(self) -> None:
        pass


def test_D12_a_port_that_vanishes_is_port_gone_not_a_configuration_error():
    clock = FakeClock()
    with pytest.raises(PortGone):
        AtChannel(DyingPort(clock, 3), clock=clock).sync(5)
    port = DyingPort(clock, 0)
    port.dead = True
    with pytest.raises(PortGone):
        AtChannel(port, clock=clock).command("AT")
    with pytest.raises(PortGone):
        AtChannel(port, clock=clock).escape(timeout=1, sleep=lambda s: None)


def test_D12_check_starts_over_when_the_port_vanishes_during_the_sync(bench):
    b = bench(hang_after=0)  # silent: the sync keeps sending AT ...

    def pull_the_plug() -> None:
        if b.emu.wait_for("event", "hung", 10):
            b.emu.reset()  # ... when the module resets and its USB port goes away
    plug = threading.Thread(target=pull_the_plug)
    plug.start()
    result = b.check("--json")
    plug.join()
    assert result.returncode == 0, result.stderr
    steps = json.loads(result.stdout)["steps"]
    assert any(s["step"] == "restart" and "port vanished during sync" in s["status"] for s in steps), steps


def test_D12_a_reset_is_not_failed_by_the_port_vanishing_while_it_comes_back(bench, tmp_path, monkeypatch):
    from bg_pppd.modem.reset import Resetter

    b, extra = _reset_bench(bench, tmp_path, monkeypatch)
    b.profile.write_text(b.profile.read_text().replace("recovery:\n", "recovery:\n" + extra))
    # the reset command returns at once; the port goes 0.5 s later, while the sync waits for the module
    assert Resetter(load(b), threading.Event()).run(skip_at=True) == "command"
    assert b.emu.wait_for("event", "port vanished", 1)


# ----- D17: the PIN never leaves the AT layer in clear --------------------------------------------


def test_D17_the_channel_never_shows_a_secret():
    from bg_pppd.modem.at_channel import redact

    clock = FakeClock()
    module = QueuedModem(clock, 0.0, slow={f'AT+CPIN="{PIN}"': 10.0})
    at = AtChannel(module, timeout=1, clock=clock)
    with pytest.raises(AtTimeout) as exc:
        at.command(f'AT+CPIN="{PIN}"')
    assert str(exc.value) == 'no answer to AT+CPIN="****" within 1 s'
    clock.t += 10
    r = AtChannel(QueuedModem(clock, 0.0), clock=clock).command(f'AT+CPIN="{PIN}"')
    assert r.ok and r.command == 'AT+CPIN="****"'
    assert redact('AT+CPIN="12345678","1234"') == 'AT+CPIN="****","****"'
    assert redact('AT+CPWD="SC","1234","5678"') == 'AT+CPWD="SC","****","****"'
    assert redact('AT+CLCK="SC",1,"1234";+CPIN?') == 'AT+CLCK="SC",1,"****";+CPIN?'
    assert redact('AT+QICSGP=1,1,"apn","user","pa,ss",3') == 'AT+QICSGP=1,1,"apn","****","****",3'
    assert redact("AT+CPIN?") == "AT+CPIN?"


def test_D17_no_message_report_or_log_record_holds_the_pin(bench, caplog):
    caplog.set_level(logging.DEBUG)
    for outcome, scenario in (("no answer", {"slow_commands": {"AT+CPIN=": 100.0}}), ("rejected", {}),
                              ("vanished", {"reboot_on": "AT+CPIN="})):
        b = bench(sim="pin", pin=WRONG, profile_extra=with_pin(PIN), **scenario)
        caplog.clear()
        statuses: list[str] = []
        pre = Preflight(load(b), state_dir=b.state, on_step=lambda *args, out=statuses: out.append(repr(args)))
        with pytest.raises(BgPppdError) as exc:
            pre.run()
        assert cpin_sent(b) == [f'AT+CPIN="{PIN}"'], f"{outcome}: the PIN was entered (the moment tested)"
        texts = [str(exc.value), repr(exc.value), json.dumps(dataclasses.asdict(pre.report)), *statuses,
                 *(r.getMessage() for r in caplog.records)]
        assert not [t for t in texts if PIN in t], outcome
        if outcome == "no answer":
            assert 'no answer to AT+CPIN="****" within 2 s' in str(exc.value)
        b.stop()
        b.state.joinpath("bench.rejected-pin").unlink()


# ----- D21: messages say what was configured and what the module said ------------------------------


def test_D21_a_cms_error_is_no_cme_error(bench):
    from bg_pppd.modem import at_replies as atparse

    assert atparse.cme_code("+CMS ERROR: 13") is None and atparse.cme_code("+CME ERROR: 13") == 13
    b = bench(replies={"AT+CPIN?": ["+CMS ERROR: 13"]})
    result = b.check()
    assert result.returncode == 11, result.stderr
    assert "cannot read the SIM state: +CMS ERROR: 13" in result.stderr and "SIM failure" not in result.stderr


def test_D21_a_failed_sync_names_the_configured_wait(bench):
    b = bench(hang_after=0, port="uart")
    b.profile.write_text(b.profile.read_text().replace("at_timeout: 2", "at_timeout: 3"))
    result = b.check()
    assert result.returncode == 10, result.stderr
    assert "sync: no OK to AT within 3 s" in result.stderr


# ----- D25: the emulator's control socket ---------------------------------------------------------


def test_D25_the_control_socket_is_0600_whatever_the_umask():
    import shutil
    import tempfile

    public = Path(tempfile.mkdtemp(prefix="bg-pppd-d25-", dir="/tmp"))  # others may reach the socket
    public.chmod(0o755)
    link = public / "m"
    proc = subprocess.Popen([sys.executable, "-m", "bg_pppd", "emulate", "--link", str(link)],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                            env={**os.environ, "PYTHONPATH": str(ROOT)}, preexec_fn=lambda: os.umask(0))
    try:
        assert proc.stdout.readline().strip()
        mode = os.stat(f"{link}.control").st_mode & 0o777
        assert mode == 0o600, oct(mode)
        nobody = subprocess.run(
            ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", sys.executable, "-m",
             "bg_pppd.emulator.control", f"{link}.control", "status"], capture_output=True, text=True,
            env={**os.environ, "PYTHONPATH": str(ROOT)})
        assert nobody.returncode == 1 and "Permission denied" in nobody.stderr
    finally:
        proc.terminate()
        proc.wait(10)
        shutil.rmtree(public, ignore_errors=True)


def test_D25_a_control_client_that_never_ends_its_line_is_dropped(tmp_path):
    from bg_pppd.emulator import Emulator
    from bg_pppd.emulator.control import call

    with Emulator({"boot_at_start": False}, control=tmp_path / "ctl") as emu:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(5)
            sock.connect(str(tmp_path / "ctl"))
            with contextlib.suppress(OSError):  # reset by the emulator once it gives up on us
                for _ in range(64):
                    sock.sendall(b"x" * 16384)
            try:
                closed = sock.recv(1) == b""
            except ConnectionResetError:
                closed = True
            except TimeoutError:
                closed = False
        assert closed, "the emulator dropped the client"
        assert all(len(buf) <= 65536 + 4096 for _, buf in emu._clients.values())
        assert call(str(tmp_path / "ctl"), "status")["ok"], "and still serves the others"
