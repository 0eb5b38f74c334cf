"""Shared test helpers: run the real CLI as a process, write profiles."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PPPD = shutil.which("pppd", path="/usr/sbin:/sbin:" + os.environ.get("PATH", ""))
CHAT = shutil.which("chat", path="/usr/sbin:/sbin:" + os.environ.get("PATH", ""))

needs_pppd = pytest.mark.skipif(PPPD is None, reason="pppd is not installed (apt-get install ppp)")
needs_chat = pytest.mark.skipif(CHAT is None, reason="chat is not installed (apt-get install ppp)")


def run_cli(*args: str, env: dict | None = None, timeout: float = 60, **kw) -> subprocess.CompletedProcess:
    full_env = {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}
    return subprocess.run([sys.executable, "-m", "bg_pppd", *args], capture_output=True, text=True,
                          env=full_env, timeout=timeout, **kw)


@pytest.fixture
def dirs(tmp_path, monkeypatch):
    """Run and state dirs in tmp, through the documented environment variables."""
    run, state = tmp_path / "run", tmp_path / "state"
    monkeypatch.setenv("BG_PPPD_RUN_DIR", str(run))
    monkeypatch.setenv("BG_PPPD_STATE_DIR", str(state))
    return run, state


@pytest.fixture
def write_profile(tmp_path):
    def write(text: str, name: str = "test") -> Path:
        path = tmp_path / f"{name}.yaml"
        path.write_text(textwrap.dedent(text))
        path.chmod(0o600)
        return path
    return write


def pppd_dryrun(peer: Path) -> subprocess.CompletedProcess:
    """Real pppd parses the file; exit 4 = parsed (no kernel PPP here), 2 = option error."""
    return subprocess.run([PPPD, "file", str(peer), "dryrun", "nodetach"], capture_output=True,
                          text=True, timeout=30, stdin=subprocess.DEVNULL)


class Bench:
    """A virtual module on a link in tmp, a profile pointing at it, and the module's log."""

    def __init__(self, tmp_path: Path, scenario: dict, profile_extra: str = "", start: bool = True):
        from bg_pppd.emulator import Emulator

        self.tmp = tmp_path
        self.link = tmp_path / "bg95"
        self.log = tmp_path / "emulator.log"
        self.state = tmp_path / "state"
        self.emu = Emulator({"boot_at_start": False, "time_scale": 0.05, "registration": [[0, 1]],
                             **scenario}, link=self.link, log=self.log,
                            control=f"{self.link}.control")
        self.profile = tmp_path / "bench.yaml"
        self.profile.write_text(textwrap.dedent(f"""\
            modem:
              port: {self.link}
              line_backend: emulator
            network:
              apn: internet
              poll_interval: 0.1
              registration_timeout: 3
            recovery:
              at_timeout: 2
              boot_timeout: 5
            """) + textwrap.dedent(profile_extra))
        self.profile.chmod(0o600)
        if start:
            self.start()

    def start(self):
        self.emu.__enter__()
        return self

    def stop(self):
        self.emu.__exit__(None, None, None)

    def commands(self) -> list[str]:
        return self.emu.commands()

    def check(self, *extra: str, timeout: float = 60) -> subprocess.CompletedProcess:
        return run_cli("--state-dir", str(self.state), "check", str(self.profile), *extra, timeout=timeout)


@pytest.fixture
def pty_module():
    """A pty whose master side a thread reads: ``state["path"]`` is the port; everything read
    gathers in ``state["got"]``, and ``state["answer"](got)`` says what to write back."""
    master, slave = os.openpty()
    state = {"path": os.ttyname(slave), "got": b"", "answer": lambda got: b"", "stop": False}

    def serve():
        while not state["stop"]:
            try:
                data = os.read(master, 1000)
            except OSError:
                return
            state["got"] += data
            reply = state["answer"](state["got"])
            if reply:
                os.write(master, reply)

    threading.Thread(target=serve, daemon=True).start()
    yield state
    state["stop"] = True
    os.close(master)
    os.close(slave)


@pytest.fixture
def bench(tmp_path):
    made = []

    def make(profile_extra: str = "", start: bool = True, **scenario) -> Bench:
        b = Bench(tmp_path, scenario, profile_extra, start)
        made.append(b)
        return b
    yield make
    for b in made:
        b.stop()


@pytest.fixture
def lab(tmp_path, tmp_path_factory):
    """The UML lab (tests/uml.py) for one test: real kernel, real pppd, the emulator in the guest."""
    from tests.uml import Lab

    return Lab(tmp_path, tmp_path_factory.getbasetemp())

