"""Radio commands: functionality and reboot, registration and its URCs, operator, signal,
serving cell, and the scan configuration (RAT, order, mode) that decides whether the
module finds the network the scenario offers.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from bg_pppd.emulator.commands.registry import Reply, command
from bg_pppd.emulator.network import ACT, NWINFO, SYSMODE

if TYPE_CHECKING:
    from bg_pppd.emulator.modem import Modem


@command("+CFUN", summary="functionality: 0 minimum, 1 full, 4 no radio; 1,1 reboots the module")
def cfun(m: Modem, form: str, args: list[str]) -> Reply:
    if form == "?":
        return Reply([f"+CFUN: {m.network.cfun}"])
    if form != "=" or args[0] not in ("0", "1", "4"):
        return Reply(final="ERROR")
    if len(args) > 1 and args[1] == "1":
        def restart() -> None:
            if m.sc.powered_down_urc:
                m.urc("POWERED DOWN")
            m.reboot("AT+CFUN=1,1")
        return Reply(then=restart)
    m.network.cfun = int(args[0])
    m.network.attach()
    return Reply(delay=m.sc.scaled("cfun_delay"))


def _registration(m: Modem, name: str, form: str, args: list[str]) -> Reply:
    net = m.network
    if form == "?":
        n = net.reg_n[name]
        return Reply([f"{name}: {n},{net.reg_fields(name, net.reg_stat(name), n)}"])
    if form == "=?":
        return Reply([f"{name}: (0-2)"])
    if form == "=" and args[0] in ("0", "1", "2"):
        net.set_reporting(name, int(args[0]))
        return Reply()
    return Reply(final="ERROR")


@command("+CEREG", summary="EPS (LTE) registration; =1 or =2 turns on its URCs (2 with cell and RAT)")
def cereg(m: Modem, form: str, args: list[str]) -> Reply:
    return _registration(m, "+CEREG", form, args)


@command("+CGREG", summary="GPRS registration (where a GSM network registers); =1 or =2 turns on its URCs")
def cgreg(m: Modem, form: str, args: list[str]) -> Reply:
    return _registration(m, "+CGREG", form, args)


@command("+CREG", summary="network registration, either RAT; =1 or =2 turns on its URCs")
def creg(m: Modem, form: str, args: list[str]) -> Reply:
    return _registration(m, "+CREG", form, args)


@command("+CGATT", summary="packet domain attached (1 once registered); setting it is accepted")
def cgatt(m: Modem, form: str, args: list[str]) -> Reply:
    return Reply([f"+CGATT: {int(m.network.registered())}"]) if form == "?" else Reply()


@command("+COPS", summary="the operator once registered; =? scans (slow); setting it is accepted")
def cops(m: Modem, form: str, args: list[str]) -> Reply:
    if form == "?":
        if m.network.registered():
            act = ACT[m.sc.rat] if m.sc.rat != "gsm" else 0
            return Reply([f'+COPS: 0,0,"{m.sc.operator}",{act}'])
        return Reply(["+COPS: 0"])
    if form == "=?":
        op = m.sc.operator
        return Reply([f'+COPS: (1,"{op}","{op}","{m.sc.mcc_mnc}",8),,(0-4),(0-2)'],
                     delay=m.sc.scaled("cfun_delay") * 10)
    return Reply(delay=m.sc.scaled("cfun_delay"))


@command("+CSQ", summary="signal quality (99,99 while not registered)")
def csq(m: Modem, form: str, args: list[str]) -> Reply:
    return Reply([f"+CSQ: {m.sc.rssi if m.network.registered() else 99},99"])


@command("+QCSQ", summary="signal by RAT: RSSI, RSRP, SINR, RSRQ (NOSERVICE while not registered)")
def qcsq(m: Modem, form: str, args: list[str]) -> Reply:
    if not m.network.registered():
        return Reply(['+QCSQ: "NOSERVICE"'])
    rssi = -113 + 2 * m.sc.rssi
    if m.sc.rat == "gsm":
        return Reply([f'+QCSQ: "GSM",{rssi}'])
    sc = m.sc
    return Reply([f'+QCSQ: "{SYSMODE[sc.rat]}",{rssi},{sc.rsrp},{sc.sinr},{sc.rsrq}'])


@command("+QNWINFO", summary="serving network: RAT, operator code, band, channel")
def qnwinfo(m: Modem, form: str, args: list[str]) -> Reply:
    if not m.network.registered():
        return Reply(["+QNWINFO: No Service"])
    band = m.sc.band if m.sc.rat != "gsm" else "GSM 900"
    return Reply([f'+QNWINFO: "{NWINFO[m.sc.rat]}","{m.sc.mcc_mnc}","{band}",{m.sc.channel}'])


@command("+QCFG", summary='"iotopmode", "nwscanseq", "nwscanmode": read, or write to NV and rescan')
def qcfg(m: Modem, form: str, args: list[str]) -> Reply:
    conf = m.network.qcfg
    if form != "=" or not args or args[0].lower() not in conf:
        return Reply(final="ERROR")
    key = args[0].lower()
    if len(args) == 1:
        return Reply([f'+QCFG: "{key}",{conf[key]}'])
    value = args[1]
    valid = {"iotopmode": ("0", "1", "2"), "nwscanmode": ("0", "1", "3")}
    if key in valid and value not in valid[key]:
        return Reply(final="ERROR")
    if key == "nwscanseq" and (len(value) % 2 or not value.isdigit()):
        return Reply(final="ERROR")
    conf[key] = value if key == "nwscanseq" else int(value)
    m.io.log("event", f"qcfg {key}={value} (written to NV, rescan)")
    m.network.attach()
    return Reply()
