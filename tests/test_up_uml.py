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
        record(after=status())
    """)
    st = results["status"]
    assert st["interface"].startswith("ppp") and st["local_ip"] == "10.64.64.2", lab.tail()
    assert st["remote_ip"] == "10.64.64.1" and st["dns"] == ["10.64.64.53"]
    assert st["pid"] and st["pppd_pid"] and st["consecutive_failures"] == 0
    assert results["ping"] == 0
    assert results["down"] == 0 and results["rc"] == 0 and results["pppd_left"] == []
    assert results["after"]["state"] == "stopped"
    assert "rcvd [LCP TermReq" in lab.file("network.log"), "LCP Terminate-Request on a clean stop"
