"""Guest side of tests/test_apn_uml.py: APN fallback on a real link.

Runs in the UML guest (``lab.call``); ``work`` is the test's tmp dir, ``profile_text`` a template
with ``{work}`` whose ``network.apn`` lists a wrong APN before the one the network accepts.
"""

from __future__ import annotations

from pathlib import Path

from tests.uml_guest import PROCS, emulator, emulator_events, profile, record, status, stop, up, wait_state


def apn_fallback(work: Path, profile_text: str, accepted: list[str]) -> None:
    """Up with [wrong, right]: the first dial fails, the second connects; stop. Then a fresh
    module (factory context 1) and `up` again: what the state dir remembered is set first."""
    module = {"apns": accepted}
    emulator(module)
    p = profile(profile_text.format(work=work))
    proc = up(p)
    first = wait_state("connected", 90)
    record(first=first, first_rc=stop(proc), first_after=status())
    record(memory=(work / "state" / "lab.apn.json").read_text())
    emu = PROCS[0]
    emu.terminate()
    emu.wait(10)
    record(restart_at=len(emulator_events()))  # the log's events from here on are the second run's
    emulator(module)
    proc = up(p)
    record(second=wait_state("connected", 90))
    record(second_rc=stop(proc), events=emulator_events())
