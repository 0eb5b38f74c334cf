"""The demo's steps on the AT port: the pre-flight with its report, and a dial up to CONNECT.

The pre-flight is ``check``'s (its report printer too). The dial is what pppd's connect
script does; without a link to bring up, the call is ended at once the way bg-pppd ends one
after pppd (modem.command_mode: DTR drop, +++, ATH).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from bg_pppd.cli.check import apn_chooser, apn_note, human
from bg_pppd.daemon.ladder_store import prepare_state_dir
from bg_pppd.modem.at_channel import AtChannel, AtTimeout
from bg_pppd.modem.command_mode import restore_after_pppd
from bg_pppd.modem.preflight import Preflight, Report
from bg_pppd.modem.serial_port import open_port
from bg_pppd.profile.model import Profile
from bg_pppd.util.errors import BgPppdError, printable

Say = Callable[[str], None]


class Clock:
    """One line per step, prefixed with the seconds since the demo started."""

    def __init__(self, write: Callable[[str], None]):
        self.start = time.monotonic()
        self.write = write
        self.lock = threading.Lock()  # the daemon's log arrives on another thread

    def elapsed(self) -> float:
        return time.monotonic() - self.start

    def say(self, text: str) -> None:
        with self.lock:
            self.write(printable(f"{self.elapsed():5.1f} s  {text}"))

    def block(self, text: str) -> None:
        """Several lines (a report), indented under the steps."""
        with self.lock:
            for line in text.splitlines():
                self.write(printable(f"         {line}"))


def preflight(profile: Profile, state_dir: str, say: Say) -> tuple[Report, int]:
    """``check``'s pre-flight, each step as it ends; the report and check's exit status."""
    prepare_state_dir(state_dir)
    apns, _note = apn_chooser(profile, state_dir)

    def step(name: str, status: str, _elapsed: float) -> None:
        if status:
            say(f"pre-flight {name}: {status}")
    pre = Preflight(profile, state_dir=state_dir, on_step=step, choose_apn=apns.choose)
    try:
        report = pre.run()
    except BgPppdError as exc:
        return pre.report, exc.exit_code or 1
    return report, 0


def report_text(profile: Profile, state_dir: str, report: Report) -> str:
    apns, _note = apn_chooser(profile, state_dir)
    return human(report, apn_note(apns, report))


def dial(profile: Profile, say: Say, drop: Callable[[], None] | None = None,
         sleep: Callable[[float], None] = time.sleep) -> bool:
    """ATD until CONNECT, at most ``dial_attempts`` + 1 times, ``retry_wait`` apart, as ``up``
    retries; ``drop``: the network ends the first call that connects. The call that stays
    connected is ended cleanly. True once it was seen."""
    number = f"ATD{profile.network.dial_number}"
    for attempt in range(profile.recovery.dial_attempts + 1):
        if attempt:
            say(f"dialling again in {profile.recovery.retry_wait:g} s (recovery.retry_wait), as bg-pppd up does")
            sleep(profile.recovery.retry_wait)
        outcome = _dial_once(profile, number, say, drop)
        if outcome == "connected":
            return True
        if outcome == "dropped":
            drop = None
    return False


def _dial_once(profile: Profile, number: str, say: Say, drop: Callable[[], None] | None) -> str:
    """One call: "connected" (then hung up), "refused", or "dropped" (by ``drop``, after CONNECT)."""
    ser = open_port(profile)
    try:
        at = AtChannel(ser, timeout=profile.recovery.dial_timeout)
        say(number)
        try:
            answer = at.command(number)
        except AtTimeout as exc:
            say(f"no answer: {exc}")
            return "refused"
        if not answer.final.startswith("CONNECT"):
            say(f"{answer.final}: the call was not connected")
            return "refused"
        say(f"{answer.final}: the module is in data mode; pppd would speak PPP from here")
        if drop:
            drop()
            lost = at.wait_urc(lambda line: line == "NO CARRIER", timeout=10)
            say(f"{lost or 'silence'}: the network dropped the call (bg-pppd up redials the same way)")
            return "dropped"
    finally:
        ser.close()
    how = restore_after_pppd(profile)
    say(f"call ended, the port back in command mode ({how}, ATH)")
    return "connected"
