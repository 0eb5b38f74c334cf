"""The daemon's CMUX wiring without a kernel mux: the leftover check before the sync, the kernel
check and its fallback, the bring-up as the attempt's last step, and the link on the channels
taking a USB module's path. The real n_gsm, pppd and emulator over the mux: test_cmux_daemon_uml.py."""

from __future__ import annotations

import logging
import os
import threading
import time
from pathlib import Path

import pytest

from bg_pppd.daemon import workers
from bg_pppd.daemon.mux_session import MuxSession, channels_profile
from bg_pppd.daemon.supervisor import Ev, State, Supervisor, failure_of
from bg_pppd.link.render import peer_options
from bg_pppd.modem import multiplexer
from bg_pppd.modem.preflight import Preflight
from bg_pppd.profile import model as profile_mod
from bg_pppd.util.errors import EXIT_PPPD_UNUSABLE
from tests.test_supervisor import FakeSystem


def load(write_profile, port: str, modem: str = "", rest: str = "", network: str = ""):
    return profile_mod.load(write_profile(f"modem:\n  port: {port}\n{modem}network:\n  apn: internet\n{network}"
                                          f"recovery:\n  at_timeout: 2\n  boot_timeout: 2\n{rest}"))


class FakeMux:
    """What Mux.open returns, on ports that exist (the emulator's); records its close."""

    def __init__(self, at_device: str, data_device: str, calls: list[str]):
        self.at_device, self.data_device, self.calls = at_device, data_device, calls

    def close(self) -> bool:
        self.calls.append("mux close")
        return True


def opener_of(at_device: str, data_device: str, calls: list[str]):
    def open_mux(profile, clock=None, sleep=None):
        calls.append(f"mux open {profile.modem.port}")
        return FakeMux(at_device, data_device, calls)
    return open_mux


# ----- the profile the link runs on --------------------------------------------------------------

def test_the_channels_make_a_usb_shaped_profile_whose_lines_are_the_channels_own(write_profile, tmp_path):
    p = load(write_profile, "/dev/ttyS1", "  line_backend: emulator\n  multiplex: cmux\n",
             "monitor:\n  escape: true\n  read_urcs: true\n")
    assert p.uses_relay and not p.modem.separate_at_port
    link = channels_profile(p, "/dev/gsmtty1", "/dev/gsmtty2")
    assert (link.modem.port, link.modem.ppp_port) == ("/dev/gsmtty1", "/dev/gsmtty2")
    assert link.modem.separate_at_port and not link.uses_relay, "no +++ rounds: AT has its own channel"
    assert link.modem.line_backend == "serial", "n_gsm maps the module's MSC to the gsmtty's lines"
    # no DCD/RI watch on a gsmtty (no TIOCMIWAIT): pppd runs with "modem" there instead, n_gsm hanging
    # its channel up when the module's MSC drops DV; with DCD always on (AT&C0) that would mean nothing
    assert not p.modem.control_lines and link.modem.control_lines
    assert "modem" in peer_options(link, tmp_path, "/usr/sbin/chat")
    always = channels_profile(load(write_profile, "/dev/ttyS1", "  multiplex: cmux\n  dcd: always\n"),
                              "/dev/gsmtty1", "/dev/gsmtty2")
    assert "local" in peer_options(always, tmp_path, "/usr/sbin/chat")
    assert workers.watchers(link, has_relay=False) == {"radio monitor"}
    assert "carrier" in workers.watchers(p, has_relay=True), "the plain UART (a fallback) keeps its watch"
    assert (link.modem.baudrate, link.network, link.hooks) == (p.modem.baudrate, p.network, p.hooks)


# ----- the kernel check -----------------------------------------------------------------------

@pytest.mark.parametrize("fallback", ["uart", "exit"])
def test_a_kernel_without_n_gsm_is_one_line_then_the_plain_uart_or_the_cannot_run_here_status(
        write_profile, caplog, fallback):
    p = load(write_profile, "/dev/ttyS1", f"  multiplex: cmux\n  cmux_fallback: {fallback}\n")
    asked = []

    def support():
        asked.append(1)
        return "the kernel has no CMUX line discipline n_gsm (CONFIG_N_GSM)"
    session = MuxSession(p, opener=lambda *a, **k: pytest.fail("no mux without n_gsm"), support=support)
    caplog.set_level(logging.INFO, "bg_pppd")
    if fallback == "exit":
        with pytest.raises(multiplexer.MuxUnavailable, match="CONFIG_N_GSM") as exc:
            session.check_kernel()
        assert exc.value.exit_code == EXIT_PPPD_UNUSABLE
        return
    session.check_kernel()
    session.check_kernel()  # the next attempt: not asked again, not logged again
    assert asked == [1] and not session.wanted
    lines = [r.getMessage() for r in caplog.records]
    assert lines == ["test: the kernel has no CMUX line discipline n_gsm (CONFIG_N_GSM); running on the "
                     "plain UART (modem.cmux_fallback: uart)"]
    assert session.open() is p and session.link_profile is p


