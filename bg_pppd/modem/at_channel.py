"""The AT channel: send one command, collect its answer, set URCs apart.

The vendor's rule is one command at a time, waiting for the final result.
Echo, blank lines and line noise are tolerated; URCs that arrive at any time
are queued for the caller instead of being mistaken for answers. A module
that stays silent is reported as AtTimeout, a vanished port as PortGone.

The channel counts the commands it sent whose final result it has not read
yet. A module that answers slowly (>= 100 ms) still owes OKs to the extra
``AT``s of the sync, and a command that timed out may still be answered: such
late finals are read and dropped, never taken for the next command's answer.
Text about a command never shows a secret it carries (``AT+CPIN="****"``).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from bg_pppd.modem import at_replies as atparse
from bg_pppd.util.errors import BgPppdError

GUARD = 1.1  # +++ guard time: the vendor asks for at least 1 s of silence either side


class Transport(Protocol):
    """The subset of pyserial's Serial the channel uses (a fake or loop:// fits too).

    ``timeout`` is its read timeout: short (port.open_port: 50 ms), and never
    changed by the channel. ``in_waiting``, where it has it, counts the bytes
    that can be read at once.
    """

    timeout: float | None

    def write(self, data: bytes) -> int | None: ...
    def read(self, size: int = 1) -> bytes: ...
    def reset_input_buffer(self) -> None: ...


class AtTimeout(BgPppdError):
    """No final result in time (or the command could not be sent): the module is not responding."""


class PortGone(BgPppdError):
    """The port disappeared (USB re-enumeration after a reset, unplugged, ...)."""


# commands whose arguments hold secrets: the indexes of those arguments (3GPP TS 27.007, Quectel)
_SECRET_ARGS = {"+CPIN": (0, 1), "+CPWD": (1, 2), "+CLCK": (2,), "+CGAUTH": (2, 3), "+QICSGP": (3, 4)}
_SECRET_RE = re.compile(r'(\+(?:CPIN|CPWD|CLCK|CGAUTH|QICSGP))=((?:"[^"]*(?:"|$)|[^;"\s])*)', re.IGNORECASE)


def _split_args(text: str) -> list[str]:
    """At commas outside quotes, keeping empty arguments."""
    args, current, quoted = [], "", False
    for c in text:
        quoted ^= c == '"'
        if c == "," and not quoted:
            args.append(current)
            current = ""
        else:
            current += c
    return [*args, current]


def _mask(arg: str) -> str:
    stripped = arg.strip()
    if not stripped:
        return arg
    return '"****"' if stripped.startswith('"') else "****"


def redact(text: str) -> str:
    """``AT+CPIN="1234"`` -> ``AT+CPIN="****"``: the secrets of any command in ``text`` hidden.

    Applied at the source, to every message, response and log line about a
    command, so a PIN never reaches status.json, systemd's STATUS= or a log.
    """
    def hide(m: re.Match[str]) -> str:
        secret = _SECRET_ARGS[m.group(1).upper()]
        args = _split_args(m.group(2))
        return f"{m.group(1)}=" + ",".join(_mask(a) if n in secret else a for n, a in enumerate(args))
    return _SECRET_RE.sub(hide, text)


def _is_echo(line: str) -> bool:
    """An echo of a command we sent (late, or after noise): never a URC, never an answer."""
    return line[:2].upper() == "AT"


@dataclass
class Response:
    command: str  # as sent, with its secrets hidden (redact)
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


_DIAL = ("ATD", "ATO", "ATH", "AT+CGDATA")
# sent once after a sync that left answers owed: harmless, and answered unlike AT (27.007 8.5)
DRAIN_MARKER, DRAIN_ANSWER = "AT+CMEE?", "+CMEE:"


def _is_result(line: str, cmd: str = "") -> bool:
    """A final result (of ``cmd``): NO CARRIER ends only a call (a dial, ATO, ATH); else it is a URC."""
    if not atparse.is_final(line):
        return False
    return line != "NO CARRIER" or cmd.upper().startswith(_DIAL)


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
        self.owed = 0  # commands sent whose final result has not been read yet

    # ----- low level -------------------------------------------------------------------------

    def _read(self) -> bytes:
        """Waits up to the transport's own short read timeout, which the channel never changes:
        reconfiguring a port that has just vanished fails with an error that hides the PortGone."""
        try:
            data = self.t.read(1)  # returns as soon as a byte arrives, or after the timeout
            waiting = getattr(self.t, "in_waiting", 0) if data else 0
            if waiting:
                data += self.t.read(waiting)
        except OSError as exc:  # pyserial's SerialException is an OSError
            raise PortGone(f"the port went away: {exc}") from None
        return data

    def _read_nowait(self) -> bytes:
        """What has arrived already (in_waiting), without waiting."""
        try:
            waiting = getattr(self.t, "in_waiting", 0)
            return self.t.read(waiting) if waiting else b""
        except OSError as exc:
            raise PortGone(f"the port went away: {exc}") from None

    def write(self, data: bytes) -> None:
        """Raw bytes to the module: PortGone if the port is gone, AtTimeout if they cannot be sent
        within the port's write timeout (output held by flow control, or a tty pppd owns)."""
        try:
            self.t.write(data)
        except OSError as exc:
            if isinstance(exc, TimeoutError) or type(exc).__name__ == "SerialTimeoutException":
                text = redact(data.decode("latin-1").strip())
                what = text if 0 < len(text) <= 60 else f"{len(data)} byte(s)"
                raise AtTimeout(f"cannot send {what}: {exc}") from None
            raise PortGone(f"the port went away: {exc}") from None

    def _send(self, cmd: str) -> None:
        self.owed += 1  # counted first: a write that fails half-way may still reach the module
        self.write(cmd.encode("ascii") + b"\r")

    def _lines(self, data: bytes) -> list[str]:
        self._buf += data
        parts = re.split(rb"\r\n|\r|\n", self._buf)
        self._buf = parts.pop()
        return [_PRINTABLE.sub("", p.decode("latin-1")).strip() for p in parts]

    def _urc(self, line: str) -> None:
        if _is_echo(line):
            return  # a late echo of our own command is not something the module reported
        self.urcs.append(line)
        if self.on_urc:
            self.on_urc(line)

    def _late(self, line: str) -> None:
        """A line nobody waits for: a final is a late answer (one less owed, dropped), else a URC."""
        if _is_result(line):
            self.owed = max(0, self.owed - 1)
        elif line:
            self._urc(line)

    def poll(self, seconds: float = 0.0) -> list[str]:
        """Read what the module says unasked for ``seconds``; returns every line, queues the URCs.

        Final results (the OK after a DTR drop, a late answer) are returned, never queued as URCs.
        """
        end = self.clock() + seconds
        got: list[str] = []
        while True:
            for line in self._lines(self._read()):
                if line:
                    got.append(line)
                    if not _is_result(line):
                        self._urc(line)
            if self.clock() >= end:
                return got

    def take_urcs(self) -> list[str]:
        urcs, self.urcs = self.urcs, []
        return urcs

    def wait_urc(self, match: Callable[[str], bool], timeout: float, line_end: float = 0.2) -> str | None:
        """Read what the module says unasked until a line ``match`` accepts arrives (returned at
        once, the moment it is read) or ``timeout`` passes (None): an event is seen when it
        happens, not at the next poll.

        Every line read is queued as a URC, the match too, and a late final is dropped as in
        ``poll``. A line half-read when the time is up is read to its end (up to ``line_end``
        more; at 115200 baud a line takes about 1 ms): a URC split over two reads is neither
        lost nor cut, and no command starts in the middle of it.
        """
        end = self.clock() + max(0.0, timeout)
        while True:
            found = None
            for line in self._lines(self._read()):
                if not line:
                    continue
                if _is_result(line):
                    self.owed = max(0, self.owed - 1)  # a late answer, as in _late
                    continue
                self._urc(line)
                if found is None and not _is_echo(line) and match(line):
                    found = line  # the rest of this read is queued first
            if found is not None:
                return found
            now = self.clock()
            if now >= end and (not self._buf.strip() or now >= end + line_end):
                return None

    # ----- commands --------------------------------------------------------------------------

    def command(self, cmd: str, timeout: float | None = None, info_prefix: str | None = None) -> Response:
        """Send ``cmd`` and wait for its final result.

        ``info_prefix`` names the answer lines (``+CEREG:``); other lines that
        look like URCs are queued as URCs, not taken for the answer. A final that
        arrived before the command is a late answer to an earlier one: dropped.
        If an earlier command is still owed its answer (it timed out), the channel
        resynchronises first (``sync``, within ``timeout`` too), so that the answer
        read is this command's. AtTimeout and its text show the command redacted.
        """
        timeout = self.timeout if timeout is None else timeout
        for line in self._lines(self._read_nowait()):
            self._late(line)
        if self.owed:
            self.sync(min(self.timeout, timeout))
        self._buf = b""
        shown = redact(cmd)
        self._send(cmd)
        start = self.clock()
        info: list[str] = []
        while True:
            for line in self._lines(self._read()):
                if not line or line.upper() == cmd.upper():
                    continue  # blank, or our own echo
                if _is_result(line, cmd):
                    self.owed = max(0, self.owed - 1)
                    if self.owed:
                        continue  # the answer to a command sent before this one
                    return Response(shown, line, self._answer_lines(info, info_prefix), self.clock() - start)
                if _is_echo(line):
                    continue  # a late echo of an earlier command
                answer = bool(info_prefix) and line.startswith(info_prefix)
                if line.startswith(atparse.URC_PREFIXES) and not answer:
                    self._urc(line)
                else:
                    info.append(line)
            if self.clock() - start > timeout:
                raise AtTimeout(f"no answer to {shown} within {timeout:g} s")

    def _answer_lines(self, info: list[str], prefix: str | None) -> list[str]:
        """A URC of the answer's own family (+CEREG) can only come before the answer: keep the last."""
        if not prefix or not prefix.startswith(atparse.URC_PREFIXES):
            return info
        mine = [i for i, line in enumerate(info) if line.startswith(prefix)]
        for i in mine[:-1]:
            self._urc(info[i])
        return [line for i, line in enumerate(info) if i not in mine[:-1]]

    def sync(self, timeout: float, interval: float = 0.1) -> float:
        """``AT`` every ``interval`` until ``OK`` (the vendor's procedure); returns the time to that OK.

        ``timeout`` bounds the wait for the first OK. ``RDY`` / ``APP RDY`` (the module
        has booted) get the next AT at once, not at the next tick. Then the answers still
        owed are read and dropped (``_drain``): after a sync the next final result read
        is the next command's, however slowly the module answers.
        """
        start = self.clock()
        while True:
            self._send("AT")
            deadline = self.clock() + interval
            while self.clock() < deadline:
                for line in self._lines(self._read()):
                    if not _is_result(line):
                        if line:
                            self._urc(line)
                            if line in ("RDY", "APP RDY"):
                                deadline = self.clock()  # it takes AT from now on: the next one now
                        continue
                    self.owed = max(0, self.owed - 1)
                    if line == "OK":
                        took = self.clock() - start
                        self._drain()
                        return took
            if self.clock() - start > timeout:
                raise AtTimeout(f"no OK to AT within {timeout:g} s")

    def _drain(self) -> None:
        """After the sync's OK, read and drop the finals still owed to its other ``AT``s.

        A slow module answers each of them, in order and with any pauses; one that was
        booting never answers those it could not hear. One marker command tells the
        two apart without guessing from silences: its own answer (``+CMEE: <n>``, or
        an error where unsupported) can be told from an ``AT``'s ``OK``, so every
        final before it is late, and after it the channel is in step. A module that
        sends nothing for ``timeout`` (the channel's command timeout) in between is
        not responding.
        """
        if not self.owed:
            return
        late = self.owed
        self._send(DRAIN_MARKER)
        deadline = self.clock() + self.timeout
        marked = False
        while True:
            for line in self._lines(self._read()):
                if line.startswith(DRAIN_ANSWER):
                    marked = True  # the marker's own answer: its final comes next
                elif _is_result(line):
                    if marked or line != "OK" or not late:
                        self.owed = 0
                        return
                    late -= 1  # an AT of the sync answered late: dropped
                    deadline = self.clock() + self.timeout
                elif line:
                    self._urc(line)
            if self.clock() > deadline:
                raise AtTimeout(f"no answer to {DRAIN_MARKER} within {self.timeout:g} s")

    def escape(self, timeout: float = 3.0, sleep: Callable[[float], None] = time.sleep) -> bool:
        """Data -> command mode with ``+++`` and the guard times; True on ``OK``.

        PPP stays up on the module. Only valid after PPP negotiation completed;
        during negotiation it ends the negotiation, which is what recovery wants.
        """
        self.poll(0)
        sleep(GUARD)
        try:
            self.t.reset_input_buffer()
        except OSError as exc:
            raise PortGone(f"the port went away: {exc}") from None
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
