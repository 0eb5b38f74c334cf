"""`bg-pppd up` on a real PPP link in the UML lab: real kernel, real pppd and chat."""

from __future__ import annotations

import pytest

from .uml import Lab, skip_without_uml

pytestmark = skip_without_uml()

PROFILE = """\
modem:
  port: {work}/bg95
network:
  apn: internet
  poll_interval: 0.1
  registration_timeout: 5
recovery:
  at_timeout: 3
  dial_timeout: 5
  retry_wait: 0.5
  stable_after: 3
  reset_waits: [4, 6]
  boot_timeout: 10
"""


@pytest.fixture
def lab(tmp_path, tmp_path_factory):
    return Lab(tmp_path, tmp_path_factory.getbasetemp())


def test_happy_path_connected_then_down(lab):
    results = lab.run(f"""
        link = emulator()
        p = profile({PROFILE!r}.format(work=WORK))
        proc = up(p)
        st = wait_state("connected", 30)
        record(status=st)
        record(ping=ns("ping", "-c", "2", "-W", "2", st["remote_ip"]).returncode)
        record(down=cli("down", str(p)).returncode, rc=proc.wait(30), pppd_left=pppd_processes())
        record(after=status(), module=control(link, "status"))
    """)
    st = results["status"]
    assert st["interface"].startswith("ppp") and st["local_ip"] == "10.64.64.2", lab.tail()
    assert st["remote_ip"] == "10.64.64.1" and st["dns"] == ["10.64.64.53"]
    assert st["pid"] and st["pppd_pid"] and st["consecutive_failures"] == 0
    assert results["ping"] == 0
    assert results["down"] == 0 and results["rc"] == 0 and results["pppd_left"] == []
    assert results["after"]["state"] == "stopped"
    assert "rcvd [LCP TermReq" in lab.file("network.log"), "LCP Terminate-Request on a clean stop"
    assert results["module"]["mode"] == "command" and not results["module"]["session"], "port back in command mode"


def test_failed_dials_reset_ladder_then_connected(lab):
    """3 NO CARRIER -> immediate reset; 3 more and the dials during the wait -> 2nd reset after 4 s."""
    results = lab.run(f"""
        link = emulator({{"dial_results": ["NO CARRIER"] * 14}})
        p = profile({PROFILE!r}.format(work=WORK))
        proc = up(p)
        st = wait_state("connected", 60)
        record(connected=st)
        import json as _j
        record(persisted=_j.loads((WORK / "state" / "lab.json").read_text()))
        import time as _t
        _t.sleep(3.5)
        record(stable=status())
        record(rc=stop(proc))
    """, timeout=240)
    cmds = [line.split(" ", 2) for line in lab.file("emulator.log").splitlines()]
    resets = [float(t) for t, kind, text in cmds if kind == "cmd" and text == "AT+CFUN=1,1"]
    dials = [float(t) for t, kind, text in cmds if kind == "cmd" and text == "ATD*99#"]
    assert len(resets) >= 2, lab.tail()
    assert len([d for d in dials if d < resets[0]]) == 3, "first reset right after the 3rd failure"
    waits = [4, 6]
    for i, (a, b) in enumerate(zip(resets, resets[1:])):
        assert b - a >= waits[min(i, 1)], f"reset {i + 2} came {b - a:.1f} s after the previous one"
    between = [d for d in dials if resets[0] < d < resets[1]]
    assert len(between) > 3, "kept dialling while the reset had to wait"
    assert results["connected"]["resets"] == len(resets)
    assert results["persisted"]["ladder"]["resets"] == len(resets)
    assert results["stable"]["resets"] == 0 and results["stable"]["consecutive_failures"] == 0
    assert results["rc"] == 0


@pytest.mark.parametrize("when", ["preflight", "dialing", "waiting", "connected"])
def test_sigterm_in_every_state_is_clean(lab, when):
    scenario = {"preflight": {"registration": [[0, 2]]}, "dialing": {"dial_delay": 60},
                "waiting": {"dial_results": ["NO CARRIER"] * 5}, "connected": {}}[when]
    text = PROFILE.replace("registration_timeout: 5", "registration_timeout: 60")
    if when == "waiting":
        text = text.replace("retry_wait: 0.5", "retry_wait: 30")
    results = lab.run(f"""
        link = emulator({scenario!r})
        p = profile({text!r}.format(work=WORK))
        proc = up(p)
        wait_state({when!r}, 30)
        import time as _t
        _t.sleep(0.5)
        t0 = _t.monotonic()
        record(rc=stop(proc), took=_t.monotonic() - t0, pppd_left=pppd_processes(), after=status(),
               twin_ok=cli("status", str(p)).returncode)
    """)
    assert results["rc"] == 0, lab.tail()
    assert results["took"] < 20
    assert results["pppd_left"] == []
    assert results["after"]["state"] == "stopped" and results["twin_ok"] == 3, "lock released"


def test_sigkill_leaves_pppd_which_the_next_up_ends(lab):
    results = lab.run(f"""
        import signal as _s
        link = emulator()
        p = profile({PROFILE!r}.format(work=WORK))
        proc = up(p)
        first = wait_state("connected", 30)
        stop(proc, _s.SIGKILL)
        record(left=pppd_processes())
        proc2 = up(p)
        second = wait_state("connected", 40)
        record(first=first, second=second, rc=stop(proc2), after=pppd_processes())
    """)
    assert len(results["left"]) == 1 and str(results["first"]["pppd_pid"]) in results["left"][0]
    assert "left behind by an earlier run" in lab.file("up.log")
    assert results["second"]["pppd_pid"] != results["first"]["pppd_pid"]
    assert results["rc"] == 0 and results["after"] == []


def test_debian_python_and_sh1_on_a_real_link(lab):
    import os
    import subprocess

    check = "import sh, serial, jinja2, yaml; print(sh.__version__)"
    probe = subprocess.run(["/usr/bin/python3", "-c", check], capture_output=True,
                           text=True) if os.path.exists("/usr/bin/python3") else None
    if not probe or probe.returncode or not probe.stdout.startswith("1."):
        pytest.skip("Debian's python3-sh 1.x and friends are not installed")
    results = lab.run(f"""
        link = emulator()
        p = profile({PROFILE!r}.format(work=WORK))
        proc = up(p, python="/usr/bin/python3")
        record(st=wait_state("connected", 30), rc=stop(proc))
    """, python="/usr/bin/python3")
    assert results["st"]["local_ip"] == "10.64.64.2" and results["rc"] == 0
