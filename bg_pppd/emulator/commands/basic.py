"""Basic commands: echo, result format, profiles, identity, error format, baud rate, power off.

Echo, result and error format are the port's own (the channel that sent the command);
the rest is the module's.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from bg_pppd.emulator import module_defaults
from bg_pppd.emulator.commands.registry import Reply, command

if TYPE_CHECKING:
    from bg_pppd.emulator.modem import Modem

BAUDRATES = (9600, 19200, 38400, 57600, 115200, 230400, 460800, 921600)


@command("E", summary="echo off (0) or on (1), this port")
def echo(m: Modem, v: int) -> Reply:
    if v not in (0, 1):
        return Reply(final="ERROR")
    m.ch.echo = bool(v)
    return Reply()


@command("V", summary="numeric (0) or verbose (1) result codes, this port")
def verbose(m: Modem, v: int) -> Reply:
    if v not in (0, 1):
        return Reply(final="ERROR")
    m.ch.verbose = bool(v)
    return Reply()


@command("Q", summary="result codes shown (accepted, nothing changes)")
def quiet(m: Modem, v: int) -> Reply:
    return Reply()


@command("Z", summary="back to the saved profile: echo, result format, AT&C, AT&D")
def restore(m: Modem, v: int) -> Reply:
    m.ch.echo, m.ch.verbose = bool(m.saved["E"]), bool(m.saved["V"])
    m.dcd_mode, m.dtr_mode = m.saved["&C"], m.saved["&D"]
    return Reply()


@command("&F", summary="factory settings: echo on, verbose, AT&C1, AT&D2")
def factory(m: Modem, v: int) -> Reply:
    m.ch.echo, m.ch.verbose, m.dcd_mode, m.dtr_mode = True, True, 1, 2
    return Reply()


@command("&W", summary="save echo, result format, AT&C, AT&D and AT+IPR over a reboot")
def save(m: Modem, v: int) -> Reply:
    m.saved.update({"E": int(m.ch.echo), "V": int(m.ch.verbose), "&C": m.dcd_mode,
                    "&D": m.dtr_mode, "ipr": m.ipr})
    m.io.log("event", f"settings saved (ipr {m.ipr})")
    return Reply()


@command("I", summary="manufacturer, model and revision")
def ident(m: Modem, v: int) -> Reply:
    return Reply([m.sc.manufacturer, m.sc.model, f"Revision: {m.sc.revision}"])


@command("+CMEE", summary="error format: ERROR (0), +CME ERROR numeric (1) or text (2), this port")
def cmee(m: Modem, form: str, args: list[str]) -> Reply:
    if form == "?":
        return Reply([f"+CMEE: {m.ch.cmee}"])
    if form == "=" and args[0] in ("0", "1", "2"):
        m.ch.cmee = int(args[0])
        return Reply()
    return Reply(final="ERROR") if form != "=?" else Reply(["+CMEE: (0-2)"])


@command("+CGSN", "+GSN", summary="the IMEI")
def imei(m: Modem, form: str, args: list[str]) -> Reply:
    return Reply([m.sc.imei])


@command("+CGMI", "+GMI", summary="the manufacturer")
def manufacturer(m: Modem, form: str, args: list[str]) -> Reply:
    return Reply([m.sc.manufacturer])


@command("+CGMM", "+GMM", summary="the model")
def model(m: Modem, form: str, args: list[str]) -> Reply:
    return Reply([m.sc.model])


@command("+CGMR", "+GMR", summary="the firmware revision")
def revision(m: Modem, form: str, args: list[str]) -> Reply:
    return Reply([m.sc.revision])


@command("+QGMR", summary="the full firmware id (AT+CGMR gives only its base): scenario firmware")
def firmware(m: Modem, form: str, args: list[str]) -> Reply:
    return Reply([module_defaults.firmware(m.sc)])


@command("+IPR", summary="the UART baud rate (kept over a reboot only after AT&W)")
def ipr(m: Modem, form: str, args: list[str]) -> Reply:
    if form == "?":
        return Reply([f"+IPR: {m.ipr}"])
    if form == "=?":
        return Reply([f"+IPR: (),({','.join(map(str, BAUDRATES))})"])
    if form == "=" and args[0].isdigit() and int(args[0]) in BAUDRATES:
        m.ipr = int(args[0])
        return Reply()
    return Reply(final="ERROR")


@command("+QPOWD", summary="power off: OK, then POWERED DOWN, then silence (a USB port vanishes)")
def power_down(m: Modem, form: str, args: list[str]) -> Reply:
    def off() -> None:
        m.urc("POWERED DOWN")
        m.power_off()
    return Reply(then=lambda: m.later(0.05, off))
