"""Guest side of tests/test_demo_uml.py: `bg-pppd demo` as root with kernel PPP, the whole way.

The demo runs in the guest's root namespace as a user would start it; a watcher records the
PPP interfaces the kernel shows meanwhile, and what is left afterwards.
"""

from __future__ import annotations

import glob
import shutil
import subprocess
import tempfile
import threading
import time
from pathlib import Path

from tests.uml_guest import PY, env, pppd_processes, record


def _addresses(seen: set[str], done: threading.Event) -> None:
    while not done.is_set():
        out = subprocess.run(["ip", "-o", "-4", "addr", "show"], capture_output=True, text=True).stdout
        seen.update(" ".join(line.split()[1:4]) for line in out.splitlines() if " ppp" in f" {line.split()[1]}")
        time.sleep(0.2)


def demo_runs(work: Path, scenarios: list[str], files: dict[str, str]) -> None:
    """``bg-pppd demo --scenario S`` for each (a built-in, or a name in ``files``: a scenario file
    written to WORK/NAME.yaml); its output, exit status, time, and what it left."""
    runs = []
    for name in scenarios:
        scenario = name
        if name in files:
            scenario = str(work / f"{name}.yaml")
            Path(scenario).write_text(files[name])
        seen: set[str] = set()
        done = threading.Event()
        watcher = threading.Thread(target=_addresses, args=(seen, done), daemon=True)
        watcher.start()
        t0 = time.monotonic()
        # the demo's TMPDIR, where what it leaves is seen (only its own); short, as a Unix socket's
        # path in it must stay within 107 bytes (pytest's tmp dirs are long)
        tmp = tempfile.mkdtemp(prefix="demo.")
        result = subprocess.run([PY, "-m", "bg_pppd", "demo", "--scenario", scenario],
                                capture_output=True, text=True, env={**env(), "TMPDIR": str(tmp)}, timeout=120)
        took = time.monotonic() - t0
        done.set()
        watcher.join(2)
        left = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout
        dirs_left = glob.glob(f"{tmp}/bg-pppd-demo.*")
        shutil.rmtree(tmp, ignore_errors=True)
        runs.append({"scenario": name, "rc": result.returncode, "out": result.stdout, "err": result.stderr,
                     "took": took, "addresses": sorted(seen), "pppd_left": pppd_processes(),
                     "bg_pppd_left": [line for line in left.splitlines() if "bg_pppd" in line],
                     "dirs_left": dirs_left,
                     "links_left": subprocess.run(["ip", "-o", "link", "show"], capture_output=True,
                                                  text=True).stdout.count(": ppp")})
    record(runs=runs)
