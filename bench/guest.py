"""The benchmark's part inside the UML guest (run by bench/run.py): measures, writes WORK/bench.json.

One run, side by side:
- cold start: the virtual module powered on the moment each arm starts (UART silent 2.5 s,
  registered 4 s after power-on, the module's own timings: time_scale 1): `bg-pppd up`, a
  `pppd persist holdoff 1` + chat loop as users run it today, and wvdial; the floor is the
  registration time plus the PPP exchange alone (ATD to IP of plain pppd on a ready module);
- the module's RDY to its first OK, per arm (the emulator's log);
- warm start (module idle and registered, the lab's 1/20 timings) against plain pppd + chat,
  with each interpreter given (Debian's python3 + python3-sh 1.14, the venv's PyPI sh 2.x);
- network drop to IP again, RSS and CPU while connected, with each interpreter.

Every time is time.time() in the guest: the emulator's log uses the same clock, so "power-on",
"RDY sent" and "ATD received" are read from it, and output lines are stamped as they are read.
"""

from __future__ import annotations

import json
import os
import signal
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import yaml

from bg_pppd.emulator.control import call as control_call
from tests import uml_guest as g

IP_LINE = "local  IP address"      # pppd's line, relayed by bg-pppd and by wvdial (as "--> local  IP ...")
CONNECTED = "to connected"         # bg-pppd's state switch
REGISTERED_AFTER_RDY = 1.5         # seconds: the cold scenario registers this long after the SIM is ready
# the module as it powers on: its UART silent 2.5 s (a BG95's), registered 1.5 s after RDY (4 s after
# power-on); every other timing the emulator's defaults for a BG95, unscaled (dial 0.5 s, URC gap 0.3 s)
COLD = {"time_scale": 1.0, "boot_at_start": True, "boot_time": 2.5, "port": "uart",
        "registration": [[0, 2], [REGISTERED_AFTER_RDY, 1]], "network": "pppd"}
READY = {**COLD, "boot_at_start": False, "registration": [[0, 1]]}   # the floor's module: same timings
WARM = {"time_scale": 0.05, "boot_at_start": False, "registration": [[0, 1]], "network": "pppd"}

# Plain pppd's connect script, as the warm-start arm has always used it
CLASSIC_CHAT = """ABORT BUSY
ABORT 'NO CARRIER'
ABORT ERROR
TIMEOUT 30
'' AT
OK ATD*99#
CONNECT ''
"""

# The glue users run today: a peer file that keeps pppd dialling, and its connect script.
# TIMEOUT 3: long enough for any answer of an LTE module (ATD*99# answers in under a second),
# short enough that an AT lost in the module's boot costs only 3 s.
LOOP_CHAT = """# /etc/chatscripts/bg95
ABORT BUSY
ABORT 'NO CARRIER'
ABORT 'NO DIALTONE'
ABORT 'NO ANSWER'
ABORT ERROR
TIMEOUT 3
'' AT
OK ATD*99#
CONNECT ''
"""
LOOP_PEER = """# /etc/ppp/peers/bg95
{link}
115200
connect "/usr/sbin/chat -v -f {chat}"
noauth
local
nocrtscts
noipdefault
usepeerdns
noipv6
persist
holdoff 1
maxfail 0
"""
# wvdial as its man page has it, for a cellular modem: no login (Stupid Mode), no carrier
# check (the pty has no DCD), dial for ever; Username/Password must be set, whatever they are
WVDIAL_CONF = """[Dialer Defaults]
Modem = {link}
Baud = 115200
Init1 = AT
Phone = *99#
Dial Command = ATD
Username = x
Password = x
Stupid Mode = yes
Carrier Check = no
Dial Attempts = 0
Auto Reconnect = on
Check Def Route = off
Check DNS = off
"""

USER_PROFILE = """modem:
  port: {link}
  line_backend: emulator
network:
  apn: internet
"""
LAB_PROFILE = """modem:
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
"""


class Output:
    """A process's output lines, each with the time it was read (a thread reads them)."""

    def __init__(self, proc: subprocess.Popen, name: str):
        self.proc, self.name = proc, name
        self.lines: list[tuple[float, str]] = []
        self._cond = threading.Condition()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        with open(g.WORK / "bench-output.log", "a") as log:
            for line in self.proc.stdout:
                now = time.time()
                log.write(f"{now:.3f} [{self.name}] {line}")
                with self._cond:
                    self.lines.append((now, line))
                    self._cond.notify_all()
        with self._cond:
            self.lines.append((time.time(), ""))  # end of output
            self._cond.notify_all()

    def wait(self, marker: str, after: float = 0.0, timeout: float = 60) -> float:
        """The time of the first line holding ``marker`` read after ``after``; RuntimeError past ``timeout``."""
        deadline = time.monotonic() + timeout
        seen = 0
        with self._cond:
            while True:
                for t, line in self.lines[seen:]:
                    if marker in line and t >= after:
                        return t
                seen = len(self.lines)
                if (seen and self.lines[-1][1] == "") or time.monotonic() > deadline:
                    break
                self._cond.wait(0.2)
        tail = "".join(line for _, line in self.lines[-15:])
        raise RuntimeError(f"{self.name}: {marker!r} not seen within {timeout} s:\n{tail}")


