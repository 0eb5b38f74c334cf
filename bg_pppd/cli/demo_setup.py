"""``bg-pppd demo``'s ingredients: the built-in scenarios, the profile, what this machine allows.

Everything the demo writes lives in one temporary directory; the profile keeps pppd away
from the machine's routes and DNS, and its waits are scaled down so a recovery is seen in
seconds, not minutes.
"""

from __future__ import annotations

import os
import shlex
import sys
from dataclasses import dataclass

PROFILE_NAME = "demo"


@dataclass(frozen=True)
class Waits:
    """The profile's recovery waits, scaled down from the defaults (10 s, 60 s, 10 min...)."""

    retry_wait: float = 1.0
    stable_after: float = 10.0
    reset_wait: float = 5.0
    at_timeout: float = 2.0
    dial_attempts: int = 2


@dataclass(frozen=True)
class Builtin:
    """A named scenario: the module's settings, the fault the demo injects (and when), the waits."""

    about: str
    module: dict
    fault: str = ""   # "hang": as up starts; "drop": once the link is up; "": none
    waits: Waits = Waits()


SCENARIOS: dict[str, Builtin] = {
    "normal": Builtin("the module as it comes: boots, registers, connects", {}),
    # a silent module costs a sync of about 6 s (the escapes, the other baud rates): one is enough
    "hang": Builtin("the module stops answering as up starts, until a reset", {"reboot_time": 2.5}, "hang",
                    Waits(dial_attempts=1)),
    "drop": Builtin("the network drops the call once the link is up", {}, "drop"),
    "no-carrier": Builtin("the network refuses the first two calls (NO CARRIER)",
                          {"dial_results": ["NO CARRIER", "NO CARRIER"]}),
}


def profile_text(directory: str, waits: Waits = Waits()) -> str:
    """The demo's profile: the virtual module in ``directory``, no default route, no DNS."""
    link = os.path.join(directory, "bg95")
    reset = shlex.join([sys.executable, "-m", "bg_pppd.emulator.control", f"{link}.control", "reset"])
    return f"""\
# bg-pppd demo: the virtual module in {directory}; nothing outside it is changed
modem:
  port: {link}
  line_backend: emulator        # DTR/DCD/RI from the emulator's control socket
network:
  apn: internet
  poll_interval: 0.2
  registration_timeout: 15
ppp:
  default_route: false          # the machine's routes stay as they are
  use_peer_dns: false
  dns: none                     # and its DNS too
recovery:
  at_timeout: {waits.at_timeout:g}
  dial_timeout: 5
  dial_attempts: {waits.dial_attempts}
  retry_wait: {waits.retry_wait:g}
  stable_after: {waits.stable_after:g}
  reset: [at, command]          # command: the virtual module's reset line
  reset_command: {shlex.quote(reset)}
  reset_waits: [{waits.reset_wait:g}]
  boot_timeout: 10
"""


def why_no_link() -> str:
    """Why pppd cannot bring a link up here ("" when it can): not root, or no kernel PPP."""
    if os.geteuid() != 0:
        return "not root"
    try:
        fd = os.open("/dev/ppp", os.O_RDWR)
    except OSError as exc:
        return f"no kernel PPP (/dev/ppp: {exc.strerror}; ppp_generic is not loaded)"
    os.close(fd)
    return ""
