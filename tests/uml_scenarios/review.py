"""Guest side of tests/test_review_uml.py: the reliability review's real-link attacks (issue 15).

Each top-level scenario runs in the UML guest (``lab.call``); ``work`` is the test's tmp dir, the
profile texts are templates whose keys each function names. Several attacks share one boot.
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from pathlib import Path

from tests.uml_guest import (
    PROCS,
    PY,
    emulator,
    env,
    pppd_processes,
    profile,
    record,
    status,
    status_file,
    stop,
    up,
    wait_state,
)


def up_log(work: Path) -> str:
    log = work / "up.log"
    return log.read_text(errors="replace") if log.exists() else ""


def attacked(work: Path, name: str) -> bool:
    """The module's text has reached pppd's log (chat's CONNECT line): the attack was delivered."""
    return any(line.split(" ", 2)[1:2] == [name + ":"] and "CONNECT" in line for line in up_log(work).splitlines())


def watch(work: Path, name: str, seconds: float, limit: float = 60) -> tuple[list[str], dict]:
    """The states (and local IPs) seen until ``seconds`` after the attack was delivered, and the last status.

    Not a fixed time: a loaded guest may take long to dial.
    """
    seen, st = set(), {}
    end = time.monotonic() + limit
    delivered = False
    while time.monotonic() < end:
        if not delivered and attacked(work, name):
            delivered = True
            end = min(end, time.monotonic() + seconds)
        st = status(name)
        seen.add(st.get("state"))
        if st.get("local_ip"):
            seen.add("local_ip " + st["local_ip"])
        time.sleep(0.2)
    seen.add("attack delivered" if delivered else "attack never delivered")
    return sorted(s for s in seen if s), st


def spoof_case(work: Path, profile_text: str, name: str, module: dict, debug: str, dns_file: str,
               settle: float | None) -> dict:
    """One module (``name``) and one `up`; ``settle`` None: watch the attack, else connect and wait ``settle`` s.

    Returns what the host asserts on: states seen or statuses, the stop, DNS file, on_up's environment.
    """
    emulator(module, name=name)
    emu_proc = PROCS[-1]
    (work / f"{name}.resolv").write_text("nameserver 192.0.2.1\n")
    p = profile(profile_text.format(work=work, name=name, debug=debug, dns_file=dns_file), name=name)
    proc = up(p)
    out: dict = {}
    try:
        if settle is None:
            out["seen"], out["last"] = watch(work, name, 5)
        else:
            out["connected"] = wait_state("connected", 30, name=name)
            time.sleep(settle)
            out["later"] = status(name)
    finally:
        t0 = time.monotonic()
        out["rc"] = stop(proc)
        out["stop_s"] = time.monotonic() - t0
        out["pppd_left"] = pppd_processes()
        out["resolv"] = (work / f"{name}.resolv").read_text()
        env_file = work / f"{name}.up-env"
        out["hook"] = env_file.read_text() if env_file.exists() else None
        emu_proc.kill()
        emu_proc.wait()
    return out


def spoofed_links(work: Path, profile_text: str, cases: list[dict]) -> None:
    """Each case's ``spoof_case``, recorded under its ``key`` (or its error); WORK/ro is a read-only tmpfs.

    A case's ``dns_file`` None is WORK/NAME.resolv.
    """
    ro = work / "ro"
    ro.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=64k", "tmpfs", str(ro)], check=True)
    for case in cases:
        key, name = case["key"], case["name"]
        try:
            record(**{key: spoof_case(work, profile_text, name, case["module"], case["debug"],
                                      case["dns_file"] or str(work / f"{name}.resolv"), case["settle"])})
        except Exception as exc:
            record(**{key: {"error": repr(exc)}})


def failures(proc: subprocess.Popen, n: int, timeout: float = 25) -> dict:
    """The status once it counts ``n`` consecutive failures (or `up` ended, or ``timeout`` s passed)."""
    end = time.monotonic() + timeout
    while time.monotonic() < end and proc.poll() is None:
        if (status_file().get("consecutive_failures") or 0) >= n:  # a look that costs no process
            st = status()
            if (st.get("consecutive_failures") or 0) >= n:
                return st
        time.sleep(0.1)
    return status()


def ppp_port_missing_then_back(work: Path, profile_text: str) -> None:
    """The PPP port (a by-path name) is missing, then a link to a non-tty, then the module's port."""
    link = emulator({"registration": [[0, 2], [2, 1]], "time_scale": 1}, name="usb", at_port=True)
    bypath = work / "by-path"
    bypath.mkdir()
    port = bypath / "pci-0000:00:14.0-usb-0:1:1.0-port0"
    (work / "not-a-tty").write_text("")
    p = profile(profile_text.format(work=work, data_port=port))
    proc = up(p)
    record(missing=failures(proc, 1), alive_missing=proc.poll() is None)  # the port is not there
    os.symlink(work / "not-a-tty", port)  # udev's link, before the tty is ready
    record(no_tty=failures(proc, (status().get("consecutive_failures") or 0) + 1),
           alive_no_tty=proc.poll() is None)
    os.unlink(port)
    os.symlink(link, port)
    record(st=wait_state("connected", 30), rc=stop(proc), pppd_left=pppd_processes())


def measured(argv: list[str], limit: float, sigterm_after: float | None = None) -> dict:
    """Run ``argv``: exit status, wall and CPU seconds, output; SIGTERM after ``sigterm_after`` s, kill at ``limit``."""
    t0 = time.monotonic()
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env())
    termed = None
    while True:
        pid, wait_status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            break
        waited = time.monotonic() - t0
        if sigterm_after is not None and termed is None and waited > sigterm_after:
            proc.send_signal(signal.SIGTERM)
            termed = waited
        if waited > limit:
            proc.kill()
            pid, wait_status, usage = os.wait4(proc.pid, 0)
            break
        time.sleep(0.1)
    return {"rc": os.waitstatus_to_exitcode(wait_status), "s": time.monotonic() - t0,
            "cpu": usage.ru_utime + usage.ru_stime, "sigterm_at": termed,
            "out": proc.stdout.read().decode(errors="replace")[-1500:]}