class Module:
    """The virtual module in its own emulator process, with its own log; powered on at start."""

    def __init__(self, tag: str, scenario: dict):
        self.link = g.WORK / "bg95"
        self.log = g.WORK / f"{tag}.emulator.log"
        self.log.unlink(missing_ok=True)
        path = g.WORK / f"{tag}.scenario.yaml"
        path.write_text(yaml.safe_dump(scenario))
        self.proc = subprocess.Popen([g.PY, "-m", "bg_pppd", "emulate", "--link", str(self.link), "--scenario",
                                      str(path), "--log", str(self.log)], stdout=subprocess.PIPE,
                                     stderr=open(g.WORK / f"{tag}.emulator.err", "w"), env=g.env())
        self.proc.stdout.readline()  # its device: the model started (booting, with boot_at_start)

    def events(self) -> list[tuple[float, str, str]]:
        out = []
        for line in self.log.read_text(errors="replace").splitlines():
            parts = line.split(" ", 2)
            if len(parts) == 3:
                out.append((float(parts[0]), parts[1], parts[2]))
        return out

    def first(self, kind: str, text: str, after: float = 0.0, exact: bool = True) -> float | None:
        for t, k, x in self.events():
            if k == kind and t >= after and (x == text if exact else x.startswith(text)):
                return t
        return None

    def control(self, op: str) -> dict:
        return control_call(f"{self.link}.control", op)

    def idle(self, timeout: float = 15) -> None:
        """Idle in command mode with the last call ended: every arm starts from the same module."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            st = self.control("status")
            if st.get("mode") == "command" and not st.get("session"):
                break
            time.sleep(0.1)
        time.sleep(0.5)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def spawn(name: str, cmd: list[str], env: dict | None = None) -> Output:
    """``cmd`` in the client namespace (``ip netns exec`` execs it: the pid is the program's)."""
    proc = subprocess.Popen(["ip", "netns", "exec", "client", *cmd], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, env=env or g.env(), start_new_session=True)
    return Output(proc, name)


def end(out: Output, timeout: float = 60) -> None:
    """SIGTERM, then whatever of its session is left (wvdial's pppd, a chat) is killed."""
    proc = out.proc
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    try:
        os.killpg(proc.pid, signal.SIGKILL)  # its own session (start_new_session): nothing else
    except ProcessLookupError:
        pass
    time.sleep(0.2)


def plain_pppd(link: Path) -> Output:
    chat = g.WORK / "classic.chat"
    chat.write_text(CLASSIC_CHAT)
    return spawn("plain pppd", ["/usr/sbin/pppd", str(link), "115200", "local", "noauth", "nodetach",
                                "noipdefault", "usepeerdns", "noipv6", "nocrtscts", "connect",
                                f"/usr/sbin/chat -f {chat}"])


def pppd_loop(link: Path) -> Output:
    chat = g.WORK / "bg95.chat"
    chat.write_text(LOOP_CHAT)
    peer = g.WORK / "bg95.peer"
    peer.write_text(LOOP_PEER.format(link=link, chat=chat))
    return spawn("pppd loop", ["/usr/sbin/pppd", "file", str(peer), "nodetach"])  # nodetach: as systemd runs it


def wvdial(link: Path) -> Output:
    conf = g.WORK / "wvdial.conf"
    conf.write_text(WVDIAL_CONF.format(link=link))
    return spawn("wvdial", ["/usr/bin/wvdial", "--config", str(conf)])


def bg_pppd(profile: Path, python: str) -> Output:
    return spawn(f"bg-pppd {python}", [python, "-m", "bg_pppd", "up", str(profile)])


def stats(values: list[float]) -> dict:
    return {"median": statistics.median(values), "min": min(values), "max": max(values), "n": len(values),
            "all": [round(v, 3) for v in values]}


# ----- cold start -------------------------------------------------------------------------------

def floor_round() -> float:
    """ATD to IP of plain pppd on a ready, registered module: the PPP exchange alone."""
    module = Module("floor", READY)
    try:
        module.idle()
        out = plain_pppd(module.link)
        ip = out.wait(IP_LINE, timeout=30)
        atd = module.first("cmd", "ATD*99#")
        end(out)
        return ip - atd
    finally:
        module.stop()


def cold_round(arm: str, start) -> dict:
    """Power the module on, start ``arm`` at once; its time to IP and the module's view of it."""
    module = Module(f"cold-{arm}", COLD)
    try:
        out = start(module.link)
        ip = out.wait(IP_LINE, timeout=60)
        end(out)
        on = module.first("event", "booting")
        rdy = module.first("urc", "RDY")
        ready = module.first("event", "ready")
        ok = module.first("final", "OK", after=rdy) if rdy else None
        events = module.events()
        atd = [t for t, k, x in module.events() if k == "cmd" and x == "ATD*99#"]
        return {"to_ip": ip - on, "registered": ready + REGISTERED_AFTER_RDY - on,
                "atd_to_ip": ip - atd[-1] if atd else None,  # the dial that connected: the last
                "rdy_to_ok": (ok - rdy) if ok else None,
                "atd_after_registered": (module.first("cmd", "ATD*99#", after=ready + REGISTERED_AFTER_RDY)
                                         or ip) - (ready + REGISTERED_AFTER_RDY),
                "escapes": sum(1 for _, k, x in events if "+++" in x or (k == "event" and x == "dtr off"))}
    finally:
        module.stop()


def cold_start(rounds: int, profile: Path, python: str) -> dict:
    arms = {"bg-pppd": lambda link: bg_pppd(profile, python), "pppd loop": pppd_loop, "wvdial": wvdial}
    found: dict[str, list[dict]] = {arm: [] for arm in arms}
    floors = []
    for _ in range(rounds):
        floors.append(floor_round())
        for arm, start in arms.items():
            try:
                found[arm].append(cold_round(arm, start))
            except RuntimeError as exc:  # an arm that does not connect is reported, not fatal
                found[arm].append({"error": str(exc)[-800:]})
    result: dict = {"exchange": stats(floors)}
    registered = [r["registered"] for rs in found.values() for r in rs if "registered" in r]
    result["registered"] = stats(registered)
    result["floor"] = result["registered"]["median"] + result["exchange"]["median"]
    for arm, rs in found.items():
        ok = [r for r in rs if "to_ip" in r]
        result[arm] = {"errors": [r["error"] for r in rs if "error" in r]}
        if ok:
            result[arm].update(to_ip=stats([r["to_ip"] for r in ok]),
                               rdy_to_ok=stats([r["rdy_to_ok"] for r in ok if r["rdy_to_ok"] is not None]),
                               atd_after_registered=stats([r["atd_after_registered"] for r in ok]),
                               atd_to_ip=stats([r["atd_to_ip"] for r in ok if r["atd_to_ip"] is not None]),
                               escapes=sum(r["escapes"] for r in ok))
    return result


# ----- warm start, drop, footprint -----------------------------------------------------------------

def warm_start(rounds: int, pythons: dict[str, str], profile: Path) -> dict:
    module = Module("warm", WARM)
    try:
        times: dict[str, list[float]] = {"plain pppd": [], **{name: [] for name in pythons}}
        from_pppd: dict[str, list[float]] = {name: [] for name in pythons}
        for _ in range(rounds):
            module.idle()
            t0 = time.time()
            out = plain_pppd(module.link)
            times["plain pppd"].append(out.wait(IP_LINE, timeout=30) - t0)
            end(out)
            for name, python in pythons.items():
                module.idle()
                t0 = time.time()
                out = bg_pppd(profile, python)
                times[name].append(out.wait(CONNECTED, timeout=60) - t0)
                from_pppd[name].append(out.wait(IP_LINE) - out.wait("to dialing"))
                end(out)
        result = {name: stats(v) for name, v in times.items()}
        for name in pythons:
            result[name]["ratio"] = result[name]["median"] / result["plain pppd"]["median"]
            # each round's pair, interleaved: a drift of the shared host over the run cancels out
            result[name]["round_ratio"] = stats([u / c for u, c in zip(times[name], times["plain pppd"])])
            result[name]["pppd_to_ip"] = stats(from_pppd[name])
        return result
    finally:
        module.stop()


def drop_and_footprint(python: str, profile: Path) -> dict:
    """Connected past stable_after, the network drops the call; then RSS and CPU while connected."""
    module = Module("drop", WARM)
    try:
        module.idle()
        out = bg_pppd(profile, python)
        out.wait(CONNECTED, timeout=60)
        time.sleep(3)  # past stable_after (2 s): the drop is redialled at once
        module.control("drop")
        dropped = module.first("control", "drop")
        redial = out.wait("to preflight", after=dropped, timeout=30)
        again = out.wait(CONNECTED, after=redial, timeout=60)
        pid = out.proc.pid

        def cpu() -> float:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        time.sleep(1)
        c0, t0 = cpu(), time.monotonic()
        time.sleep(10)
        c1, t1 = cpu(), time.monotonic()
        rss = next(int(line.split()[1]) for line in Path(f"/proc/{pid}/status").read_text().splitlines()
                   if line.startswith("VmRSS:"))
        end(out)
        return {"drop_to_redial": redial - dropped, "redial": again - redial, "drop_to_ip": again - dropped,
                "rss_mb": rss / 1024, "cpu_pct": 100 * (c1 - c0) / (t1 - t0)}
    finally:
        module.stop()


def multiplex_compare(rounds: int, python: str, profile_text: str) -> dict:
    """Issue 18: time to IP and drop to IP again, the plain main UART against CMUX (n_gsm), same
    module (a UART one, which accepts AT+CMUX), the arms interleaved round by round."""
    arms = {"uart": profile_text, "cmux": profile_text.replace("  line_backend: emulator\n",
                                                               "  line_backend: emulator\n  multiplex: cmux\n")}
    paths = {arm: g.profile(text, f"mux-{arm}") for arm, text in arms.items()}
    to_ip: dict[str, list[float]] = {arm: [] for arm in arms}
    again: dict[str, list[float]] = {arm: [] for arm in arms}
    errors: dict[str, list[str]] = {arm: [] for arm in arms}
    module = Module("mux", {**WARM, "port": "uart", "cmux": True})
    try:
        for _ in range(rounds):
            for arm, path in paths.items():
                module.idle()
                t0 = time.time()
                out = bg_pppd(path, python)
                try:
                    to_ip[arm].append(out.wait(CONNECTED, timeout=60) - t0)
                    time.sleep(3)  # past stable_after (2 s): the drop is redialled at once
                    module.control("drop")
                    dropped = module.first("control", "drop", after=t0)
                    again[arm].append(out.wait(CONNECTED, after=dropped, timeout=60) - dropped)
                except RuntimeError as exc:
                    errors[arm].append(str(exc)[-600:])
                end(out)
    finally:
        module.stop()
    return {arm: {"to_ip": stats(to_ip[arm]) if to_ip[arm] else None,
                  "drop_to_ip": stats(again[arm]) if again[arm] else None, "errors": errors[arm]}
            for arm in arms}


def interpreter(python: str) -> dict:
    """What ``python`` runs bg-pppd with, and its bare start-up in the guest."""
    probe = subprocess.run([python, "-c", "import sh, sys; print(sys.version.split()[0], sh.__version__)"],
                           capture_output=True, text=True, env=g.env())
    subprocess.run([python, "-c", "pass"], capture_output=True, env=g.env())  # hostfs caches warm
    runs = []
    for _ in range(5):
        t0 = time.monotonic()
        subprocess.run([python, "-c", "pass"], capture_output=True, env=g.env())
        runs.append(time.monotonic() - t0)
    version, _, sh = probe.stdout.strip().partition(" ")
    return {"python": version, "sh": sh, "pass_s": statistics.median(runs)}


def main() -> None:
    g.lab_setup(sys.argv[1])
    rounds = int(sys.argv[2])
    pythons = json.loads(sys.argv[3])  # {name: interpreter}
    link = g.WORK / "bg95"
    user = g.profile(USER_PROFILE.format(link=link), "cold")
    lab = g.profile(LAB_PROFILE.format(link=link), "lab")
    figures: dict = {"rounds": rounds, "interpreters": {n: interpreter(p) for n, p in pythons.items()}}
    began = time.monotonic()
    first = next(iter(pythons.values()))
    figures["cold"] = cold_start(rounds, user, first)
    figures["cold"]["python"] = next(iter(pythons))
    figures["cold_s"] = time.monotonic() - began
    figures["warm"] = warm_start(rounds, pythons, lab)
    figures["drop"] = {name: drop_and_footprint(python, lab) for name, python in pythons.items()}
    g.load_n_gsm()
    figures["multiplex"] = multiplex_compare(rounds, first, LAB_PROFILE.format(link=link))
    figures["guest_s"] = time.monotonic() - began
    (g.WORK / "bench.json").write_text(json.dumps(figures, indent=1))
    g.lab_teardown()


if __name__ == "__main__":
    main()
