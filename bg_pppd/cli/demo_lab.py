"""``bg-pppd demo --lab``: the whole-way demo inside User-Mode Linux, for a kernel without PPP.

Debian's ``user-mode-linux`` is a Linux kernel that runs as a process and ships the PPP
modules. Its root is this machine's filesystem (hostfs), so the guest runs this very
bg-pppd and pppd; its init loads PPP and runs ``bg-pppd demo`` as the guest's root. The
guest's console is read here and its demo lines re-shown with our clock; everything the
guest writes (the init, its demo's directory, its exit status) lives in our temporary
directory, so an interrupted guest leaves nothing either.
"""

from __future__ import annotations

import os
import re
import select
import shlex
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import bg_pppd
from bg_pppd.cli.demo_dial import Clock
from bg_pppd.cli.demo_module import child_env
from bg_pppd.util.errors import EXIT_FAILURE, BgPppdError

UML_MODULES = Path("/usr/lib/uml/modules")
GUEST_TIMEOUT = 180.0
_STEP = re.compile(r"^ *\d+\.\d s  (.*)$")
_BLOCK = re.compile(r"^ {9}(\S.*)$")

# a UML guest's first steps (also the test lab's, tests/uml.py): the file systems a shell and
# pppd need (devtmpfs is mounted on /dev, which has no pts/ yet), kernel PPP, the loopback
GUEST_SETUP = """\
export PATH=/usr/sbin:/usr/bin:/sbin:/bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t tmpfs tmp /run
mkdir -p /run/lock /dev/pts
mount -t devpts -o ptmxmode=0666 devpts /dev/pts
ln -sf /proc/self/fd /dev/fd
K=/usr/lib/uml/modules/$(uname -r)/kernel
for m in lib/crc-ccitt drivers/net/slip/slhc drivers/net/ppp/ppp_generic drivers/net/ppp/ppp_async; do
    insmod $K/$m.ko
done
ip link set lo up
"""

INIT = """\
#!/bin/sh
# the UML guest's init (bg-pppd demo --lab): kernel PPP loaded, then the demo as root
""" + GUEST_SETUP + """\
cd /
{env} {python} -m bg_pppd demo --scenario {scenario} 2>&1
echo $? > {rc}
poweroff -f
"""


class LabUnavailable(BgPppdError):
    """--lab cannot run here: one line saying what is missing."""


def why_no_lab() -> str:
    """What --lab lacks here ("" when it can run)."""
    if os.geteuid() != 0:
        return "run it as root (the guest's root works on this machine's files)"
    if not shutil.which("linux.uml"):
        return "user-mode-linux is not installed (apt-get install user-mode-linux)"
    if not UML_MODULES.is_dir():
        return f"no UML kernel modules in {UML_MODULES}"
    return ""


def _shim(directory: str) -> str:
    """The LD_PRELOAD shim UML needs on CPUs with a large XSAVE area (AMX), built from the source
    tree's tests/lab/umlfpu.c; "" where the CPU does not need it."""
    try:
        needed = "amx_tile" in Path("/proc/cpuinfo").read_text()
    except OSError:
        needed = False
    if not needed:
        return ""
    source = Path(bg_pppd.__file__).resolve().parent.parent / "tests" / "lab" / "umlfpu.c"
    gcc = shutil.which("gcc")
    if not source.is_file() or not gcc:
        raise LabUnavailable("this CPU (AMX) needs the UML shim: run --lab from the source tree, with gcc")
    out = os.path.join(directory, "umlfpu.so")
    subprocess.run([gcc, "-O2", "-shared", "-fPIC", "-o", out, str(source), "-ldl"], check=True,
                   capture_output=True, timeout=60)
    return out


def run_in_lab(directory: str, scenario: str, clock: Clock) -> int:
    """Boot the guest, show its demo's lines; the guest demo's exit status."""
    missing = why_no_lab()
    if missing:
        raise LabUnavailable(f"--lab: {missing}")
    if os.path.exists(scenario):
        scenario = os.path.abspath(scenario)
    rc = os.path.join(directory, "guest.rc")
    # the guest demo's own directory inside ours (a Unix socket's path is at most 107 bytes)
    env = {"PYTHONPATH": child_env()["PYTHONPATH"], "TMPDIR": directory, "LANG": "C.UTF-8"}
    init = os.path.join(directory, "init.sh")
    with open(init, "w") as f:
        f.write(INIT.format(env=" ".join(f"{k}={shlex.quote(v)}" for k, v in env.items()),
                            python=shlex.quote(sys.executable), scenario=shlex.quote(scenario),
                            rc=shlex.quote(rc)))
    os.chmod(init, 0o700)
    shim = _shim(directory)
    clock.say("booting the UML lab: a Linux kernel with PPP, as a process (linux.uml), on this machine's files")
    argv = [shutil.which("linux.uml"), "mem=384M", "root=/dev/root", "rootfstype=hostfs", "rootflags=/", "rw",
            "quiet", f"init={init}", "con0=fd:0,fd:1", "con=null", "ssl=null"]
    # UML keeps its run files in $HOME/.uml (and panics without a HOME): ours, in the directory
    uml_home = {"HOME": directory}
    with open(os.path.join(directory, "console.txt"), "w") as console:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                env={**os.environ, **({"LD_PRELOAD": shim} if shim else {}), **uml_home},
                                start_new_session=True, text=True, errors="replace")
        try:
            _relay(proc, console, clock)
        finally:
            _end(proc)
    try:
        return int(Path(rc).read_text().strip())
    except (OSError, ValueError):
        last = [line.strip() for line in Path(console.name).read_text(errors="replace").splitlines() if line.strip()]
        clock.say(f"the UML guest ended without its demo's exit status; its console's last words: "
                  f"{' | '.join(last[-3:]) or 'none'}")
        return EXIT_FAILURE


def _relay(proc: subprocess.Popen, console, clock: Clock) -> None:
    """The guest's demo lines, as they come (the kernel's own go to console.txt only)."""
    deadline = time.monotonic() + GUEST_TIMEOUT
    while time.monotonic() < deadline:
        if not select.select([proc.stdout], [], [], 1.0)[0]:
            continue
        line = proc.stdout.readline()
        if not line:
            return
        line = line.rstrip("\r\n")
        console.write(line + "\n")
        step, block = _STEP.match(line), _BLOCK.match(line)
        if step:
            clock.say(f"lab: {step.group(1)}")
        elif block:
            clock.block(block.group(1))
        elif line.startswith(("bg-pppd", "Traceback", "warning: ")):  # the guest demo's own errors
            clock.say(f"lab: {line}")
    clock.say(f"the UML guest did not power off within {GUEST_TIMEOUT:g} s")


def _end(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
