"""Guest side of tests/test_intervention_uml.py: a registration that stays searching, mended short of a reset.

The virtual module keeps searching (scenario ``stuck_until: cfun``: not even ``AT+COPS=0`` helps,
and a reboot would not either) until its radio is switched off and on; then it registers and
`bg-pppd up` must bring a real link up over it.
"""

from __future__ import annotations

from pathlib import Path

from tests.uml_guest import emulator, ns, profile, record, stop, up, wait_state


def stuck_then_connected(work: Path, profile_text: str, module: dict) -> None:
    """`up` against the stuck module; connected (the status then), a ping across, SIGTERM."""
    emulator(module)
    p = profile(profile_text.format(work=work))
    proc = up(p)
    st = wait_state("connected", 60)
    record(status=st, ping=ns("ping", "-c", "1", "-W", "2", st["remote_ip"]).returncode, rc=stop(proc))
