"""Radio commands: functionality and reboot, registration and its URCs, operator, signal,
serving cell, and the scan configuration (RAT, order, mode) that decides whether the
module finds the network the scenario offers.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from bg_pppd.emulator import module_defaults, radio_nv
from bg_pppd.emulator.commands.registry import Reply, command
from bg_pppd.emulator.network import ACT

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
    if int(args[0]) != m.network.cfun:
        m.io.log("event", f"cfun {m.network.cfun}->{args[0]}")
    was = m.network.cfun
    m.network.set_cfun(int(args[0]))
    if was == 0 and args[0] == "1" and m.sc.sim == "pin" and m.sim == "ready":
        # CFUN=0 powered the SIM down (CFUN=4 keeps it): its PIN is asked for again
        m.sim = "pin"
        m.io.log("event", "SIM powered up again: PIN required")
        return Reply(delay=m.sc.scaled("cfun_delay"), then=lambda: m.urc("+CPIN: SIM PIN"))
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


@command("+COPS", summary="the operator once registered; =? scans (slow); =0 searches again (and may reset "
                           "nwscanmode); other settings are accepted")
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
    if form == "=" and args and args[0] == "0":
        m.io.log("event", f"cops=0: {m.network.reselect()}")
    return Reply(delay=m.sc.scaled("cfun_delay"))


@command("+CSQ", summary="signal quality (99,99 while not registered; on LTE too with csq_on_lte false)")
def csq(m: Modem, form: str, args: list[str]) -> Reply:
    known = m.network.registered() and (m.sc.rat == "gsm" or m.sc.csq_on_lte)
    return Reply([f"+CSQ: {m.sc.rssi if known else 99},99"])


@command("+QCSQ", summary="signal by RAT: RSSI, RSRP, SINR, RSRQ (NOSERVICE while not registered)")
def qcsq(m: Modem, form: str, args: list[str]) -> Reply:
    if not m.network.registered():
        return Reply(['+QCSQ: "NOSERVICE"'])
    rssi = -113 + 2 * m.sc.rssi
    if m.sc.rat == "gsm":
        return Reply([f'+QCSQ: "GSM",{rssi}'])
    sc = m.sc  # the BG96 names Cat-M1/NB-IoT "CAT-M1"/"CAT-NB1" where the BG95 says "eMTC"/"NBIoT"
    return Reply([f'+QCSQ: "{module_defaults.sysmode(sc, sc.rat)}",{rssi},{sc.rsrp},{sc.sinr},{sc.rsrq}'])


@command("+QNWINFO", summary="serving network: RAT, operator code, band, channel")
def qnwinfo(m: Modem, form: str, args: list[str]) -> Reply:
    if not m.network.registered():
        return Reply(["+QNWINFO: No Service"])
    band = m.sc.band if m.sc.rat != "gsm" else "GSM 900"
    act = module_defaults.nwinfo(m.sc, m.sc.rat)
    return Reply([f'+QNWINFO: "{act}","{m.sc.mcc_mnc}","{band}",{m.sc.channel}'])


@command("+QCFG", summary='=? lists what this firmware has; "iotopmode", "nwscanseq", "nwscanmode", '
                           '"band" (masks): read, or write to NV and rescan; others listed are kept')
def qcfg(m: Modem, form: str, args: list[str]) -> Reply:
    settings = module_defaults.qcfg_settings(m.sc)
    if form == "=?":
        return Reply([_qcfg_form(m, name) for name in settings])
    if form != "=" or not args or args[0].lower() not in settings:
        return Reply(final="ERROR")  # a setting this firmware does not have: plain ERROR
    key = args[0].lower()
    if key == "band":
        return _band(m, args[1:])
    conf = m.network.qcfg
    if key not in conf:  # listed, not modelled: kept as written
        other = radio_nv.of(m).other
        if len(args) == 1:
            return Reply([f'+QCFG: "{key}",{other.get(key, "0")}'])
        other[key] = ",".join(args[1:])
        return Reply()
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


def _qcfg_form(m: Modem, name: str) -> str:
    if name == "band":
        g, e, n = module_defaults.all_bands(m.sc)
        return f'+QCFG: "band",(0-{g:X}),(0-0x{e:X}),(0-0x{n:X}),(0,1)'
    form = module_defaults.FORMS.get(name, "")
    return f'+QCFG: "{name}",{form}' if form else f'+QCFG: "{name}"'


def _band(m: Modem, args: list[str]) -> Reply:
    """``AT+QCFG="band"``: the GSM, eMTC and NB-IoT masks; a write sets all three (0 = that one
    unchanged), only bands the model has, then a rescan unless <effect> is 0 (after reboot)."""
    nv = radio_nv.of(m)
    if not args:
        return Reply(['+QCFG: "band",' + ",".join(f"0x{mask:x}" for mask in nv.bands)])
    if len(args) not in (3, 4) or (len(args) == 4 and args[3] not in ("0", "1")):
        return Reply(final="ERROR")
    try:
        masks = [int(a, 16) for a in args[:3]]
    except ValueError:
        return Reply(final="ERROR")
    has = module_defaults.all_bands(m.sc)
    if any(mask & ~limit for mask, limit in zip(masks, has)):
        return Reply(final="ERROR")  # a band this model has not
    nv.bands = [mask or old for mask, old in zip(masks, nv.bands)]
    nv.writes += 1
    m.io.log("event", "qcfg band=" + ",".join(f"0x{mask:x}" for mask in nv.bands) + " (written to NV, rescan)")
    if len(args) < 4 or args[3] == "1":
        m.network.attach()
    return Reply()


@command("+CPSMS", summary="power saving mode requested (0 off, 1 on), kept in NV")
def cpsms(m: Modem, form: str, args: list[str]) -> Reply:
    nv = radio_nv.of(m)
    if form == "?":
        return Reply([f'+CPSMS: {int(nv.psm)},,,"00000100","00001111"'])
    if form == "=?":
        return Reply(['+CPSMS: (0,1),,,("00000000"-"11111111"),("00000000"-"11111111")'])
    if form == "=" and args[0] in ("", "0", "1"):
        nv.psm = args[0] == "1"
        nv.writes += 1
        m.io.log("event", f"psm {'on' if nv.psm else 'off'} (written to NV)")
        return Reply()
    return Reply(final="ERROR")


@command("+CEDRXS", summary="eDRX requested per AcT (4 LTE-M, 5 NB-IoT): =0 off, =1/2 on, =3 off and reset")
def cedrxs(m: Modem, form: str, args: list[str]) -> Reply:
    nv = radio_nv.of(m)
    if form == "?":  # one line per AcT with eDRX on, none when it is off everywhere
        return Reply([f'+CEDRXS: {act},"{value}"' for act, value in sorted(nv.edrx.items())])
    if form == "=?":
        return Reply(['+CEDRXS: (0-3),(4,5),("0000"-"1111")'])
    if form != "=" or args[0] not in ("", "0", "1", "2", "3"):
        return Reply(final="ERROR")
    act = args[1] if len(args) > 1 else ""
    if act not in ("", "4", "5"):
        return Reply(final="ERROR")
    if args[0] in ("", "0", "3"):
        if act:
            nv.edrx.pop(int(act), None)
        else:
            nv.edrx.clear()
    else:
        if not act:
            return Reply(final="ERROR")
        nv.edrx[int(act)] = args[2] if len(args) > 2 and args[2] else radio_nv.EDRX_DEFAULT
    nv.writes += 1
    m.io.log("event", f"edrx {','.join(map(str, sorted(nv.edrx))) or 'off'} (written to NV)")
    return Reply()
