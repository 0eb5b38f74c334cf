"""`bg-pppd demo` as root where the kernel has PPP (the UML lab): the whole way, and a redial.

In the guest (``lab.call``) the demo runs as a user would run it there; from the host,
``bg-pppd demo --lab`` boots the lab itself. The assertions are on the demo's own lines (IP up
on ppp0, the ping's replies, the clean down) and on what the kernel showed meanwhile.
"""

from __future__ import annotations

import glob
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from bg_pppd.cli.demo_setup import why_no_link
from tests.conftest import ROOT
from tests.uml import skip_without_uml
from tests.uml_scenarios import demo

pytestmark = skip_without_uml()
needs_lab = pytest.mark.skipif(not why_no_link() or os.geteuid() != 0,
                               reason="--lab is for root on a kernel without PPP (this one has it, or not root)")
# the module without its boot and registration waits
QUICK = "boot_at_start: false\ntime_scale: 0.05\nregistration: [[0, 1]]\n"
DONE = "done: the link came up, carried a ping and went down cleanly"


def _lines(out: str, prefix: str = "") -> list[str]:
    """The demo's step lines without their elapsed time (and the lab's ``prefix``)."""
    found = [re.sub(r"^ *\d+\.\d s  ", "", line) for line in out.splitlines() if re.match(r"^ *\d+\.\d s  ", line)]
    return [line.removeprefix(prefix) for line in found]


def assert_whole_way(out: str, prefix: str = "") -> list[str]:
    """IP up on ppp0 with the network's address, three ping replies each time, the clean down."""
    lines = _lines(out, prefix)
    assert any(line.startswith("up: demo: pppd: Connect: ppp") for line in lines), out
    ups = [line for line in lines if line.startswith("IP up")]
    assert ups and all(re.fullmatch(r"IP up( again)?: ppp\d+ 10\.64\.64\.2, peer 10\.64\.64\.1( \(redialled\))?",
                                    line) for line in ups), ups
    replies = [line for line in lines if re.match(r"ping: \d+ bytes from 10\.64\.64\.1: icmp_seq=\d", line)]
    assert len(replies) == 3 * len(ups), out
    assert lines.count("$ bg-pppd status demo") == 1
    status = out[out.index("$ bg-pppd status demo"):]
    assert re.search(r"state +connected", status) and re.search(r"local_ip +10\.64\.64\.2", status)
    assert "up: demo: pppd: Terminating on signal 15" in lines
    assert lines.index("up: demo: switch from stopping to stopped: stopped") < lines.index("down: demo: stopped")
    assert lines[-1] == DONE
    return lines


def test_demo_in_the_guest_redials_a_dropped_call_the_whole_way(lab):
    run = lab.call(demo.demo_runs, scenarios=["drop"], files={}, timeout=240)["runs"][0]
    assert run["rc"] == 0, (run["out"], run["err"])
    lines = assert_whole_way(run["out"])
    assert lines[0].endswith("(boots in 2.5 s, like the module)")
    assert any(re.fullmatch(r"ppp\d+ inet 10\.64\.64\.2", a) for a in run["addresses"]), run["addresses"]
    drop = lines.index("fault: the network drops the call")
    assert "up: demo: carrier lost (DCD dropped); hanging up pppd" in lines[drop:]
    assert lines[drop + 1:].index("up: demo: switch from preflight to dialing: pre-flight passed, pppd started") >= 0
    assert lines[-len(lines) + drop:][-1] == DONE and any(line.endswith("(redialled)") for line in lines[drop:])
    assert run["pppd_left"] == [] and run["bg_pppd_left"] == [] and run["links_left"] == 0, run
    assert run["dirs_left"] == [], "the demo's temporary directory is removed"
    assert run["took"] < 40, run["took"]


@pytest.fixture
def short_tmp():
    """A short TMPDIR: the guest's demo nests its directory in the host demo's, and the module's
    control socket path must stay within 107 bytes (pytest's tmp_path is long)."""
    path = Path(tempfile.mkdtemp(prefix="demo-lab."))
    yield path
    shutil.rmtree(path, ignore_errors=True)


def _demo_lab(tmp_path: Path) -> subprocess.Popen:
    (tmp_path / "quick.yaml").write_text(QUICK)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TMPDIR": str(tmp_path)}
    return subprocess.Popen([sys.executable, "-m", "bg_pppd", "demo", "--lab", "--scenario",
                             str(tmp_path / "quick.yaml")], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=env, cwd="/")


def _lab_processes(tmp_path: Path) -> list[str]:
    """linux.uml processes of this test (their init= names a file under tmp_path)."""
    found = []
    for cmdline in glob.glob("/proc/[0-9]*/cmdline"):
        try:
            args = Path(cmdline).read_bytes().split(b"\0")
        except OSError:
            continue
        if any(arg.startswith(b"init=" + str(tmp_path).encode()) for arg in args):
            found.append(cmdline)
    return found


@needs_lab
def test_demo_lab_boots_uml_and_goes_the_whole_way(short_tmp):
    tmp_path = short_tmp
    proc = _demo_lab(tmp_path)
    out, err = proc.communicate(timeout=200)
    assert proc.returncode == 0, (out, err)
    assert _lines(out)[0] == ("booting the UML lab: a Linux kernel with PPP, as a process (linux.uml), "
                              "on this machine's files")
    lines = assert_whole_way(out, "lab: ")
    assert re.fullmatch(rf"virtual BG95 started on {tmp_path}/bg-pppd-demo\.\w+/bg-pppd-demo\.\w+/bg95 -> "
                        r"/dev/pts/\d+ \(already on\)", lines[1]), lines[1]
    assert not glob.glob(str(tmp_path / "bg-pppd-demo.*")) and not _lab_processes(tmp_path)


@needs_lab
def test_demo_lab_ends_the_guest_on_sigterm(short_tmp):
    tmp_path = short_tmp
    proc = _demo_lab(tmp_path)
    seen = []
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        seen.append(line)
        if not line or "lab: virtual BG95 started" in line:
            break
    assert _lab_processes(tmp_path) and glob.glob(str(tmp_path / "bg-pppd-demo.*")), seen
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, (seen, out, err)
    assert "SIGTERM: ending the demo" in _lines(out)
    assert not _lab_processes(tmp_path), "the guest is gone"
    assert not glob.glob(str(tmp_path / "bg-pppd-demo.*")), "with the directory it worked in"
