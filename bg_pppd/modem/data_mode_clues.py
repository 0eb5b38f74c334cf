"""Is the silent port in data mode, booting, or at another baud rate? What the sync has seen decides.

A module that does not answer AT right after power-on is booting: its UART is
silent for about 2.5 s (BG95/BG77), 4.9 s (BG96), and RDY comes about 6 s after
``AT+CFUN=1,1`` (field-notes.md). Spending that time in DTR drops and ``+++``
guard times makes the first answer late, so the escapes are tried only on a
clue that data mode is possible: a call of ours that may still be up, DCD on
(the module's default ``AT&C1`` holds it low outside a call), bytes that look
like PPP frames, or a silence longer than any boot (LONG_SILENCE). Bytes that
are neither text nor PPP, read again and again, say the port runs at another
rate than the module (``GARBLED_READS``).
"""

from __future__ import annotations

# no answer for this long is no boot: 2 s beyond the slowest in the field notes (RDY ~6 s after
# AT+CFUN=1,1 on a BG96; its UART is ready 4.9 s after power-on, a BG95's 2.5 s)
LONG_SILENCE = 8.0
GARBLED_READS = 3    # reads of bytes that are neither text nor PPP: the port's rate is not the module's
FLAG, ESC = 0x7E, 0x7D  # HDLC-like framing of PPP (RFC 1662): frame delimiter and control escape
_TEXT = frozenset(range(0x20, 0x7F)) | {0x0D, 0x0A, 0x09}
_KEEP = 1600         # bytes kept to find a frame that spans reads: more than one PPP frame (MRU 1500)


def looks_like_ppp(data: bytes) -> bool:
    """A frame between two flags (RFC 1662): at least 4 bytes, at least one control escape,
    and every escape followed by an escaped byte (0x20-0x3F for control characters, 0x5D, 0x5E)."""
    for frame in data.split(bytes([FLAG]))[1:-1]:
        if len(frame) < 4 or ESC not in frame:
            continue
        escaped = [frame[i + 1] if i + 1 < len(frame) else None
                   for i, b in enumerate(frame) if b == ESC]
        if all(e is not None and (0x20 <= e <= 0x3F or e in (0x5D, 0x5E)) for e in escaped):
            return True
    return False


def garbled(data: bytes) -> bool:
    """Bytes no module sends at the right rate in command mode: not text, and no PPP flag."""
    return bool(data) and FLAG not in data and any(b not in _TEXT for b in data)


class PortClues:
    """What the bytes read so far say: PPP frames seen, and how many reads were garbled."""

    def __init__(self) -> None:
        self.ppp = False
        self.garbled_reads = 0
        self._tail = b""

    def feed(self, data: bytes) -> None:
        if not data:
            return
        if not self.ppp:
            self._tail = (self._tail + data)[-_KEEP:]
            self.ppp = looks_like_ppp(self._tail)
        if not self.ppp and garbled(data):  # a long frame's middle has no flag: not garbage once PPP is seen
            self.garbled_reads += 1


SURE_WAIT = 0.3  # seconds of AT unanswered before a sign of the call starts the escapes


def escape_reason(unanswered: float, first_sync: float, long_silence: float, in_call: bool,
                  dcd: bool | None, ppp: bool) -> str | None:
    """Why the data-mode escapes should be tried now, or None: a booting module is left alone.

    ``unanswered``: seconds AT has gone unanswered. A sign of the call itself (DCD on, PPP
    frames) is enough after SURE_WAIT (three ATs unanswered: a module in command mode answers
    one in ~22 ms); a guess (a call of ours may be up, a long silence) waits ``first_sync``
    at least. ``dcd`` is None where the port cannot tell.
    """
    if unanswered < min(SURE_WAIT, first_sync):
        return None
    if dcd:
        return "DCD is on"
    if ppp:
        return "PPP frames on the port"
    if unanswered < first_sync:
        return None
    if in_call:
        return "a call of ours may still be up"
    if unanswered >= long_silence:
        return f"no answer for {unanswered:.1f} s"
    return None
