"""The AT channel: send one command, collect its answer, set URCs apart.

The vendor's rule is one command at a time, waiting for the final result.
Echo, blank lines and line noise are tolerated; URCs that arrive at any time
are queued for the caller instead of being mistaken for answers. A module
that stays silent is reported as AtTimeout, a vanished port as PortGone.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from . import atparse
from .errors import BgPppdError

GUARD = 1.1  # +++ guard time: the vendor asks for at least 1 s of silence either side


class Transport(Protocol):
    """The subset of pyserial's Serial the channel uses (a fake or loop:// fits too)."""

    timeout: float | None

    def write(self, data: bytes) -> int | None: ...
    def read(self, size: int = 1) -> bytes: ...
    def reset_input_buffer(self) -> None: ...


class AtTimeout(BgPppdError):
    """No final result in time: the module is not responding."""


class PortGone(BgPppdError):
    """The port disappeared (USB re-enumeration after a reset, unplugged, ...)."""


@dataclass
class Response:
    command: str
    final: str
    info: list[str] = field(default_factory=list)
    elapsed: float = 0.0

    @property
    def ok(self) -> bool:
        return self.final == "OK"

    @property
    def cme(self) -> int | None:
        return atparse.cme_code(self.final)

    def first(self, prefix: str) -> str | None:
        return next((line for line in self.info if line.startswith(prefix)), None)


_PRINTABLE = re.compile(r"[^\x20-\x7e]")


class AtChannel:
    def __init__(self, transport: Transport, timeout: float = 60.0,
                 clock: Callable[[], float] = time.monotonic,
                 on_urc: Callable[[str], None] | None = None):
        self.t = transport
        self.timeout = timeout
        self.clock = clock
        self.on_urc = on_urc
        self.urcs: list[str] = []
        self._buf = b""

    # ----- low level -------------------------------------------------------------------------

    def _read(self) -> bytes:
        try:
            data = self.t.read(1)  # returns as soon as a byte arrives, or after the timeout
            waiting = getattr(self.t, "in_waiting", 0) if data else 0
            if waiting:
                data += self.t.read(waiting)
        except OSError as exc:  # pyserial's SerialException is an OSError
            raise PortGone(f"the port went away: {exc}") from None
        return data

    def write(self, data: bytes) -> None:
        try:
            self.t.write(data)
        except OSError as exc:
            raise PortGone(f"the port went away: {exc}") from None

    def _lines(self, data: bytes) -> list[str]:
        self._buf += data
        parts = re.split(rb"\r\n|\r|\n", self._buf)
        self._buf = parts.pop()
        return [_PRINTABLE.sub("", p.decode("latin-1")).strip() for p in parts]

    def _urc(self, line: str) -> None:
        self.urcs.append(line)
        if self.on_urc:
            self.on_urc(line)

    def poll(self, seconds: float = 0.0) -> list[str]:
        """Read what the module says unasked for ``seconds``; returns (and queues) the URCs."""
        end = self.clock() + seconds
        got: list[str] = []
        while True:
            for line in self._lines(self._read()):
                if line:
                    got.append(line)
                    self._urc(line)
            if self.clock() >= end:
                return got

    def take_urcs(self) -> list[str]:
        urcs, self.urcs = self.urcs, []
        return urcs

    # ----- commands --------------------------------------------------------------------------

    def command(self, cmd: str, timeout: float | None = None, info_prefix: str | None = None) -> Response:
        """Send ``cmd`` and wait for its final result.

        ``info_prefix`` names the answer lines (``+CEREG:``); other lines that
        look like URCs are queued as URCs, not taken for the answer.
        """
        timeout = self.timeout if timeout is None else timeout
        for line in self._lines(self._read_nowait()):
            if line:
                self._urc(line)
        self._buf = b""
        self.write(cmd.encode("ascii") + b"\r")
        start = self.clock()
        info: list[str] = []
        while True:
            for line in self._lines(self._read()):
                if not line or line.upper() == cmd.upper():
                    continue  # blank, or our own echo
                if atparse.is_final(line) and not (line == "NO CARRIER" and not cmd.upper().startswith(
                        ("ATD", "ATO", "ATH", "AT+CGDATA"))):
                    return Response(cmd, line, self._answer_lines(info, info_prefix), self.clock() - start)
                if line.upper().startswith("AT"):
                    continue  # a late echo of an earlier command
                answer = bool(info_prefix) and line.startswith(info_prefix)
                if line.startswith(atparse.URC_PREFIXES) and not answer:
                    self._urc(line)
                else:
                    info.append(line)
            if self.clock() - start > timeout:
                raise AtTimeout(f"no answer to {cmd} within {timeout:g} s")

    def _answer_lines(self, info: list[str], prefix: str | None) -> list[str]:
        """A URC of the answer's own family (+CEREG) can only come before the answer: keep the last."""
        if not prefix or not prefix.startswith(atparse.URC_PREFIXES):
            return info
        mine = [i for i, line in enumerate(info) if line.startswith(prefix)]
        for i in mine[:-1]:
            self._urc(info[i])
        return [line for i, line in enumerate(info) if i not in mine[:-1]]

    def _read_nowait(self) -> bytes:
        saved = self.t.timeout
        self.t.timeout = 0
        try:
            return self._read()
        finally:
            self.t.timeout = saved

    def sync(self, timeout: float, interval: float = 0.1) -> float:
        """``AT`` every ``interval`` until ``OK`` (the vendor's procedure); returns the time taken."""
        start = self.clock()
        saved = self.t.timeout
        self.t.timeout = interval
        try:
            while True:
                self.write(b"AT\r")
                deadline = self.clock() + interval
                while self.clock() < deadline:
                    for line in self._lines(self._read()):
                        if line == "OK":
                            return self.clock() - start
                        if line and line != "AT" and not atparse.is_final(line):
                            self._urc(line)
                if self.clock() - start > timeout:
                    raise AtTimeout(f"no OK to AT within {timeout:g} s")
        finally:
            self.t.timeout = saved

    def escape(self, timeout: float = 3.0, sleep: Callable[[float], None] = time.sleep) -> bool:
        """Data -> command mode with ``+++`` and the guard times; True on ``OK``.

        PPP stays up on the module. Only valid after PPP negotiation completed;
        during negotiation it ends the negotiation, which is what recovery wants.
        """
        self.poll(0)
        sleep(GUARD)
        self.t.reset_input_buffer()
        self.write(b"+++")
        sleep(GUARD)
        end = self.clock() + timeout
        while self.clock() < end:
            lines = self._lines(self._read())
            if "OK" in lines:  # what follows in the same read: the URCs held back in data mode
                for line in lines[lines.index("OK") + 1:]:
                    if line:
                        self._urc(line)
                return True
        return False

    def take_buffer(self) -> bytes:
        """Bytes read but not yet taken as lines: after ``ATO`` they are the first PPP frames."""
        data, self._buf = self._buf, b""
        return data

    def online(self, timeout: float | None = None) -> bool:
        """Command -> data mode (``ATO``): True on ``CONNECT``."""
        return self.command("ATO", timeout).final.startswith("CONNECT")
