"""The installed Debian package: /usr/bin/bg-pppd with Debian's python3 and libraries only.

`.ci/setup` builds the .deb, checks it with lintian and installs it with apt; the suite
(these tests included) then runs against it, and `.ci/run` purges it at the end.
Where it is not installed these tests skip. They run the package, never the checkout:
a module the package forgot is a failure here, not in the checkout's tests.
"""

from __future__ import annotations

import gzip
import json
import os
import select
import shutil
import stat
import subprocess
import time
from pathlib import Path

import pytest

from tests.conftest import ROOT
from tests.uml import Lab, skip_without_uml

BIN = "/usr/bin/bg-pppd"


def installed() -> bool:
    probe = subprocess.run(["dpkg-query", "-W", "-f=${Status}", "bg-pppd"], capture_output=True, text=True) \
        if shutil.which("dpkg-query") else None
    return bool(probe) and probe.stdout.endswith("installed") and os.path.exists(BIN)


pytestmark = pytest.mark.skipif(not installed(), reason="the bg-pppd .deb is not installed (.ci/run installs it)")
CLEAN_ENV = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8"}


def run(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([BIN, *args], capture_output=True, text=True, timeout=120, env={**CLEAN_ENV, **(env or {})})


SITE = Path("/usr/lib/python3/dist-packages")
# the virtual module as the emulator tests use it: no boot wait, registered, fast
QUICK_MODULE = "boot_at_start: false\ntime_scale: 0.05\nregistration: [[0, 1]]\n"


def source_modules() -> set[str]:
    """Every module of the checkout's bg_pppd/, sub-packages included, as paths inside it."""
    return {str(p.relative_to(ROOT)) for p in (ROOT / "bg_pppd").rglob("*.py")}


def shipped_modules(site: Path) -> set[str]:
    return {str(p.relative_to(site)) for p in (site / "bg_pppd").rglob("*.py")}


def emulate_then_check(bg_pppd: list[str], tmp_path: Path, env: dict, cwd: str | Path) -> dict:
    """Start an installed ``bg-pppd emulate``, run the same installation's ``check`` against it.

    ``bg_pppd`` is the command line that runs the installed program (its script, or a Python
    and its script); ``env`` and ``cwd`` keep the checkout out of its way. Returns check's report.
    """
    (tmp_path / "module.yaml").write_text(QUICK_MODULE)
    link, log = tmp_path / "bg95", tmp_path / "emulator.log"
    emu = subprocess.Popen([*bg_pppd, "emulate", "--link", str(link), "--scenario", str(tmp_path / "module.yaml"),
                            "--log", str(log)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                           env=env, cwd=cwd)
    try:
        ready = select.select([emu.stdout], [], [], 30)[0]
        device = emu.stdout.readline().strip() if ready else ""
        if not device:
            emu.kill()
            raise AssertionError(f"the installed bg-pppd emulate did not start:\n{emu.communicate()[1][-2000:]}")
        assert os.path.realpath(link) == device
        profile = tmp_path / "emulated.yaml"
        profile.write_text(f"modem:\n  port: {link}\nnetwork:\n  apn: internet\n  poll_interval: 0.1\n")
        profile.chmod(0o600)
        started = time.monotonic()
        check = subprocess.run([*bg_pppd, "--state-dir", str(tmp_path / "state"), "--run-dir", str(tmp_path / "run"),
                                "check", str(profile), "--json"], capture_output=True, text=True, timeout=120,
                               env=env, cwd=cwd)
        assert check.returncode == 0, (check.stderr, time.monotonic() - started)
        report = json.loads(check.stdout)
    finally:
        if emu.poll() is None:
            emu.terminate()
            emu.wait(10)
    commands = log.read_text()
    assert " cmd AT+CPIN?" in commands and " cmd AT+CEREG?" in commands, "check talked to this emulator"
    return report


def test_every_module_of_the_source_is_in_the_package():
    """Sub-packages are found, not listed: one forgotten (bg_pppd.emulator was) fails here."""
    missing = source_modules() - shipped_modules(SITE)
    assert not missing, f"the .deb lacks {sorted(missing)}"
    for data in ("templates/peer.j2", "templates/connect.chat.j2", "configs/example.yaml"):
        assert (SITE / "bg_pppd" / data).is_file(), data


def test_installed_emulate_answers_the_installed_check(tmp_path):
    """The package's own `bg-pppd emulate`, with Debian's Python, from /: `check` gets a full report."""
    report = emulate_then_check([BIN], tmp_path, CLEAN_ENV, "/")
    assert report["registration"] == "home" and report["imei"] == "866425012345678"
    assert report["operator"] == "Example"


def test_installed_demo_goes_as_far_as_this_machine_allows(tmp_path):
    """The package's `bg-pppd demo`, with Debian's Python and python3-sh 1.14, from /: its own
    emulator child, the pre-flight's report, CONNECT, and its temporary directory gone after.
    TMPDIR is deep, as a CI's can be: the module's control socket there is longer than sun_path."""
    tmp_path = tmp_path / ("t" * 80)
    tmp_path.mkdir()
    (tmp_path / "module.yaml").write_text(QUICK_MODULE)
    done = subprocess.run([BIN, "demo", "--scenario", str(tmp_path / "module.yaml")], capture_output=True, text=True,
                          timeout=120, env={**CLEAN_ENV, "TMPDIR": str(tmp_path)}, cwd="/")
    assert done.returncode == 0, (done.stdout, done.stderr)
    out = [line.split(" s  ", 1)[-1].strip() for line in done.stdout.splitlines()]
    assert out[0].startswith(f"virtual BG95 started on {tmp_path}/bg-pppd-demo."), out[0]
    assert "registration: home" in out and "IMEI:         866425012345678" in out
    if out[-1].startswith("stopping at CONNECT: "):  # not root, or no kernel PPP (this machine says which)
        assert "CONNECT 150000000: the module is in data mode; pppd would speak PPP from here" in out, done.stdout
    else:
        assert out[-1] == "done: the link came up, carried a ping and went down cleanly", done.stdout
    assert not list(tmp_path.glob("bg-pppd-demo.*")), "the demo's directory is removed"


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


def test_cmux_kernel_notes_shipped():
    """CONFIG_N_GSM is documented, and the modules-load.d file ships as an example only."""
    doc = Path("/usr/share/doc/bg-pppd")
    readme = doc / "README.Debian"
    text = readme.read_text() if readme.exists() else gzip.decompress((doc / "README.Debian.gz").read_bytes()).decode()
    assert "CONFIG_N_GSM" in text and "modprobe n_gsm" in text
    assert (doc / "examples" / "n_gsm.conf").read_text().splitlines()[-1] == "n_gsm"
    listed = subprocess.run(["dpkg", "-L", "bg-pppd"], capture_output=True, text=True).stdout
    assert "modules-load.d" not in listed, "the package must not load n_gsm on every machine"


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
    from tests.test_up_uml import PROFILE
    from tests.uml_scenarios import up as up_scenarios

    lab = Lab(tmp_path, tmp_path_factory.getbasetemp())
    results = lab.call(up_scenarios.installed_bin_connects, profile_text=PROFILE, bin_path=BIN, clean_env=CLEAN_ENV)
    assert results["st"]["local_ip"] == "10.64.64.2", lab.tail()
    assert results["rc"] == 0
