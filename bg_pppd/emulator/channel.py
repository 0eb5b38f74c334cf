"""One of the module's serial ports: its line editor, result format, mode, and ``+++`` detector.

A USB module has a modem port (PPP) and an AT port; each has its own echo,
result format (``ATV``), error format (``AT+CMEE``) and mode, while SIM,
registration, the data call and power are the module's (modem.py).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

GUARD = 1.0          # +++ guard time, before and after (vendor: at least 1 s); never scaled
MAX_LINE = 560       # longer command lines are cut here, as the module's buffer does

NUMERIC = {"OK": 0, "CONNECT": 1, "RING": 2, "NO CARRIER": 3, "ERROR": 4, "NO DIALTONE": 6,
           "BUSY": 7, "NO ANSWER": 8}


class Timer(Protocol):
    def cancel(self) -> None: ...


class EscapeDetector:
    """``+++`` in data mode, the vendor's way: at least 1 s of silence before, all three within
    1 s, and 1 s of silence after. Until that is decided the plusses are held back; anything
    else releases them to the network as data."""

    def __init__(self, clock: Callable[[], float], call_later: Callable[[float, Callable[[], None]], Timer],
                 on_escape: Callable[[], None]):
        self.clock, self.call_later, self.on_escape = clock, call_later, on_escape
        self.last_rx = 0.0
        self.held = 0                 # '+' characters held back while an escape may be under way
        self.held_first = 0.0
        self.timer: Timer | None = None

    def start(self) -> None:
        """Data mode begins: the silence before an escape counts from now."""
        self.last_rx = self.clock()
        self.release()

    def feed(self, data: bytes) -> bytes:
        """The bytes of ``data`` (and of plusses held so far) that go to the network now."""
        now = self.clock()
        out = bytearray()
        for byte in data:
            if byte == 0x2B and self.held < 3 and (
                    (self.held == 0 and now - self.last_rx >= GUARD)
                    or (self.held and now - self.held_first < GUARD)):
                if self.held == 0:
                    self.held_first = now
                self.held += 1
                if self.held == 3:
                    self.timer = self.call_later(GUARD, self._complete)
            else:
                out += self.release()
                out.append(byte)
            self.last_rx = now
        return bytes(out)

    def release(self) -> bytes:
        """Give up a pending escape: the plusses held so far, as data."""
        held, self.held = b"+" * self.held, 0
        if self.timer:
            self.timer.cancel()
            self.timer = None
        return held

    def _complete(self) -> None:
        self.timer = None
        if self.held == 3 and self.clock() - self.last_rx >= GUARD - 0.01:
            self.held = 0
            self.on_escape()


class Channel:
    """A port's own state: echo, result and error format, the line being typed, the commands
    waiting for an answer, command or data mode, and the URCs held back meanwhile."""

    def __init__(self, name: str, clock: Callable[[], float],
                 call_later: Callable[[float, Callable[[], None]], Timer],
                 on_escape: Callable[[Channel], None]):
        self.name = name
        self.mode = "command"         # command | data
        self.echo = self.verbose = True
        self.cmee = 0
        self.line = bytearray()
        self.queue: list[str] = []
        self.busy = False
        self.pending_urcs: list[str] = []
        self.escape = EscapeDetector(clock, call_later, lambda: self._escaped(on_escape))

    def _escaped(self, on_escape: Callable[[Channel], None]) -> None:
        if self.mode == "data":
            on_escape(self)

    def power_loss(self) -> None:
        self.mode = "command"
        self.line.clear()
        self.queue.clear()
        self.busy = False
        self.escape.held = 0
        self.pending_urcs.clear()

    def edit(self, byte: int) -> str | None:
        """One typed byte in command mode; the command line when it ends (CR) and holds ``AT``.

        The module hunts for "AT": anything before it is noise, and a line without it is dropped.
        """
        if byte == 0x0D:
            line = self.line.decode("latin-1")
            self.line.clear()
            if "AT" in line.upper():
                return line[line.upper().index("AT"):].strip()
        elif byte in (0x08, 0x7F):
            del self.line[-1:]
        elif byte >= 0x20 and len(self.line) < MAX_LINE:
            self.line.append(byte)
        return None

    def frame(self, text: str) -> bytes:
        """An information line or URC: framed by CR LF with ATV1, ended by CR LF with ATV0."""
        return f"\r\n{text}\r\n".encode() if self.verbose else f"{text}\r\n".encode()

    def final(self, text: str) -> bytes:
        """A final result: framed text with ATV1; with ATV0 its number and CR (text if it has none)."""
        if self.verbose:
            return f"\r\n{text}\r\n".encode()
        code = NUMERIC.get(text.split(" ")[0] if text.startswith("CONNECT") else text)
        return f"{code}\r".encode() if code is not None else f"{text}\r\n".encode()
