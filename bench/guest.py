"""The benchmark's part inside the UML guest (run by bench/run.py); prints JSON figures."""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from tests import uml_guest as g

CLASSIC_CHAT = """ABORT BUSY
ABORT 'NO CARRIER'
ABORT ERROR
TIMEOUT 30
'' AT
OK ATD*99#
CONNECT ''
"""


PHASES: dict[str, list[float]] = {}


def time_until(proc: subprocess.Popen, marker: str, timeout: float = 60, phases: bool = False) -> float:
    """Seconds from now until ``marker`` appears in the process's output (``phases``: bg-pppd's)."""
    start = time.monotonic()
    for line in proc.stdout:
        with open(g.WORK / "bench-output.log", "a") as out:
            out.write(line)
        for phase in ("to preflight", "to dialing", "CONNECT", "local  IP") if phases else ():
            if phase in line:
                PHASES.setdefault(phase, []).append(time.monotonic() - start)
        if marker in line:
            return time.monotonic() - start
        if time.monotonic() - start > timeout:
            break
    raise RuntimeError(f"{marker!r} not seen")


def settle(link: Path, timeout: float = 15) -> None:
    """Both arms start from the same module: idle, in command mode, the last call ended."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        st = g.control(link, "status")
        if st.get("mode") == "command" and not st.get("session"):
            break
        time.sleep(0.1)
    time.sleep(0.5)


def classic(link: Path) -> float:
    chat = g.WORK / "classic.chat"
    chat.write_text(CLASSIC_CHAT)
    proc = subprocess.Popen(["ip", "netns", "exec", "client", "/usr/sbin/pppd", str(link), "115200", "local",
                             "noauth", "nodetach", "noipdefault", "usepeerdns", "noipv6", "nocrtscts",
                             "connect", f"/usr/sbin/chat -f {chat}"], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    took = time_until(proc, "local  IP address")
    proc.terminate()
    proc.wait(30)
    return took


def up_once(profile: Path) -> tuple[float, subprocess.Popen]:
    proc = subprocess.Popen(["ip", "netns", "exec", "client", g.PY, "-m", "bg_pppd", "up", str(profile)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=g.env())
    return time_until(proc, "to connected", phases=True), proc


def main() -> None:
    g.lab_setup(sys.argv[1])
    rounds = int(sys.argv[2])
    link = g.emulator({"time_scale": 0.05})
    profile = g.profile(f"""modem:
  port: {link}
  line_backend: emulator
network:
  apn: internet
  poll_interval: 0.1
ppp:
  lcp_echo_interval: 1
  lcp_echo_failure: 2
recovery:
  retry_wait: 1
  stable_after: 2
""")
    figures: dict = {}
    for name, cmd in (("guest_python_pass_s", [g.PY, "-c", "pass"]),
                      ("guest_help_s", [g.PY, "-m", "bg_pppd", "--help"])):
        runs = []
        for _ in range(5):
            t0 = time.monotonic()
            subprocess.run(cmd, capture_output=True, env=g.env())
            runs.append(time.monotonic() - t0)
        figures[name] = statistics.median(runs)
    classic_times, up_times = [], []
    for _ in range(rounds):
        settle(link)
        classic_times.append(classic(link))
        settle(link)
        took, proc = up_once(profile)
        up_times.append(took)
        proc.terminate()
        proc.wait(60)
    figures["classic_pppd_to_ip_s"] = statistics.median(classic_times)
    figures["bg_pppd_up_to_ip_s"] = statistics.median(up_times)
    figures["classic_range_s"] = [min(classic_times), max(classic_times)]
    figures["up_range_s"] = [min(up_times), max(up_times)]
    # what the wrapper adds once its pppd runs: pppd spawned -> pppd's IP line, each round
    from_pppd = [ip - dial for dial, ip in zip(PHASES["to dialing"], PHASES["local  IP"])]
    figures["up_pppd_to_ip_s"] = statistics.median(from_pppd)
    figures["overhead_pct"] = 100 * (figures["bg_pppd_up_to_ip_s"] / figures["classic_pppd_to_ip_s"] - 1)

    settle(link)
    _, proc = up_once(profile)
    time.sleep(3)  # past stable_after: the drop is redialled at once
    ctl = str(link) + ".control"
    subprocess.run([g.PY, "-m", "bg_pppd.emulator.control", ctl, "drop"], env=g.env(), capture_output=True)
    figures["drop_to_redial_s"] = time_until(proc, "from waiting to preflight")  # detected, pppd gone
    figures["redial_s"] = time_until(proc, "to connected")
    figures["drop_to_ip_again_s"] = figures["drop_to_redial_s"] + figures["redial_s"]
    # the supervisor's footprint while connected
    pid = proc.pid
    # ip netns exec execs python: the pid is the daemon's
    def cpu() -> float:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    c0, t0 = cpu(), time.monotonic()
    time.sleep(30)
    c1, t1 = cpu(), time.monotonic()
    rss = next(int(line.split()[1]) for line in Path(f"/proc/{pid}/status").read_text().splitlines()
               if line.startswith("VmRSS:"))
    figures["connected_cpu_s_per_30s"] = c1 - c0
    figures["connected_cpu_pct"] = 100 * (c1 - c0) / (t1 - t0)
    figures["rss_mb"] = rss / 1024
    proc.terminate()
    proc.wait(60)
    figures["rounds"] = rounds
    figures["phases"] = {k: statistics.median(v) for k, v in PHASES.items()}
    (g.WORK / "bench.json").write_text(json.dumps(figures))
    g.RESULTS.update(figures)
    g.lab_teardown()


if __name__ == "__main__":
    main()
