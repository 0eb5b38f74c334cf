"""The demo's virtual module: ``bg-pppd emulate`` as a child process, as a user would start it.

The child is the Python running this bg-pppd (``sys.executable -m bg_pppd``), told where this
bg_pppd package lives, so the checkout and the installed package each run their own. With a
link to bring up, it runs in a network namespace of its own (``unshare --net``): the
network-side pppd and its address are then across the link from the host, as a cell is, and
a ping to the peer really crosses it.
"""

from __future__ import annotations

import dataclasses
import os
import select
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import bg_pppd
from bg_pppd.cli.demo_setup import SCENARIOS, Builtin
from bg_pppd.emulator.scenario import Scenario
from bg_pppd.util.control_socket import control_call
from bg_pppd.util.errors import EXIT_FAILURE, EXIT_PROFILE, BgPppdError

START_TIMEOUT = 15.0


class ModuleFailed(BgPppdError):
    """The virtual module could not start (exit 1; 2 for a scenario it cannot use)."""


def child_env() -> dict[str, str]:
    """The environment for our children: this bg_pppd package first on their import path."""
    root = str(Path(bg_pppd.__file__).resolve().parent.parent)
    path = os.environ.get("PYTHONPATH", "")
    return {**os.environ, "PYTHONPATH": f"{root}{os.pathsep}{path}" if path else root}


def bg_pppd_argv(*args: str) -> list[str]:
    return [sys.executable, "-m", "bg_pppd", *args]


def scenario_for(name: str) -> tuple[Scenario, Builtin | None]:
    """A built-in scenario by name, or a scenario file as ``bg-pppd emulate --scenario`` takes it."""
    if name in SCENARIOS:
        builtin = SCENARIOS[name]
        return Scenario.from_dict(dict(builtin.module)), builtin
    if os.path.exists(name):
        try:
            return Scenario.load(name), None
        except (OSError, ValueError) as exc:
            raise _usage(f"--scenario {name}: {getattr(exc, 'strerror', None) or exc}") from None
    raise _usage(f"--scenario {name}: neither a built-in scenario ({', '.join(SCENARIOS)}) nor a file")


def _usage(message: str) -> ModuleFailed:
    error = ModuleFailed(message)
    error.exit_code = EXIT_PROFILE
    return error


class VirtualModule:
    """``bg-pppd emulate --link DIR/bg95`` with the scenario written to DIR/scenario.yaml."""

    def __init__(self, directory: str, scenario: Scenario, with_link: bool):
        self.dir = Path(directory)
        self.link = self.dir / "bg95"
        self.control_path = f"{self.link}.control"
        self.log = self.dir / "emulator.log"
        self.scenario = dataclasses.replace(
            scenario, network="pppd" if with_link else "sink",
            network_log=str(self.dir / "network.log") if with_link else "")
        unshare = shutil.which("unshare", path="/usr/bin:/bin:/usr/sbin:/sbin") if with_link else None
        self.isolated = bool(unshare)
        self.prefix = [unshare, "--net", "--"] if unshare else []
        self.proc: subprocess.Popen | None = None
        self.device = ""

    @property
    def boot_time(self) -> float:
        return self.scenario.scaled("boot_time") if self.scenario.boot_at_start else 0.0

    def start(self) -> str:
        """Start it; its pty. ModuleFailed, with the emulator's own last word, when it cannot."""
        import yaml

        scenario_file = self.dir / "scenario.yaml"
        scenario_file.write_text(yaml.safe_dump(dataclasses.asdict(self.scenario)))
        argv = [*self.prefix, *bg_pppd_argv("emulate", "--link", str(self.link), "--scenario",
                                            str(scenario_file), "--log", str(self.log))]
        errors = open(self.dir / "emulator.err", "w+")
        try:  # its own session: a Ctrl-C reaches the demo only, which ends the module last
            self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                         stderr=errors, env=child_env(), start_new_session=True, text=True)
        except OSError as exc:
            errors.close()
            raise ModuleFailed(f"the virtual module cannot start: {argv[0]}: {exc.strerror}") from None
        with errors:
            ready = select.select([self.proc.stdout], [], [], START_TIMEOUT)[0]
            self.device = self.proc.stdout.readline().strip() if ready else ""
            if self.device:
                return self.device
            code = self._end()
            errors.seek(0)
            last = ([line.strip() for line in errors if line.strip()] or ["no message"])[-1]
        failed = ModuleFailed(f"the virtual module did not start (exit {code}): {last}")
        if code == EXIT_PROFILE:
            failed.exit_code = EXIT_PROFILE
        raise failed

    def control(self, op: str, **args: object) -> dict:
        """One request on its control socket (a fault, a line); {} when it does not answer."""
        try:
            return control_call(self.control_path, op, 5.0, **args)
        except OSError:
            return {}

    def stop(self) -> None:
        if self.proc is not None:
            self._end()

    def _end(self) -> int:
        """SIGTERM (it ends its network-side pppd itself), SIGKILL if it lingers; its exit code."""
        proc = self.proc
        if proc.poll() is None:
            try:
                proc.send_signal(signal.SIGTERM)
                proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        if proc.stdout:
            proc.stdout.close()
        return EXIT_FAILURE if proc.returncode is None else proc.returncode