def test_no_n_gsm_with_fallback_exit_stops_the_daemon_with_status_20_without_touching_the_port(write_profile):
    """The pre-flight worker's failure is permanent: the supervisor stops, no retry, no reset."""
    p = load(write_profile, "/nonexistent/ttyS1", "  multiplex: cmux\n  cmux_fallback: exit\n")
    session = MuxSession(p, support=lambda: "the kernel has no CMUX line discipline n_gsm")
    posted: list[tuple] = []
    done = threading.Event()

    def post(ev, data=None):
        posted.append((ev, data))
        done.set()
    worker = workers.preflight(p, run=None, state_dir="", post=post, mux=session)  # type: ignore[arg-type]
    assert done.wait(5) and worker.join(5)
    (ev, failure), = posted
    assert ev is Ev.PREFLIGHT_FAILED and failure.permanent and failure.exit_code == EXIT_PPPD_UNUSABLE
    assert failure.report is None, "the pre-flight never ran"
    sysm = FakeSystem()
    sup = Supervisor(p, sysm)
    sup.start()
    sysm.now += 0.001
    sup.post(ev, failure)
    while sup.step(block=False):
        pass
    assert sup.state is State.STOPPED and sup.exit_code == EXIT_PPPD_UNUSABLE
    assert sysm.calls == ["preflight"], "neither retried nor reset"
    assert "n_gsm" in sup.last_error


def test_a_failed_bring_up_is_an_attempt_failure_like_a_pre_flights(write_profile):
    """MuxFailed (AT+CMUX refused, no DLC devices) goes through the retry policy, not a stop."""
    p = load(write_profile, "/dev/ttyS1", "  multiplex: cmux\n")
    sysm = FakeSystem()
    sup = Supervisor(p, sysm)
    sup.start()

    sup.post(Ev.PREFLIGHT_FAILED, failure_of(multiplexer.MuxFailed("the module refused AT+CMUX=0,0,5,127: ERROR")))
    while sup.step(block=False):
        pass
    assert sup.state is State.WAITING and sup.ladder.failures == 1
    sysm.now += p.recovery.retry_wait + 0.001
    sup.step(block=False)
    assert sup.state is State.PREFLIGHT and sysm.calls == ["preflight", "preflight"]


# ----- the leftover mux before the sync --------------------------------------------------------

@pytest.fixture
def left_multiplexing(pty_module):
    """A module a killed daemon left multiplexing: plain AT gets nothing until the close-down
    frame arrives, then OK to every AT line."""
    def module(got: bytes) -> bytes:
        return b"\r\nOK\r\n" if multiplexer.close_down_frame() in got and got.endswith(b"\r") else b""
    pty_module["answer"] = module
    return pty_module["path"], pty_module


def test_the_sync_closes_a_leftover_mux_first(write_profile, left_multiplexing):
    port, module = left_multiplexing
    p = load(write_profile, port, "  multiplex: cmux\n  dtr: ignore\n")
    pre = Preflight(p)
    try:
        pre.step_port()
        t0 = time.monotonic()
        summary = pre.step_sync()
    finally:
        pre.close()
    assert summary.startswith("OK after"), summary
    assert multiplexer.close_down_frame() in module["got"]
    assert time.monotonic() - t0 < 2.0


def test_without_multiplex_the_sync_sends_no_frame(write_profile, left_multiplexing):
    """The hook is the cmux profile's only: a plain profile's sync finds a silent module."""
    port, module = left_multiplexing
    p = load(write_profile, port, "  dtr: ignore\n")
    pre = Preflight(p)
    try:
        pre.step_port()
        with pytest.raises(Exception, match="no OK to AT"):
            pre.step_sync()
    finally:
        pre.close()
    assert b"\xf9" not in module["got"]


# ----- the bring-up after the pre-flight, and the link on the channels --------------------------

@pytest.fixture
def usb_emulator(tmp_path):
    """The virtual module with an AT port beside its modem port: what the mux's channels are to us."""
    from bg_pppd.emulator import Emulator

    link, at = tmp_path / "bg95", tmp_path / "bg95-at"
    emu = Emulator({"boot_at_start": False, "time_scale": 0.05, "registration": [[0, 1]], "at_port": True,
                    "rssi": 12}, link=link, log=tmp_path / "emulator.log", control=f"{link}.control", at_link=at)
    emu.__enter__()
    yield emu, str(link), str(at)
    emu.__exit__(None, None, None)


def device_of(peer: Path) -> str:
    """The tty a peer file names: its first option line."""
    return next(line for line in peer.read_text().splitlines() if line and not line.startswith("#")).strip('"')


def real_system(tmp_path, p):
    from bg_pppd.daemon.effects import RealSystem
    from bg_pppd.daemon.ladder_store import LadderStore
    from bg_pppd.daemon.run_dir import RunDir
    from bg_pppd.link.render import render

    run = RunDir(tmp_path / "run", p.name)
    run.ensure()
    rendered = render(p, run.dir, set_context=False)
    return RealSystem(p, run, LadderStore(tmp_path / "state", p.name), rendered, str(tmp_path / "state"))


