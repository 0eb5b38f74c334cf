#!/usr/bin/env python3
"""bg-pppd benchmark: figures measured on a real PPP link in the UML lab and on this host.

    .venv/bin/python bench/run.py     # about 6 minutes; BENCH_ROUNDS=N (default 5) rounds per arm

Prints the figures and writes them into BENCHMARKS.md (between its "bench:begin/end" marks).
What is measured, in one guest run (bench/guest.py): cold start (bg-pppd, a pppd persist + chat
loop, wvdial, against the floor), the module's RDY to its first OK, warm start against plain
pppd + chat with Debian's python3 + python3-sh 1.14 and with the venv's PyPI sh 2.x, a network
drop to IP again, RSS and CPU while connected; on the host, `--help` and `status` start-up.
Not part of CI (.ci/run does not run it): it measures, it asserts nothing.
wvdial comes from bench/setup (Debian's package), run here when wvdial is missing and we are root.
"""

from __future__ import annotations

import datetime
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.uml import INIT, UML, shim, why_no_uml  # noqa: E402

DEBIAN = "/usr/bin/python3"
VENV = str(ROOT / ".venv" / "bin" / "python")
BEGIN, END = "<!-- bench:begin -->", "<!-- bench:end -->"
TARGETS = {"cold_over_floor": 0.3, "rdy_to_ok": 0.15, "warm_ratio": 1.5, "drop_over_redial": 0.2, "rss_mb": 20}


def startup(cmd: list[str], runs: int = 20) -> float:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(cmd, capture_output=True, env=env)
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms"


def spread(s: dict) -> str:
    """median (min-max) in ms."""
    return f"{s['median'] * 1000:.0f} ms ({s['min'] * 1000:.0f}-{s['max'] * 1000:.0f})"


def met(ok: bool) -> str:
    return "met" if ok else "**not met**"


def rows(f: dict, host: dict) -> list[tuple[str, str, str]]:
    """(figure, result, target) rows: the table printed and written to BENCHMARKS.md."""
    cold, warm, n = f["cold"], f["warm"], f["rounds"]
    floor = cold["floor"]
    out = [
        ("host: `python3 -c pass`", f"{host['pass']:.1f} ms", ""),
        ("host: `bg-pppd --help`", f"{host['help']:.1f} ms (+{host['help'] - host['pass']:.1f})", "< 150 ms: "
         + met(host["help"] < 150)),
        ("host: `bg-pppd status`", f"{host['status']:.1f} ms (+{host['status'] - host['pass']:.1f})", "< 150 ms: "
         + met(host["status"] < 150)),
        ("cold: registered after power-on (the scenario's 4 s, as the emulator ran it)",
         spread(cold["registered"]), ""),
        ("cold: the PPP exchange alone (plain pppd, `ATD` to IP, ready module)", spread(cold["exchange"]), ""),
        ("cold: **floor** = registration + PPP exchange (medians)", ms(floor), ""),
    ]
    for arm in ("bg-pppd", "pppd loop", "wvdial"):
        a = cold[arm]
        if "to_ip" not in a:
            out.append((f"cold: {arm}, power-on to IP", "did not connect: " + (a["errors"] or ["?"])[0][:120], ""))
            continue
        over = a["to_ip"]["median"] - floor
        target = ""
        if arm == "bg-pppd":
            loop = cold["pppd loop"].get("to_ip", {}).get("median")
            ahead = loop is not None and a["to_ip"]["median"] < loop
            target = f"<= floor + 0.3 s: {met(over <= TARGETS['cold_over_floor'])}; ahead of the loop: {met(ahead)}"
        errors = f", {len(a['errors'])} of {n} rounds did not connect" if a["errors"] else ""
        out.append((f"cold: {arm}, power-on to IP (median of {a['to_ip']['n']}, range)",
                    f"{spread(a['to_ip'])}, floor {over * 1000:+.0f} ms{errors}", target))
    for arm in ("bg-pppd", "pppd loop", "wvdial"):
        a = cold[arm]
        if a.get("rdy_to_ok", {}).get("n"):
            target = f"<= 150 ms: {met(a['rdy_to_ok']['median'] <= TARGETS['rdy_to_ok'])}" if arm == "bg-pppd" else ""
            out.append((f"cold: {arm}, the module's RDY to its first OK", spread(a["rdy_to_ok"]), target))
            out.append((f"cold: {arm}, registered to `ATD`", spread(a["atd_after_registered"]),
                        f"+++/DTR drops sent: {a['escapes']}"))
            out.append((f"cold: {arm}, its `ATD` to IP (the PPP exchange)", spread(a["atd_to_ip"]), ""))
    out.append(("warm: plain pppd + chat, start to IP", spread(warm["plain pppd"]), ""))
    for name, info in f["interpreters"].items():
        w = warm[name]
        label = f"Python {info['python']}, sh {info['sh']}"
        rr = w["round_ratio"]
        out.append((f"warm: `bg-pppd up` ({label}), start to IP", f"{spread(w)}, {w['ratio']:.2f}x; round by "
                    f"round {rr['median']:.2f}x ({rr['min']:.2f}-{rr['max']:.2f})",
                    f"<= 1.5x: {met(w['ratio'] <= TARGETS['warm_ratio'])}"))
        out.append((f"warm: of which its pppd's start to IP ({name})", spread(w["pppd_to_ip"]), ""))
        out.append((f"guest: `python3 -c pass` ({name})",
                    f"{ms(info['pass_s'])}, {100 * info['pass_s'] / warm['plain pppd']['median']:.0f} % of plain "
                    "pppd", ""))
    for name, d in f["drop"].items():
        over = d["drop_to_ip"] - d["redial"]
        out.append((f"drop to IP again ({name})", f"{d['drop_to_ip']:.2f} s: {d['drop_to_redial']:.2f} s to the "
                    f"redial, the redial {d['redial']:.2f} s",
                    f"<= redial + 0.2 s: {met(over <= TARGETS['drop_over_redial'])}"))
        out.append((f"supervisor RSS connected ({name})", f"{d['rss_mb']:.1f} MB",
                    f"<= 20 MB: {met(d['rss_mb'] <= TARGETS['rss_mb'])}"))
        out.append((f"supervisor CPU connected ({name})", f"{d['cpu_pct']:.2f} %", ""))
    for arm, m in f.get("multiplex", {}).items():  # issue 18: the same UART module, plain or CMUX
        label = "CMUX (n_gsm)" if arm == "cmux" else "plain main UART"
        failed = f"; {len(m['errors'])} round(s) failed" if m["errors"] else ""
        out.append((f"mux: {label}, start to IP", (spread(m["to_ip"]) if m["to_ip"] else "none") + failed, ""))
        out.append((f"mux: {label}, drop to IP again", spread(m["drop_to_ip"]) if m["drop_to_ip"] else "none", ""))
    return out


