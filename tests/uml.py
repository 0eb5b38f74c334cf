"""The UML lab: a real Linux kernel with PPP, as a process, for real links in tests.

The guest's root is the host's filesystem (hostfs), so it runs this checkout,
this Python and /usr/sbin/pppd at the same paths, and leaves its results in
the test's tmp dir. Every run has a hard timeout and always powers off.
How the lab works and why: docs/ppp-lab.md.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bg_pppd.cli.demo_lab import GUEST_SETUP

ROOT = Path(__file__).resolve().parent.parent
UML = shutil.which("linux.uml")
SHIM_SRC = Path(__file__).parent / "lab" / "umlfpu.c"

_shim_cache: dict[str, str | None] = {}
# the key under which the guest's runner records a scenario's traceback (tests/uml_scenarios/__main__.py)
GUEST_ERROR = "scenario_error"


def why_no_uml() -> str | None:
    if not UML:
        return "linux.uml is not installed (apt-get install user-mode-linux)"
    if not shutil.which("pppd", path="/usr/sbin:/sbin"):
        return "pppd is not installed (apt-get install ppp)"
    if not shutil.which("gcc"):
        return "gcc is needed to build the UML shim"
    if not Path("/usr/lib/uml/modules").is_dir():
        return "no UML kernel modules in /usr/lib/uml/modules"
    return None


def skip_without_uml():
    import pytest  # here: bench/run.py uses this module without pytest

    reason = why_no_uml()
    if reason:
        print(f"\n*** UML lab unavailable: {reason}; real-link tests SKIPPED ***", file=sys.stderr)
    return pytest.mark.skipif(reason is not None, reason=f"UML lab unavailable: {reason}")


def shim(cache_dir: Path) -> str:
    """Build the LD_PRELOAD shim that lets UML run on hosts with a large XSAVE area."""
    if "path" not in _shim_cache:
        out = cache_dir / "umlfpu.so"
        subprocess.run(["gcc", "-O2", "-shared", "-fPIC", "-o", str(out), str(SHIM_SRC), "-ldl"],
                       check=True, capture_output=True)
        _shim_cache["path"] = str(out)
    return _shim_cache["path"]


INIT = """\
#!/bin/sh
""" + GUEST_SETUP + """\
ip netns add client
ip netns exec client ip link set lo up
cd {root}
PYTHONPATH={root} {python} {driver} > {work}/driver.out 2>&1
echo $? > {work}/driver.rc
poweroff -f
"""


class Lab:
    """One test's guest: its files live in ``work`` (the test's tmp dir), which the guest shares."""

    def __init__(self, work: Path, cache: Path):
        self.work = work
        self.cache = cache

    def call(self, scenario: Callable[..., None], *, timeout: float = 180, python: str | None = None,
             **args: Any) -> dict:
        """Boot the guest, run ``scenario(work, **args)`` there, return what it recorded.

        ``scenario`` is a function of a module under tests/uml_scenarios/; the guest imports that
        module and calls it with ``args`` decoded from WORK/call.json (data, not code). If the
        scenario raises, this raises with the guest's traceback, so a failing step is named by
        its file and line.
        """
        call = {"module": scenario.__module__, "function": scenario.__qualname__, "work": str(self.work),
                "args": args}
        path = self.work / "call.json"
        path.write_text(json.dumps(call, indent=1))
        results = self._boot(f"-m tests.uml_scenarios {shlex.quote(str(path))}", timeout, python)
        error = results.pop(GUEST_ERROR, None)
        if error:
            recorded = json.dumps(results, default=str)[:3000]
            up_log = "\n".join(self.file("up.log").splitlines()[-20:])
            raise AssertionError(f"scenario {call['module']}.{call['function']} failed in the guest:\n{error}\n"
                                 f"recorded before: {recorded}\n--- up.log\n{up_log}\n{self.tail()}")
        return results

    def _boot(self, driver: str, timeout: float, python: str | None) -> dict:
        """Run the guest with ``driver`` (the arguments of its Python) and read WORK/results.json."""
        init = self.work / "init.sh"
        init.write_text(INIT.format(root=ROOT, python=python or sys.executable, driver=driver,
                                    work=self.work))
        init.chmod(0o755)
        env = {**os.environ, "LD_PRELOAD": shim(self.cache)}
        console = open(self.work / "console.txt", "wb")
        proc = subprocess.Popen(
            [UML, "mem=384M", "root=/dev/root", "rootfstype=hostfs", "rootflags=/", "rw",
             f"init={init}", "con0=fd:0,fd:1", "con=null", "ssl=null"],
            stdin=subprocess.DEVNULL, stdout=console, stderr=subprocess.STDOUT, env=env,
            start_new_session=True)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            raise AssertionError(f"UML guest did not power off within {timeout} s:\n{self.tail()}") from None
        finally:
            console.close()
        results = self.work / "results.json"
        if not results.exists():
            raise AssertionError(f"the guest wrote no results:\n{self.tail()}")
        return json.loads(results.read_text())

    def tail(self) -> str:
        parts = []
        for name in ("driver.out", "console.txt"):
            path = self.work / name
            if path.exists():
                parts.append(f"--- {name}\n" + "\n".join(path.read_text(errors="replace").splitlines()[-40:]))
        return "\n".join(parts)

    def file(self, name: str) -> str:
        path = self.work / name
        return path.read_text(errors="replace") if path.exists() else ""
