"""Diagnostic commands: why the last call or attach ended (``AT+CEER``), the serving cell
(``AT+QENG="servingcell"``), and packet-domain event reporting (``AT+CGEREP``, whose
``+CGEV`` URCs tell the host the network ended a PDP context).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from bg_pppd.emulator.commands.registry import Reply, command
from bg_pppd.emulator.network import SYSMODE

if TYPE_CHECKING:
    from bg_pppd.emulator.modem import Modem

CELL_ID, PCI, TAC = "1A2D001", 123, "1A2B"  # the cell +CEREG's mode 2 names too (network.reg_fields)
BANDWIDTH = 3   # UL/DL bandwidth index of the serving cell (eMTC: the carrier's, 10 MHz)
SRXLEV = 40     # cell selection level (dB above the minimum)


@command("+CEER", summary="extended error report: the cause of the last call end or failed attach")
def ceer(m: Modem, form: str, args: list[str]) -> Reply:
    if form == "=?":
        return Reply()
    if form:
        return Reply(final="ERROR")
    return Reply([f"+CEER: {m.ceer}"])


def _earfcn_band(m: Modem) -> int:
    """``LTE BAND 20`` -> 20 (the band QNWINFO names)."""
    digits = "".join(c for c in m.sc.band.rsplit(" ", 1)[-1] if c.isdigit())
    return int(digits) if digits else 0


@command("+QENG", summary='engineering mode: "servingcell" (SEARCH, or the cell, its levels and state)')
def qeng(m: Modem, form: str, args: list[str]) -> Reply:
    if form == "=?":
        return Reply(['+QENG: "servingcell"'])
    if form != "=" or not args or args[0].lower() != "servingcell":
        return Reply(final="ERROR")
    net, sc = m.network, m.sc
    stat = net.stat()
    if stat in (0, 2) or m.power != "on":
        return Reply(['+QENG: "servingcell","SEARCH"'])
    # denied: camped on the cell for emergency calls only (limited service)
    state = "LIMSRV" if stat == 3 else "CONNECT" if m.session else "NOCONN"
    mcc, mnc = sc.mcc_mnc[:3], sc.mcc_mnc[3:]
    rssi = -113 + 2 * sc.rssi
    if sc.rat == "gsm":  # mcc,mnc,lac,cellid,bsic,arfcn,band,rxlev,txp,rla,drx,c1,c2,gprs,tch,ts,ta,...
        return Reply([f'+QENG: "servingcell","{state}","GSM",{mcc},{mnc},{TAC},{CELL_ID[-4:]},23,'
                      f'{sc.channel},0,{rssi},255,0,0,30,30,1,-,-,-,-,-,-,-,-,-,-'])
    sinr_db = sc.sinr // 5 - 20  # QCSQ reports SINR as 0..250 (1/5 dB above -20 dB)
    return Reply([f'+QENG: "servingcell","{state}","{SYSMODE[sc.rat]}","FDD",{mcc},{mnc},{CELL_ID},{PCI},'
                  f'{sc.channel},{_earfcn_band(m)},{BANDWIDTH},{BANDWIDTH},{TAC},{sc.rsrp},{sc.rsrq},{rssi},'
                  f'{sinr_db},{SRXLEV}'])


def cgerep_mode(m: Modem) -> int:
    """The ``AT+CGEREP`` mode now: volatile, so 0 (27.007's default: nothing forwarded) after a reboot."""
    generation, mode = getattr(m, "cgerep", (None, 0))
    return mode if generation == m.generation else 0


@command("+CGEREP", summary="packet domain event reporting: +CGEV URCs (0 off, 1 or 2 on the URC port)")
def cgerep(m: Modem, form: str, args: list[str]) -> Reply:
    if form == "?":
        return Reply([f"+CGEREP: {cgerep_mode(m)},0"])
    if form == "=?":
        return Reply(["+CGEREP: (0-2),(0,1)"])
    if form != "=" or args[0] not in ("0", "1", "2") or (len(args) > 1 and args[1] not in ("0", "1", "")):
        return Reply(final="ERROR")
    m.cgerep = (m.generation, int(args[0]))
    return Reply()
