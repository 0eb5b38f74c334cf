#!/usr/bin/env python3
"""bg-pppd benchmark: prints figures measured on a real PPP link in the UML lab and on this host.

    python3 bench/run.py            # about 2 minutes; BENCH_ROUNDS=N (default 5) start-to-IP rounds

- time from start to IP up: `bg-pppd up` (pre-flight included) vs plain `pppd` with a classic
  hand-written chat script, on the same virtual module (median of BENCH_ROUNDS, default 5);
- time from a network drop (network-side pppd killed) to IP up again;
- the supervisor's RSS and CPU time over 30 s connected;
- `bg-pppd --help` and `bg-pppd status` start-up time against `python3 -c pass`.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.uml import INIT, UML, shim, why_no_uml  # noqa: E402


def startup(cmd: list[str], runs: int = 20) -> float:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(cmd, capture_output=True, env=env)
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def main() -> int:
    py = sys.executable
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        base = startup([py, "-c", "pass"])
        help_ms = startup([py, "-m", "bg_pppd", "--help"])
        status_ms = startup([py, "-m", "bg_pppd", "--run-dir", tmp, "status", "x"])
        print(f"python3 -c pass            {base:7.1f} ms")
        print(f"bg-pppd --help             {help_ms:7.1f} ms  (+{help_ms - base:.1f} ms)")
        print(f"bg-pppd status             {status_ms:7.1f} ms  (+{status_ms - base:.1f} ms)")
        reason = why_no_uml()
        if reason:
            print(f"UML lab unavailable ({reason}): link figures skipped")
            return 1
        init = work / "init.sh"
        rounds = int(os.environ.get("BENCH_ROUNDS", "5"))
        init.write_text(INIT.format(root=ROOT, python=py, driver=f"{ROOT}/bench/guest.py {work} {rounds}",
                                    work=work))
        init.chmod(0o755)
        env = {**os.environ, "LD_PRELOAD": shim(work)}
        with open(work / "console.txt", "wb") as console:
            subprocess.run([UML, "mem=384M", "root=/dev/root", "rootfstype=hostfs", "rootflags=/", "rw",
                            f"init={init}", "con0=fd:0,fd:1", "con=null", "ssl=null"],
                           stdin=subprocess.DEVNULL, stdout=console, stderr=subprocess.STDOUT, env=env,
                           timeout=600)
        if (work / "bench-output.log").exists():
            (ROOT / "bench" / "last-output.log").write_text((work / "bench-output.log").read_text())
        try:
            figures = json.loads((work / "bench.json").read_text())
        except FileNotFoundError:
            print((work / "driver.out").read_text() if (work / "driver.out").exists() else "no output")
            return 1
    def spread(key: str) -> str:
        low, high = figures[key]
        return f"{low * 1000:.0f}-{high * 1000:.0f} ms"
    print(f"plain pppd + chat to IP    {figures['classic_pppd_to_ip_s'] * 1000:7.0f} ms (median of "
          f"{figures['rounds']}, {spread('classic_range_s')})")
    print(f"bg-pppd up to IP           {figures['bg_pppd_up_to_ip_s'] * 1000:7.0f} ms "
          f"({figures['overhead_pct']:+.1f} %, {spread('up_range_s')})")
    print(f"  of which pppd's start to IP {figures['up_pppd_to_ip_s'] * 1000:5.0f} ms "
          f"({100 * (figures['up_pppd_to_ip_s'] / figures['classic_pppd_to_ip_s'] - 1):+.1f} % against plain pppd)")
    print(f"network drop to IP again   {figures['drop_to_ip_again_s'] * 1000:7.0f} ms (DCD via AT&C1): "
          f"{figures['drop_to_redial_s'] * 1000:.0f} ms to the redial's start, the redial "
          f"{figures['redial_s'] * 1000:.0f} ms")
    print(f"supervisor RSS connected   {figures['rss_mb']:7.1f} MB")
    print(f"supervisor CPU, 30 s up    {figures['connected_cpu_s_per_30s']:7.3f} s "
          f"({figures['connected_cpu_pct']:.2f} %)")
    floor = figures["guest_python_pass_s"] / figures["classic_pppd_to_ip_s"] * 100
    print(f"in the guest: python3 -c pass {figures['guest_python_pass_s'] * 1000:.0f} ms, "
          f"bg-pppd --help {figures['guest_help_s'] * 1000:.0f} ms (UML's hostfs makes imports slow)")
    print(f"floor for any Python wrapper here: the bare interpreter's start is {floor:.0f} % of plain "
          f"pppd's time to IP")
    print("phases of bg-pppd up (s from start, medians): " +
          ", ".join(f"{k} {v:.2f}" for k, v in figures["phases"].items()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