def test_the_mux_comes_up_after_the_pre_flight_and_the_link_takes_the_usb_path(tmp_path, write_profile,
                                                                                 usb_emulator):
    """The pre-flight on the raw port (here the emulator's modem port), then the mux; the peer file
    names the data channel, the monitor queries the AT channel, the clean-up closes the mux."""
    emu, raw, at = usb_emulator
    p = load(write_profile, raw, "  multiplex: cmux\n  line_backend: emulator\n", "monitor:\n  interval: 0.5\n",
             network="  poll_interval: 0.1\n  registration_timeout: 3\n")
    calls: list[str] = []
    data = tmp_path / "gsmtty2"  # the data channel: here the emulator's modem port under another name
    data.symlink_to(raw)
    rs = real_system(tmp_path, p)
    rs.mux = MuxSession(p, opener=opener_of(at, str(data), calls), support=lambda: None)  # settled: AT below
    assert device_of(rs.rendered.peer) == raw
    posted: list[tuple] = []
    done = threading.Event()

    def post(ev, data=None):
        posted.append((ev, data))
        done.set()
    worker = rs.start_preflight(post)
    assert done.wait(30) and worker.join(5)
    (ev, report), = posted
    assert ev is Ev.PREFLIGHT_OK and report.ready, report
    assert calls == [f"mux open {raw}"], "the mux on the raw UART, after the pre-flight"
    assert rs.link.modem.port == at and rs.link.modem.line_backend == "serial"
    assert device_of(rs.rendered.peer) == str(data) and rs.link.modem.ppp_port == str(data)
    # connected: the monitor runs on the AT channel, without touching the PPP channel
    radios: list[dict] = []
    got = threading.Event()

    def watch_post(ev, data=None):
        if ev is Ev.RADIO:
            radios.append(data)
            got.set()
    from bg_pppd.link.pppd import LinkInfo

    watch = rs.start_watch(watch_post, LinkInfo("ppp0"))
    try:
        assert got.wait(10), "no radio reading from the AT channel"
    finally:
        watch.cancel()
    assert radios[0]["signal"]["rssi_dbm"] == -89 and radios[0]["operator"] == "Example"
    at_commands = [c for c in emu.commands() if c.startswith("[at] ")]
    assert "[at] AT+QCSQ" in at_commands
    # pppd gone: the data channel back in command mode, then the mux closed; the raw port again
    rs.after_pppd()
    assert calls[-1] == "mux close" and rs.mux.mux is None
    assert rs.link is p


def test_a_mux_left_open_is_closed_before_the_next_pre_flight_and_before_a_reset(tmp_path, write_profile):
    """pppd never started (its start failed): no clean-up ran, yet the raw UART must be free."""
    p = load(write_profile, "/nonexistent/ttyS1", "  multiplex: cmux\n")
    calls: list[str] = []
    session = MuxSession(p, opener=opener_of("/dev/gsmtty1", "/dev/gsmtty2", calls), support=lambda: None,
                         settler=None)
    session.open()
    assert session.link_profile.modem.ppp_port == "/dev/gsmtty2"
    done = threading.Event()
    worker = workers.reset(p, run=Path("/nonexistent"), skip_at=False,  # type: ignore[arg-type]
                           post=lambda ev, data=None: done.set(), mux=session)
    assert done.wait(5) and worker.join(5)
    assert calls == ["mux open /nonexistent/ttyS1", "mux close"] and session.link_profile is p
    session.open()
    done.clear()
    worker = workers.preflight(p, run=None, state_dir="", post=lambda ev, data=None: done.set(),  # type: ignore[arg-type]
                               mux=session)
    assert done.wait(5) and worker.join(5)
    assert calls[-1] == "mux close", calls


def test_channels_that_never_answer_fail_the_attempt_with_the_mux_closed(write_profile, tmp_path):
    """The settling: the data channel held, AT on the AT channel; silence there is MuxFailed."""
    p = load(write_profile, "/nonexistent/ttyS1", "  multiplex: cmux\n")
    master, slave = os.openpty()  # the AT channel: a tty nobody answers on
    data = tmp_path / "data"
    data.write_text("")
    calls: list[str] = []
    session = MuxSession(p, opener=opener_of(os.ttyname(slave), str(data), calls), support=lambda: None)
    from bg_pppd.daemon import mux_session

    clock = iter(range(0, 10_000, 5)).__next__  # a fake clock in steps of 5 s: the wait ends at once
    try:
        with pytest.raises(multiplexer.MuxFailed, match=r"AT channel .* does not answer"):
            session.open(clock=lambda: float(clock()))
    finally:
        os.close(master)
        os.close(slave)
    assert calls[-1] == "mux close" and session.mux is None and session.link_profile is p
    assert mux_session.SETTLE_WAIT >= 2 * 3, "two DLC opens, each a few seconds of the kernel's MSC wait"
