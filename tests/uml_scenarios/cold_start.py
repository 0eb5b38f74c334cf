"""Guest side of tests/test_cold_start_uml.py: `bg-pppd up` started the moment the module powers on.

The module's own timings (time_scale 1): switched on as `up` starts, its UART silent 2.5 s,
then RDY; registered 1.5 s after RDY. Then plain pppd + chat on the same module, ready and
registered, for the PPP exchange alone (``ATD`` to IP), which with the registration time makes
the floor. Times are time.time() in the guest, the clock of the emulator's log; `up`'s output
lines are stamped as they are read.
"""

from __future__ import annotations

import subprocess
import threading
import time
from pathlib import Path

from tests.uml_guest import PROCS, PY, control, emulator, env, profile, record, stop, wait_state

IP_LINE = "local  IP address"  # pppd's line, relayed by bg-pppd
CLASSIC_CHAT = """ABORT BUSY
ABORT 'NO CARRIER'
ABORT ERROR
TIMEOUT 30
'' AT
OK ATD*99#
CONNECT ''
"""


class Stamped:
    """A process's output into ``log``, each line's time of reading kept (a thread reads them)."""

    def __init__(self, cmd: list[str], log: Path):
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                     env=env())
        PROCS.append(self.proc)
        self.lines: list[tuple[float, str]] = []
        self.log = log
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self) -> None:
        with open(self.log, "a") as out:
            for line in self.proc.stdout:
                self.lines.append((time.time(), line))
                out.write(line)
                out.flush()

    def first(self, marker: str, timeout: float = 30) -> float:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for t, line in list(self.lines):
                if marker in line:
                    return t
            time.sleep(0.05)
        raise AssertionError(f"{marker!r} not in the output within {timeout} s: see {self.log.name}")


def power_on_then_up(work: Path, profile_text: str, module: dict) -> None:
    """`up` started, the module switched on as it starts; connected; then plain pppd's PPP exchange.

    The module starts silent for ever (a boot_time that never ends); a hardware reset at `up`'s
    first log line is its power-on: from then reboot_time of silence, RDY, the registration
    timeline. So power-on comes as the daemon starts, whatever the guest's interpreter start-up
    (0.7 s in UML, a fraction of that on a board) took before it.
    """
    link = emulator(module)
    p = profile(profile_text.format(work=work))
    up = Stamped(["ip", "netns", "exec", "client", PY, "-m", "bg_pppd", "up", str(p)], work / "up.log")
    up.first("", timeout=30)  # its first line: the daemon runs
    record(power_on=control(link, "reset"))
    st = wait_state("connected", 40)
    record(status=st, up_ip_at=up.first(IP_LINE), rc=stop(up.proc))
    time.sleep(0.5)  # the module idle again, the call ended
    chat = work / "classic.chat"
    chat.write_text(CLASSIC_CHAT)
    record(plain_started_at=time.time())
    plain = Stamped(["ip", "netns", "exec", "client", "/usr/sbin/pppd", str(link), "115200", "local", "noauth",
                     "nodetach", "noipdefault", "usepeerdns", "noipv6", "nocrtscts", "connect",
                     f"/usr/sbin/chat -f {chat}"], work / "plain-pppd.log")
    record(plain_ip_at=plain.first(IP_LINE))
    stop(plain.proc)
