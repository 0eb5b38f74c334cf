"""Data-call commands: PDP contexts, the dial, back to data mode, hang up, and what DTR and
DCD mean (``AT&D``, ``AT&C``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from bg_pppd.emulator.commands.registry import Reply, command

if TYPE_CHECKING:
    from bg_pppd.emulator.modem import Modem


@command("&D", summary="DTR drop: ignored (0), to command mode keeping the call (1), hang up (2)")
def dtr_mode(m: Modem, v: int) -> Reply:
    if v not in (0, 1, 2):
        return Reply(final="ERROR")
    m.dtr_mode = v
    return Reply()


@command("&C", summary="DCD always on (0) or on during the data call (1)")
def dcd_mode(m: Modem, v: int) -> Reply:
    if v not in (0, 1):
        return Reply(final="ERROR")
    m.dcd_mode = v
    return Reply()


@command("+CGDCONT", summary="PDP contexts 1-15: type (IP, IPV6, IPV4V6) and APN; a cid alone deletes it")
def cgdcont(m: Modem, form: str, args: list[str]) -> Reply:
    if form == "?":
        return Reply([f'+CGDCONT: {cid},"{t}","{apn}","0.0.0.0",0,0,0'
                      for cid, (t, apn) in sorted(m.contexts.items())])
    if form == "=?":
        return Reply(['+CGDCONT: (1-15),"IP",,,(0-2),(0-4),(0,1)'])
    if form != "=" or not args[0].isdigit() or not 1 <= int(args[0]) <= 15:
        return Reply(final="ERROR")
    cid = int(args[0])
    if len(args) == 1:
        m.contexts.pop(cid, None)
        return Reply()
    if args[1] not in ("IP", "IPV6", "IPV4V6"):
        return Reply(final="ERROR")
    m.contexts[cid] = [args[1], args[2] if len(args) > 2 else ""]
    m.io.log("event", f"context {cid} = {m.contexts[cid]}")
    return Reply()


@command("D", summary="dial *99# or *99***<cid>#: CONNECT and data mode once registered, else NO CARRIER")
def dial(m: Modem, number: str) -> Reply:
    number = number.strip().upper()
    if number not in ("*99#", "*99***1#") and not number.startswith("*99***"):
        return Reply(final="NO CARRIER", delay=m.sc.scaled("dial_delay"))
    cid_text = number[6:-1] if number.startswith("*99***") else "1"
    if not cid_text:  # 27.007's D*99***#: the context left out is the default one
        cid_text = "1"
    if not cid_text.isdigit():
        return Reply(final="ERROR")  # not a dial string 27.007 knows
    cid = int(cid_text)
    delay = m.sc.scaled("dial_delay")
    m.dials += 1
    if m.dials <= len(m.sc.dial_results):
        return Reply(final=str(m.sc.dial_results[m.dials - 1]), delay=delay)
    if not m.network.registered() or cid not in m.contexts:
        return Reply(final="NO CARRIER", delay=delay)
    apn = m.contexts[cid][1]
    if m.sc.apns and apn not in m.sc.apns:
        # the network rejects the PDN connectivity request for this APN (3GPP TS 24.301 ESM
        # cause #27); the module ends the dial with NO CARRIER and AT+CEER says why
        m.ceer = "Missing or unknown APN (ESM cause #27)"  # 3GPP TS 24.301 9.9.4.4
        m.io.log("event", f"PDN connectivity rejected: APN {apn!r} unknown to the network")
        return Reply(final="NO CARRIER", delay=delay)
    return Reply(final=m.sc.connect_text, delay=delay, then=m.call_connected)


@command("O", summary="back to data mode on the port that holds the call (NO CARRIER without one)")
def online(m: Modem, v: int) -> Reply:
    if not m.session or m.ch is not m.call_ch:
        return Reply(final="NO CARRIER")
    return Reply(final=m.sc.connect_text, then=m.enter_data_mode)


@command("H", summary="hang up the data call (OK after hangup_delay)")
def hangup(m: Modem, v: int) -> Reply:
    if m.session:
        return Reply(delay=m.sc.scaled("hangup_delay"), then=lambda: m.end_session("ATH", result=None))
    return Reply()