def write_benchmarks(table: list[tuple[str, str, str]], f: dict) -> None:
    """Replace the generated section of BENCHMARKS.md; the prose around it stays."""
    path = ROOT / "BENCHMARKS.md"
    text = path.read_text() if path.exists() else "# Benchmarks\n"
    interp = "; ".join(f"{n}: Python {i['python']} with sh {i['sh']}" for n, i in f["interpreters"].items())
    body = "\n".join([
        BEGIN,
        f"Last run: {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC on {platform.machine()}, "
        f"{os.cpu_count()} cores, {f['rounds']} rounds per arm ({interp}; cold start with {f['cold']['python']}); "
        f"the guest part took {f['guest_s']:.0f} s. Written by `bench/run.py`.",
        "",
        "| figure | result | target |",
        "|---|---|---|",
        *(f"| {a} | {b} | {c} |" for a, b, c in table),
        END,
    ])
    if BEGIN in text and END in text:
        text = re.sub(re.escape(BEGIN) + ".*?" + re.escape(END), lambda _: body, text, flags=re.S)
    else:
        text = text.rstrip("\n") + "\n\n" + body + "\n"
    path.write_text(text)


def main() -> int:
    pythons = {"debian": DEBIAN, "venv": VENV}
    missing = [p for p in pythons.values() if not os.path.exists(p)]
    if missing:
        print(f"missing interpreters: {missing} (.ci/setup makes the venv)")
        return 1
    if not shutil.which("wvdial") and os.geteuid() == 0:
        subprocess.run(["bash", str(ROOT / "bench" / "setup")], check=True)
    py = sys.executable
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        host = {"pass": startup([py, "-c", "pass"]), "help": startup([py, "-m", "bg_pppd", "--help"]),
                "status": startup([py, "-m", "bg_pppd", "--run-dir", tmp, "status", "x"])}
        reason = why_no_uml()
        if reason:
            print(f"UML lab unavailable ({reason}): link figures skipped")
            return 1
        rounds = int(os.environ.get("BENCH_ROUNDS", "5"))
        init = work / "init.sh"
        driver = f"{ROOT}/bench/guest.py {work} {rounds} '{json.dumps(pythons)}'"
        init.write_text(INIT.format(root=ROOT, python=py, driver=driver, work=work))
        init.chmod(0o755)
        env = {**os.environ, "LD_PRELOAD": shim(work)}
        t0 = time.monotonic()
        with open(work / "console.txt", "wb") as console:
            subprocess.run([UML, "mem=512M", "root=/dev/root", "rootfstype=hostfs", "rootflags=/", "rw",
                            f"init={init}", "con0=fd:0,fd:1", "con=null", "ssl=null"],
                           stdin=subprocess.DEVNULL, stdout=console, stderr=subprocess.STDOUT, env=env,
                           timeout=1200)
        took = time.monotonic() - t0
        if (work / "bench-output.log").exists():
            (ROOT / "bench" / "last-output.log").write_text((work / "bench-output.log").read_text())
        try:
            figures = json.loads((work / "bench.json").read_text())
        except FileNotFoundError:
            print((work / "driver.out").read_text() if (work / "driver.out").exists() else "no output")
            return 1
        (ROOT / "bench" / "last-figures.json").write_text(json.dumps(figures, indent=1))
    table = rows(figures, host)
    width = max(len(a) for a, _, _ in table)
    for a, b, c in table:
        print(f"{a:<{width}}  {b}" + (f"   [{c}]" if c else ""))
    for arm in ("bg-pppd", "pppd loop", "wvdial"):
        for error in figures["cold"][arm].get("errors", [])[:1]:
            print(f"\n{arm}, a round that did not connect:\n{error}")
    print(f"\nthe guest run took {took:.0f} s")
    write_benchmarks(table, figures)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
