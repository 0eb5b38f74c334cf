"""Spotting, in the module's PPP stream to the host, the end of the PPP session.

The module is the host's PPP peer: once it has acknowledged the host's LCP
Terminate-Request the session is over and the port returns to command mode
(NO CARRIER, DCD low). The pppd that plays the module's PPP side would instead
keep the line for its lcp-restart time (3 s) before it exits: a lab artefact
that made every disconnect script talk into a data call still up.
"""

from __future__ import annotations

FLAG, ESCAPE = b"\x7e", 0x7D
# address/control (never compressed for LCP), protocol C021 (LCP), code 6 (Terminate-Ack)
TERMINATE_ACK = b"\xff\x03\xc0\x21\x06"


def unescape(frame: bytes) -> bytes:
    """RFC 1662 async HDLC: 0x7d escapes the next byte, which is xor 0x20."""
    out = bytearray()
    escaped = False
    for b in frame:
        if b == ESCAPE:
            escaped = True
            continue
        out.append(b ^ 0x20 if escaped else b)
        escaped = False
    return bytes(out)


class TerminateAckWatch:
    """Fed every chunk the module sends the host; says when a Terminate-Ack went out."""

    def __init__(self) -> None:
        self.tail = b""  # a frame's start split across two chunks

    def feed(self, data: bytes) -> bool:
        buf = self.tail + data
        self.tail = buf[-16:]
        if b"\xc0\x21" not in buf:  # no LCP frame here: the common case costs one search
            return False
        return any(unescape(frame[:16]).startswith(TERMINATE_ACK) for frame in buf.split(FLAG))
