"""What the module says about the radio: registration, operator, technology, band and signal.

One set of queries serves the pre-flight's report and the monitor while
connected, so `check` and `status` describe the radio the same way.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from bg_pppd.modem import at_replies as atparse

RADIO_KEYS = ("registration", "operator", "access_technology", "band", "signal")
# URCs the module holds back in data mode and signals by RI: SMS, calls, cell broadcast
RING_URCS = ("+CMTI:", "+CMT:", "+CDS:", "+CDSI:", "RING", "+CLIP:", "+CRING:", "+CBM:")

Command = Callable[[str, str], Any]  # (command, answer prefix) -> atchannel.Response


def registration_commands(technologies: Sequence[str], has_gsm: bool = True) -> list[str]:
    """+CEREG for LTE (Cat-M1, NB-IoT), +CGREG where EGPRS is allowed and the model has it."""
    if not technologies:
        return ["+CEREG", "+CGREG"] if has_gsm else ["+CEREG"]
    out = []
    if any(t != "egprs" for t in technologies):
        out.append("+CEREG")
    if "egprs" in technologies and has_gsm:
        out.append("+CGREG")
    return out or ["+CEREG"]


def read_radio(cmd: Command, registration: Sequence[str] = ()) -> dict[str, Any]:
    """Query the module; each answer it gives fills its keys, a refused command leaves them out."""
    out: dict[str, Any] = {}
    regs = []
    for name in registration:
        r = cmd(f"AT{name}?", f"{name}:")
        reg = atparse.parse_reg(r.first(f"{name}:") or "", name) if r.ok else None
        if reg:
            regs.append(reg)
    if regs:  # registered on any of them counts; else the most telling state
        best = next((r for r in regs if r.registered), max(regs, key=lambda r: r.denied))
        out["registration"] = best.word
    cops = atparse.parse_cops(cmd("AT+COPS?", "+COPS:").first("+COPS:") or "")
    if cops:
        out["operator"] = cops.name or None
        out["access_technology"] = cops.act_name or None
    info = atparse.parse_qnwinfo(cmd("AT+QNWINFO", "+QNWINFO:").first("+QNWINFO:") or "")
    if info:
        out["band"] = info["band"]
        # one name whichever the module uses: the BG95's "eMTC" and the BG96's "CAT-M1" alike
        out["access_technology"] = atparse.technology(str(info["act"] or "")) or out.get("access_technology")
    q = cmd("AT+QCSQ", "+QCSQ:")
    signal = dict((atparse.parse_qcsq(q.first("+QCSQ:") or "") if q.ok else None) or {})
    if not out.get("access_technology") and atparse.technology(str(signal.get("sysmode") or "")):
        out["access_technology"] = atparse.technology(str(signal["sysmode"]))
    if "rssi_dbm" not in signal:
        # +QCSQ's is the signal (on LTE-M +CSQ: 99,99 is normal while registered); +CSQ only
        # where +QCSQ gave none, and its 99 ("not known") is no signal
        csq = atparse.parse_csq(cmd("AT+CSQ", "+CSQ:").first("+CSQ:") or "")
        if csq and csq[0] is not None:
            signal["rssi_dbm"] = csq[0]
    out["signal"] = signal
    return out


def summary(radio: dict[str, Any]) -> str:
    """``Example, CAT-M1, RSRP -93 dBm`` (GSM: ``Example, GSM, -73 dBm``): one log line's worth."""
    parts = [radio.get("operator") or "?", radio.get("access_technology") or "?"]
    signal = radio.get("signal") or {}
    if "rsrp_dbm" in signal:  # LTE: RSRP is what tells coverage
        parts.append(f"RSRP {signal['rsrp_dbm']} dBm")
    elif "rssi_dbm" in signal:
        parts.append(f"{signal['rssi_dbm']} dBm")
    if radio.get("registration") not in (None, *atparse.REGISTERED):
        parts.append(str(radio["registration"]))
    return ", ".join(parts)
