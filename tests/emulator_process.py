"""The emulator as a child process (``bg-pppd emulate``), for tests and the bench that need it apart.

A test helper, not part of the package: it writes the scenario as YAML next to the link,
starts ``python -m bg_pppd emulate`` and talks to its control socket.
"""

from __future__ import annotations

import dataclasses
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

from bg_pppd.emulator import Scenario
from bg_pppd.emulator.control import call


class EmulatorProcess:
    """Same scenario and control socket as the in-process ``Emulator``; the command log is a file."""

    def __init__(self, scenario: Scenario | dict | None, link: str | os.PathLike,
                 log: str | os.PathLike | None = None, python: str | None = None,
                 at_link: str | os.PathLike | None = None):
        sc = scenario if isinstance(scenario, Scenario) else Scenario.from_dict(scenario)
        self.link = Path(link)
        self.at_link = Path(at_link) if at_link else None
        self.control = f"{self.link}.control"
        self.log = Path(log) if log else self.link.with_name(self.link.name + ".log")
        self.scenario_file = self.link.with_name(self.link.name + ".scenario.yaml")
        self.scenario_file.write_text(yaml.safe_dump(dataclasses.asdict(sc)))
        self.python = python or sys.executable
        self.proc: subprocess.Popen | None = None
        self.device: str | None = None

    def __enter__(self) -> EmulatorProcess:
        self.proc = subprocess.Popen(
            [self.python, "-m", "bg_pppd", "emulate", "--link", str(self.link), "--scenario",
             str(self.scenario_file), "--log", str(self.log),
             *(["--at-link", str(self.at_link)] if self.at_link else [])], stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL, text=True)
        self.device = self.proc.stdout.readline().strip()
        if not self.device:
            self.proc.wait(5)
            raise RuntimeError(f"bg-pppd emulate did not start (exit {self.proc.returncode})")
        return self

    def call(self, op: str, **args: Any) -> dict[str, Any]:
        return call(self.control, op, **args)

    def __exit__(self, *exc: object) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
