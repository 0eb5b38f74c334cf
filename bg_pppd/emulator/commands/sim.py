"""SIM commands: its state and PIN/PUK, the retry counters, ICCID and IMSI.

A SIM that is absent, failed, locked or still busy after boot answers with the
``+CME ERROR`` the vendor documents; entering the PIN starts the network search.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from bg_pppd.emulator.commands.registry import CmeError, Reply, command

if TYPE_CHECKING:
    from bg_pppd.emulator.modem import Modem


def need_sim(m: Modem) -> None:
    """The SIM can be read now, or the +CME ERROR that says why not."""
    if m.network.cfun == 0:
        raise CmeError(13)
    if m.sim == "absent":
        raise CmeError(10)
    if m.sim == "failure":
        raise CmeError(13)
    if m.sim_ready_at is not None and m.io.now() < m.sim_ready_at:
        raise CmeError(14)


@command("+CPIN", summary="SIM state (READY, SIM PIN, SIM PUK); enter the PIN, or the PUK and a new PIN")
def cpin(m: Modem, form: str, args: list[str]) -> Reply:
    if form == "?":
        need_sim(m)
        text = {"pin": "SIM PIN", "puk": "SIM PUK"}.get(m.sim, "READY")
        return Reply([f"+CPIN: {text}"])
    if form != "=":
        return Reply(final="ERROR")
    need_sim(m)
    if m.sim == "pin" and len(args) == 1:
        if args[0] == m.pin:
            m.io.log("event", "PIN accepted")
            return Reply(then=lambda: _unlocked(m))
        m.pin_tries -= 1
        m.io.log("event", f"wrong PIN, {m.pin_tries} tries left")
        if m.pin_tries <= 0:
            m.sim = "puk"
        raise CmeError(16)
    if m.sim == "puk" and len(args) == 2:
        if args[0] == m.puk:
            m.pin, m.pin_tries = args[1], 3
            return Reply(then=lambda: _unlocked(m))
        m.puk_tries -= 1
        raise CmeError(16)
    raise CmeError(3)


def _unlocked(m: Modem) -> None:
    """The SIM is ready: its URCs follow the OK, and the network search starts now."""
    m.sim = "ready"
    m.pin_tries = 3
    gap = m.sc.scaled("boot_urc_gap")
    for i, text in enumerate(["+CPIN: READY", "+QUSIM: 1", "+QIND: SMS DONE", "+QIND: PB DONE"], 1):
        m.later(i * gap, lambda t=text: m.urc(t))
    m.sim_became_ready(m.io.now())


@command("+QPINC", summary="PIN and PUK tries left (ERROR with the scenario's qpinc: false)")
def qpinc(m: Modem, form: str, args: list[str]) -> Reply:
    if not m.sc.qpinc:
        return Reply(final="ERROR")
    return Reply([f'+QPINC: "SC",{m.pin_tries},{m.puk_tries}'])


@command("+QCCID", "+CCID", summary="the SIM's ICCID")
def iccid(m: Modem, form: str, args: list[str]) -> Reply:
    need_sim(m)
    return Reply([f"+QCCID: {m.sc.iccid}"])


@command("+CIMI", summary="the SIM's IMSI (only once the PIN is entered)")
def imsi(m: Modem, form: str, args: list[str]) -> Reply:
    need_sim(m)
    if m.sim != "ready":
        raise CmeError(11 if m.sim == "pin" else 12)
    return Reply([m.sc.imsi])
