"""Interventions on a real PPP link (issue 17): stuck registration -> AT+COPS=0 -> AT+CFUN=0/1 -> connected.

The module keeps searching until its radio is off and on (scenario ``stuck_until: cfun``); the
profile's waits are scaled down (registration_timeout 3 s: AT+COPS=0 at half of it, the radio
off/on at 3 s). Connected with no module reset: the module's log has no AT+CFUN=1,1 and no reset
or reboot, the status counts no reset and lists both interventions.
"""

from __future__ import annotations

from tests.uml import Lab, skip_without_uml
from tests.uml_scenarios import intervention

pytestmark = skip_without_uml()

TIMEOUT = 3
MODULE = {"stuck_until": "cfun", "stuck_stat": 2, "registration": [[0, 2], [2, 1]]}  # 0.1 s at the lab's 1/20
PROFILE = f"""\
modem:
  port: {{work}}/bg95
  line_backend: emulator
network:
  apn: internet
  poll_interval: 0.5
  registration_timeout: {TIMEOUT}
recovery:
  at_timeout: 3
  dial_timeout: 5
  retry_wait: 0.5
  stable_after: 3
  reset_waits: [4, 6]
  boot_timeout: 10
"""


def module_log(lab: Lab) -> list[tuple[float, str, str]]:
    return [(float(t), kind, text) for t, kind, text in
            (line.split(" ", 2) for line in lab.file("emulator.log").splitlines() if line.count(" ") >= 2)]


def test_stuck_registration_cops_then_radio_off_on_then_connected_without_reset(lab):
    results = lab.call(intervention.stuck_then_connected, profile_text=PROFILE, module=MODULE, timeout=150)
    st = results["status"]
    assert st["state"] == "connected" and st["local_ip"] == "10.64.64.2", lab.tail()
    assert results["ping"] == 0, "a real link over the module"
    assert results["rc"] == 0
    events = module_log(lab)
    commands = [text for _, kind, text in events if kind == "cmd"]
    # in this order: reselection, radio off, radio on, then the dial that connected
    wanted = ["AT+COPS=0", "AT+CFUN=0", "AT+CFUN=1", "ATD*99#"]
    where = [commands.index(c) if c in commands else -1 for c in wanted]
    assert -1 not in where and where == sorted(where), f"{dict(zip(wanted, where))}: {commands}"
    assert commands.count("ATD*99#") == 1, "one dial: the attempt did not fail first"
    # no module reset of any kind
    assert "AT+CFUN=1,1" not in commands
    resets = [(kind, text) for _, kind, text in events
              if (kind == "control" and text in ("reset", "reboot", "power_on")) or text.startswith("power-down")]
    assert resets == [], resets
    assert st["resets"] == 0 and st["consecutive_failures"] == 0, st
    # both interventions in the status, each at its moment of the registration wait
    actions = {i["action"]: i for i in st["interventions"]}
    assert list(actions) == ["cops=0", "cfun 0/1"], st["interventions"]
    assert TIMEOUT / 2 <= actions["cops=0"]["after"] < TIMEOUT <= actions["cfun 0/1"]["after"], st["interventions"]
    up_log = lab.file("up.log")
    assert "AT+COPS=0" in up_log and "AT+CFUN=0" in up_log, up_log[-2000:]
