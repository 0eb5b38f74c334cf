"""Log records to journald with fields of their own, over its native protocol.

Under systemd the daemon's stderr is a journal stream, which carries text only. Fleet log
pipelines select events by field (``MESSAGE_ID``, ``BG_PPPD_EVENT``, ``BG_PPPD_STATE``), so
when stderr is the journal (``$JOURNAL_STREAM`` names it) records go to journald's socket as
datagrams of ``KEY=value`` lines instead (systemd's native protocol; no library needed). A
record's fields are its ``journal`` attribute (``log.info(..., extra={"journal": {...}})``).
A datagram journald refuses (socket gone, queue full, too big) goes to stderr as before:
nothing is lost, and the sender never waits.
"""

from __future__ import annotations

import logging
import os
import re
import socket
import struct
import sys

SOCKET = "/run/systemd/journal/socket"
_FIELD = re.compile(r"[A-Z0-9][A-Z0-9_]{0,63}")  # journald's rule (no leading underscore: trusted fields)
_PRIORITY = {logging.DEBUG: 7, logging.INFO: 6, logging.WARNING: 4, logging.ERROR: 3, logging.CRITICAL: 2}


def stderr_is_journal(environ: dict[str, str] | None = None, fd: int = 2) -> bool:
    """``$JOURNAL_STREAM`` is "device:inode" of the stream systemd connected: ours, if stderr is it."""
    value = (os.environ if environ is None else environ).get("JOURNAL_STREAM", "")
    try:
        device, inode = (int(part) for part in value.split(":"))
        st = os.fstat(fd)
    except (ValueError, OSError):
        return False
    return (st.st_dev, st.st_ino) == (device, inode)


def encode(fields: dict[str, str]) -> bytes:
    """One datagram: ``KEY=value\\n``; a value holding a newline as KEY, its length (64-bit
    little-endian) and the bytes. Keys that journald would refuse are left out."""
    out = bytearray()
    for key, value in fields.items():
        if not _FIELD.fullmatch(key):
            continue
        data = str(value).encode("utf-8", errors="replace")
        if b"\n" in data:
            out += key.encode() + b"\n" + struct.pack("<Q", len(data)) + data + b"\n"
        else:
            out += key.encode() + b"=" + data + b"\n"
    return bytes(out)


class JournalHandler(logging.Handler):
    """Each record as one datagram to journald; ``fallback`` (stderr) when it cannot be sent."""

    def __init__(self, identifier: str, fallback: logging.Handler, path: str = SOCKET):
        super().__init__()
        self.identifier, self.fallback, self.path = identifier, fallback, path
        # never blocking: a journald that lags (its queue full) must not stall the supervisor's loop
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC | socket.SOCK_NONBLOCK)

    def emit(self, record: logging.LogRecord) -> None:
        try:
            message = self.format(record)
            fields = {"MESSAGE": message, "PRIORITY": str(_PRIORITY.get(record.levelno, 6)),
                      "SYSLOG_IDENTIFIER": self.identifier, "SYSLOG_PID": str(os.getpid()),
                      **{str(k): str(v) for k, v in (getattr(record, "journal", None) or {}).items()}}
            self.sock.sendto(encode(fields), self.path)
        except OSError:
            self.fallback.handle(record)
        except Exception:
            self.handleError(record)

    def close(self) -> None:
        self.sock.close()
        super().close()


def handler(identifier: str, fmt: str, datefmt: str | None = None) -> logging.Handler:
    """journald's own handler when stderr is the journal, else stderr's (one line per record)."""
    stream = logging.StreamHandler(sys.stderr)
    stream.setFormatter(logging.Formatter(fmt, datefmt))
    if not stderr_is_journal():
        return stream
    journal = JournalHandler(identifier, stream)
    journal.setFormatter(logging.Formatter("%(message)s"))
    return journal
