"""The demo's link: ``bg-pppd up`` as a child process against the virtual module, its log shown
line by line, then IP up, a ping across, ``status`` and a clean ``down``.

``up``'s own code runs unchanged (the checkout's or the package's, whichever runs the demo);
the demo only reads what a user would: its log, its status file, the kernel's interface.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import signal
import subprocess
import threading
import time
from collections.abc import Callable

from bg_pppd.cli.demo_dial import Clock
from bg_pppd.cli.demo_module import bg_pppd_argv, child_env
from bg_pppd.daemon import main as updown
from bg_pppd.daemon.run_dir import RunDir
from bg_pppd.daemon.status import Status, read_status
from bg_pppd.util import programs

_STAMP = re.compile(r"^\d\d:\d\d:\d\d\.\d{3} ")  # the daemon's own time of day: ours replaces it
STOP_WAIT = 20.0  # seconds for up to end pppd and itself on SIGTERM before the SIGKILL


class Daemon:
    """``bg-pppd up PROFILE`` in its own session (a Ctrl-C is the demo's to pass on)."""

    def __init__(self, profile: str, name: str, run_dir: str, state_dir: str, clock: Clock):
        self.profile, self.name, self.run_dir, self.state_dir = profile, name, run_dir, state_dir
        self.clock = clock
        self.status_path = RunDir(run_dir, name).status_path
        self.proc: subprocess.Popen | None = None
        self._pump: threading.Thread | None = None

    def start(self) -> None:
        argv = bg_pppd_argv("--run-dir", self.run_dir, "--state-dir", self.state_dir, "up", self.profile)
        env = {k: v for k, v in child_env().items() if k not in ("JOURNAL_STREAM", "INVOCATION_ID", "NOTIFY_SOCKET")}
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, env=env, start_new_session=True, text=True,
                                     errors="replace")
        self._pump = threading.Thread(target=self._show_log, name="demo-up-log", daemon=True)
        self._pump.start()

    def _show_log(self) -> None:
        for line in self.proc.stdout:
            self.clock.say(f"up: {_STAMP.sub('', line.rstrip())}")

    def status(self) -> Status | None:
        return read_status(self.status_path)

    def wait_for(self, ready: Callable[[Status], bool], timeout: float) -> Status | None:
        """The status once ``ready`` says so; None when up ended first or the time ran out."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self.proc.poll() is None:
            st = self.status()
            if st is not None and ready(st):
                return st
            time.sleep(0.1)
        return None

    def exit_code(self, timeout: float) -> int | None:
        try:
            code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None
        self._join()
        return code

    def down(self) -> int:
        """``bg-pppd down``, as a user types it (its one line shown); up's exit status."""
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            updown.down(self.name, self.run_dir, timeout=STOP_WAIT)
        for line in out.getvalue().splitlines():
            self.clock.say(f"down: {line}")
        code = self.exit_code(5.0)
        return self.stop() if code is None else code

    def stop(self) -> int:
        """End up however it is (SIGTERM, then SIGKILL of its session, pppd with it)."""
        proc = self.proc
        if proc is None:
            return 0
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(STOP_WAIT)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        self._join()
        return proc.returncode

    def _join(self) -> None:
        if self._pump is not None:
            self._pump.join(5)


def status_text(name: str, run_dir: str) -> str:
    """What ``bg-pppd status NAME`` prints."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        updown.status(name, run_dir, as_json=False)
    return out.getvalue()


def ping(st: Status, clock: Clock, count: int = 3) -> bool:
    """Ping the peer through the PPP interface; each reply shown. True when all came back (or
    when there is no ping to run: the link is up all the same, and it says so)."""
    tool = programs.find("ping")
    if not tool:
        clock.say("ping: not installed (apt-get install iputils-ping): the link is not pinged")
        return True
    # -w: ping goes on until ``count`` replies came (or the deadline passed), so an echo sent the
    # moment IP is up, before the peer's side of the link is ready, is sent again (seen in the lab)
    argv = [tool, "-n", "-c", str(count), "-w", str(5 + count), "-i", "0.2", "-W", "2", "-I", st["interface"],
            st["remote_ip"]]
    clock.say(f"$ ping -c {count} -I {st['interface']} {st['remote_ip']}")
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=10 + 2 * count)
    except subprocess.TimeoutExpired:
        clock.say("ping: no end within its time")
        return False
    for line in done.stdout.splitlines():
        if " bytes from " in line or "packets transmitted" in line:
            clock.say(f"ping: {line.strip()}")
    return done.returncode == 0


def connected(pppd_before: int | None = None) -> Callable[[Status], bool]:
    """Connected with an address, by another pppd than ``pppd_before`` (after a redial)."""
    def ready(st: Status) -> bool:
        return st["state"] == "connected" and bool(st["local_ip"]) and st["pppd_pid"] != pppd_before
    return ready
