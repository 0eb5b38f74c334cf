"""The installed Debian package: /usr/bin/bg-pppd with Debian's python3 and libraries only.

`.ci/run` builds the .deb, checks it with lintian, installs it with apt, runs the suite
(these tests included) and purges it. Elsewhere these tests skip.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess

import pytest

from .uml import Lab, skip_without_uml

BIN = "/usr/bin/bg-pppd"


def installed() -> bool:
    probe = subprocess.run(["dpkg-query", "-W", "-f=${Status}", "bg-pppd"], capture_output=True, text=True) \
        if shutil.which("dpkg-query") else None
    return bool(probe) and probe.stdout.endswith("installed") and os.path.exists(BIN)


pytestmark = pytest.mark.skipif(not installed(), reason="the bg-pppd .deb is not installed (.ci/run installs it)")
CLEAN_ENV = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8"}


def run(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([BIN, *args], capture_output=True, text=True, timeout=120, env={**CLEAN_ENV, **(env or {})})


def test_uses_debian_python_and_libraries():
    with open(BIN) as f:
        assert f.readline().startswith("#!/usr/bin/python3")
    probe = subprocess.run(["/usr/bin/python3", "-c", "import bg_pppd, sh; print(bg_pppd.__file__, sh.__version__)"],
                           capture_output=True, text=True, env=CLEAN_ENV, cwd="/")
    assert probe.stdout.startswith("/usr/lib/python3/dist-packages/bg_pppd/"), probe.stderr


def test_files_and_modes():
    assert stat.S_IMODE(os.stat("/etc/bg-pppd").st_mode) == 0o700
    assert run("validate", "/etc/bg-pppd/example.yaml").returncode == 0
    assert os.path.exists("/lib/systemd/system/bg-pppd@.service")
    assert os.path.exists("/lib/udev/rules.d/60-bg-pppd.rules")
    assert os.path.exists("/usr/share/man/man8/bg-pppd.8.gz")
    assert os.path.exists("/usr/share/bash-completion/completions/bg-pppd")


def test_unit_verifies():
    analyze = shutil.which("systemd-analyze")
    if not analyze:
        print("systemd-analyze is not installed: unit not verified")
        pytest.skip("systemd-analyze missing")
    result = subprocess.run([analyze, "verify", "bg-pppd@example.service"], capture_output=True, text=True)
    problems = [line for line in result.stderr.splitlines() if "bg-pppd" in line]
    assert result.returncode == 0 and not problems, result.stderr


def test_render_and_check_against_the_emulator(bench, tmp_path):
    b = bench()
    rendered = run("--run-dir", str(tmp_path / "run"), "render", str(b.profile))
    assert rendered.returncode == 0, rendered.stderr
    assert rendered.stdout.split()[0] == str(tmp_path / "run" / "bench" / "peer")
    result = run("--state-dir", str(tmp_path / "state"), "check", str(b.profile), "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["registration"] == "home"


@skip_without_uml()
def test_installed_up_connects_on_a_real_link(tmp_path, tmp_path_factory):
    from .test_up_uml import PROFILE

    lab = Lab(tmp_path, tmp_path_factory.getbasetemp())
    results = lab.run(f"""
        import subprocess as _sp
        link = emulator()
        p = profile({PROFILE!r}.format(work=WORK))
        log = open(WORK / "up.log", "a")
        proc = _sp.Popen(["ip", "netns", "exec", "client", "{BIN}", "up", str(p)], stdout=log,
                         stderr=_sp.STDOUT, env={{**{CLEAN_ENV!r}, "BG_PPPD_RUN_DIR": str(WORK / "run"),
                                                 "BG_PPPD_STATE_DIR": str(WORK / "state")}})
        PROCS.append(proc)
        record(st=wait_state("connected", 40), rc=stop(proc))
    """)
    assert results["st"]["local_ip"] == "10.64.64.2", lab.tail()
    assert results["rc"] == 0