def ports_held_by_a_live_link(work: Path, profile_text: str) -> None:
    """a: `check` on a profile whose `up` is connected; b: an `up` whose AT port is another's PPP port.

    ``profile_text`` has ``{port}`` and ``{extra}`` (more ``modem:`` keys).
    """
    # a: `check` on a profile whose `up` is connected (pppd owns the main UART)
    emulator()
    a = profile(profile_text.format(port=work / "bg95", extra=""), name="uart")
    pa = up(a)
    before = wait_state("connected", 30, name="uart")
    record(check=measured([PY, "-m", "bg_pppd", "check", str(a)], 30))
    record(uart_before=before, uart_after=status("uart"))
    stop(pa)

    # b: profile B's AT port is profile A's PPP port
    emulator(name="usb", at_port=True)
    a = profile(profile_text.format(port=work / "usb-at", extra=f"  data_port: {work / 'usb'}"), name="A")
    b = profile(profile_text.format(port=work / "usb", extra=""), name="B")
    pa = up(a)
    before = wait_state("connected", 30, name="A")
    record(B=measured(["ip", "netns", "exec", "client", PY, "-m", "bg_pppd", "up", str(b)], 35,
                      sigterm_after=8))
    record(A_before=before, A_after=status("A"))
    stop(pa)


def claim_another_link(work: Path, profile_text: str, name: str, spoof: str) -> dict:
    """Profile ``name`` on a module that sends ``spoof`` before CONNECT and a network that answers no PPP.

    Watches the states and pppd's link pid file until 8 s after the claim reached pppd's log.
    """
    emulator({"network": "sink", "connect_text": spoof}, name=f"usb{name}")
    prof = profile(profile_text.format(work=work, port=f"usb{name}", name=name, debug="true"), name=name)
    linkpid: set[str] = set()
    watching = threading.Event()
    watching.set()
    out: dict = {}

    def watch_linkpid() -> None:  # what pppd's link pid file holds, as it changes
        while watching.is_set():
            try:
                with open(f"/run/ppp-bg-pppd-{name}.pid") as f:
                    linkpid.add(f.read())
            except OSError:
                pass
            time.sleep(0.01)
    threading.Thread(target=watch_linkpid, daemon=True).start()
    proc = up(prof)
    seen, delivered = set(), None
    end = time.monotonic() + 40
    while time.monotonic() < end and (delivered is None or time.monotonic() < delivered + 8):
        st = status(name)
        seen.add(st.get("state"))
        if st.get("local_ip"):
            seen.add("local_ip " + st["local_ip"])
        if delivered is None and f"{name}: pppd: Using interface ppp0" in up_log(work):  # chat -v's echo
            delivered = time.monotonic()
        time.sleep(0.1)
    out.update(seen=sorted(s for s in seen if s), delivered=delivered is not None, A=status("A"))
    out["rc"] = stop(proc)
    watching.clear()
    hook = work / f"hook{name}-up.env"
    out.update(linkpid=sorted(linkpid), hook=hook.read_text() if hook.exists() else None,
               resolv=(work / f"resolv{name}.conf").read_text())
    return out


def other_profiles_claim_a_live_link(work: Path, profile_text: str, spoofs: dict[str, str]) -> None:
    """Profile A connected (its state dir shared and sticky, a DNS backup planted there); then each of
    ``spoofs`` (profile name: the module's text) claims A's link in turn."""
    shared = work / "sharedst"
    shared.mkdir()
    os.chmod(shared, 0o1777)
    secret = work / "secret"
    secret.write_text("root:$6$SECRET-HASH:19000:0:99999:7:::\n")
    os.chmod(secret, 0o600)
    os.symlink(secret, shared / "A.dns-backup")  # another user's symlink, in the sticky dir
    os.lchown(shared / "A.dns-backup", 65534, 65534)
    for name in "ABC":
        (work / f"resolv{name}.conf").write_text(f"nameserver 192.0.2.{ord(name) - 64}\n")

    emulator()
    a = profile(profile_text.format(work=work, port="bg95", name="A", debug="false"), name="A")
    pa = up(a, extra_env={"BG_PPPD_STATE_DIR": str(shared)})
    try:
        record(A=wait_state("connected", 40, name="A"), A_resolv_up=(work / "resolvA.conf").read_text())
        for name, spoof in spoofs.items():
            record(**{name: claim_another_link(work, profile_text, name, spoof)})
    finally:
        record(A_rc=stop(pa))
    record(resolvA=(work / "resolvA.conf").read_text(), resolvA_mode=os.stat(work / "resolvA.conf").st_mode
           & 0o7777, shared=sorted(os.listdir(shared)), pppd_left=pppd_processes())
