"""The network ends the PDP context the module's way (control op ``pdp_deact``).

What the host sees: ``+QIURC: "pdpdeact",<cid>`` and, where ``AT+CGEREP`` enabled it,
``+CGEV: NW PDN DEACT <cid>`` on the URC port (the AT port on USB; held back in data mode
on a single port, with RI pulsed); ``AT+CEER`` gives the network's cause. The module keeps
its PPP session: DCD stays up, LCP Echo- and Terminate-Requests are still answered (by the
module, which is the host's PPP peer), but no IP passes any more. So LCP echo never notices: only the URCs do.
"""

from __future__ import annotations

import struct
import threading
from typing import Any

from bg_pppd.emulator.commands.diagnostics import cgerep_mode
from bg_pppd.emulator.lcp import FLAG, unescape

CAUSE = "Regular deactivation (ESM cause #36)"  # the cause the network gives (3GPP TS 24.301 9.9.4.4)
DROP_CAUSE = "Network failure (ESM cause #38)"  # control op ``drop``: the call ends, DCD drops
LCP_TERMINATE_REQUEST, LCP_TERMINATE_ACK, LCP_ECHO_REQUEST, LCP_ECHO_REPLY = 5, 6, 9, 10
MAGIC = 0x5A5A0BE5  # the module's LCP magic number in its Echo-Replies (never the host's)


def fcs16(data: bytes) -> int:
    """RFC 1662's frame check sequence (CRC-16/X.25, reflected, initial 0xffff, inverted)."""
    fcs = 0xFFFF
    for byte in data:
        fcs ^= byte
        for _ in range(8):
            fcs = (fcs >> 1) ^ 0x8408 if fcs & 1 else fcs >> 1
    return fcs ^ 0xFFFF


def frame(payload: bytes) -> bytes:
    """An async HDLC frame: FCS appended, flags, 0x7d/0x7e and control characters escaped."""
    body = payload + struct.pack("<H", fcs16(payload))
    out = bytearray(FLAG)
    for byte in body:
        if byte < 0x20 or byte in (0x7D, 0x7E):
            out += bytes([0x7D, byte ^ 0x20])
        else:
            out.append(byte)
    return bytes(out + FLAG)


class LcpResponder:
    """Fed what the host sends; returns (code, frame) for each LCP request the module answers
    itself, an Echo-Request or a Terminate-Request (the rest, IP among it, is dropped)."""

    def __init__(self) -> None:
        self.buf = b""

    def feed(self, data: bytes) -> list[bytes]:
        self.buf += data
        *frames, self.buf = self.buf.split(FLAG)
        self.buf = self.buf[-4096:]
        replies = []
        for raw in frames:
            pkt = unescape(raw)
            if len(pkt) < 4 or fcs16(pkt[:-2]) != struct.unpack("<H", pkt[-2:])[0]:
                continue
            body = pkt[:-2]
            if body[:2] == b"\xff\x03":  # pppd leaves address/control out once ACFC is agreed
                body = body[2:]
            if len(body) < 2 + 4 or body[:2] != b"\xc0\x21":
                continue
            code, ident, length = body[2], body[3], struct.unpack(">H", body[4:6])[0]
            if code == LCP_ECHO_REQUEST and len(body) >= 2 + 8:
                data_part = body[10:2 + length]
                reply = struct.pack(">BBH", LCP_ECHO_REPLY, ident, 8 + len(data_part)) + \
                    struct.pack(">I", MAGIC) + data_part
            elif code == LCP_TERMINATE_REQUEST:  # the host hangs up: acknowledged, the call ends
                reply = struct.pack(">BBH", LCP_TERMINATE_ACK, ident, 4)
            else:
                continue
            replies.append((code, frame(b"\xff\x03\xc0\x21" + reply)))
        return replies


def deactivate(runtime: Any, cid: int = 1) -> None:
    """On the emulator's loop: the URCs, the cause, and from now on this call carries no IP.

    ``runtime`` is the pty Emulator: its ``blackhole`` stops the network side, and its
    ``network_write`` (what the host sends) answers LCP for this call only; the next
    call (a new dial) is carried normally again.
    """
    modem = runtime.modem
    modem.ceer = CAUSE
    runtime.log("event", f"network deactivated PDP context {cid}")
    if modem.session:
        runtime.blackhole = True
        session, responder = modem.sessions, LcpResponder()
        carry = type(runtime).network_write

        def network_write(data: bytes) -> None:
            if not (modem.session and modem.sessions == session):
                carry(runtime, data)  # a new call: carried again
                return
            for code, reply in responder.feed(data):
                what = "Echo-Request" if code == LCP_ECHO_REQUEST else "Terminate-Request"
                runtime.log("event", f"LCP {what} answered (the module is the PPP peer)")
                modem.network_data(reply)  # a Terminate-Ack ends the call (modem.lcp_end)
        runtime.network_write = network_write
    if cgerep_mode(modem):
        modem.urc(f"+CGEV: NW PDN DEACT {cid}")
    modem.urc(f'+QIURC: "pdpdeact",{cid}')
    if modem.urc_ch is modem.data_ch and modem.data_ch.mode == "data":
        modem.ri = True  # a URC in data mode: RI low for 120 ms (modem.ring does the same)
        modem._check_lines()
        modem.later(0.12, modem._ri_off)


def drop(runtime: Any) -> None:
    """Control op ``drop``: the call ends and the module ends PPP too (the network side killed:
    NO CARRIER, DCD low), unlike ``pdp_deact``; AT+CEER reports the network's cause afterwards."""
    runtime.modem.ceer = DROP_CAUSE
    threading.Thread(target=runtime.drop_network, daemon=True).start()
