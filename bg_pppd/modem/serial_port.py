"""The module's serial port: opened the one way the profile describes it, hung up like a modem line.

Every port bg-pppd opens has a write timeout, and its writes wait in select():
pyserial's own write retries EAGAIN without waiting, 100 % CPU for as long as
a tty takes no bytes (one in pppd's line discipline never does). A tty that
another program owns through its line discipline is refused before it is
configured, so that pppd's settings are never touched.
"""

from __future__ import annotations

import errno
import os
import time
from typing import Any

from bg_pppd.profile.model import Profile

N_TTY, N_PPP, N_GSM0710 = 0, 3, 21  # <linux/tty.h> line disciplines: a terminal's, pppd's, n_gsm's
_OWNERS = {N_PPP: "pppd (the tty is in the PPP line discipline)",
           N_GSM0710: "a CMUX multiplexer (the tty is in the n_gsm line discipline)"}


class PortInUse(OSError):
    """The tty is in another line discipline than a terminal's: another program owns it."""

    discipline: int | None = None  # the one it is in

    def __str__(self) -> str:
        return str(self.strerror)


class WriteTimeout(TimeoutError):
    """Bytes could not be written within the port's write timeout."""

    def __str__(self) -> str:
        return str(self.strerror)


def held_elsewhere(exc: OSError) -> bool:
    """An open refused because another program holds the tty: its line discipline (PortInUse),
    EBUSY (its TIOCEXCL), or pyserial's exclusive lock taken (its flock)."""
    text = str(exc).lower()
    return (isinstance(exc, PortInUse) or getattr(exc, "errno", None) == errno.EBUSY or "busy" in text
            or "exclusively lock" in text)


def line_discipline(fd: int) -> int | None:
    """TIOCGETD: N_TTY (0) for a terminal, N_PPP (3) while pppd runs on it; None if not a tty."""
    import fcntl
    import struct
    import termios

    try:
        return struct.unpack("i", fcntl.ioctl(fd, termios.TIOCGETD, b"\0\0\0\0"))[0]
    except OSError:
        return None


def owner(discipline: int) -> str:
    """Who holds a tty in ``discipline``, for a diagnosis."""
    return _OWNERS.get(discipline, f"another program (line discipline {discipline}, not a terminal's)")


def open_port(profile: Profile, port: str | None = None, exclusive: bool = True,
              write_timeout: float | None = None, baudrate: int | None = None):
    """A pyserial port for ``port`` (default: the AT port) at the profile's rate and flow control.

    ``baudrate`` another rate (the pre-flight's probe for a module left at another one).

    ``exclusive`` takes an advisory lock, so a second bg-pppd cannot talk over us; the
    check after pppd leaves it off, pppd's own UUCP lock being the one that counts there.
    A write that cannot complete within ``write_timeout`` (default: the profile's
    at_timeout) raises WriteTimeout (a TimeoutError) instead of blocking or spinning.
    Raises PortInUse, without configuring the tty, when pppd (or any other line
    discipline than a terminal's) owns it.
    """
    device = port or profile.modem.port
    wait = profile.recovery.at_timeout if write_timeout is None else write_timeout
    guard = os.open(device, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        discipline = line_discipline(guard)
        if discipline not in (None, N_TTY):
            in_use = PortInUse(errno.EBUSY, f"{device} is in use by {owner(discipline)}: "
                                            "bg-pppd does not talk AT on it")
            in_use.discipline = discipline
            raise in_use
        return _serial_class()(device, baudrate or profile.modem.baudrate, timeout=0.05, write_timeout=wait,
                               rtscts=profile.modem.flow_control == "rtscts", exclusive=exclusive)
    finally:
        os.close(guard)  # after pyserial has its own: not the last close, which would drop DTR


_SERIAL: Any = None


def _serial_class() -> Any:
    """pyserial's Serial with a write that waits in select() and gives up at the write timeout."""
    global _SERIAL
    if _SERIAL is None:
        import serial  # pyserial; imported late, only when a port is really opened

        class Serial(serial.Serial):
            def write(self, data: Any) -> int:
                if not self.is_open:
                    raise serial.PortNotOpenError()
                try:
                    return _write(self, memoryview(serial.serialutil.to_bytes(data)))
                except (WriteTimeout, serial.SerialException):
                    raise
                except OSError as exc:  # EIO: the port is gone
                    raise serial.SerialException(f"write failed: {exc}") from None
        _SERIAL = Serial
    return _SERIAL


def _write(ser: Any, data: memoryview) -> int:
    import select

    timeout = ser.write_timeout
    deadline = None if timeout is None else time.monotonic() + timeout
    sent, pause = 0, False
    while sent < len(data):
        try:
            sent += os.write(ser.fd, data[sent:])
            pause = False
            continue
        except (BlockingIOError, InterruptedError):
            pass
        left = None if deadline is None else deadline - time.monotonic()
        if left is not None and left <= 0:
            raise WriteTimeout(errno.ETIMEDOUT, _stuck(ser, len(data) - sent, timeout))
        if pause:  # select said writable, yet the write took nothing: never retry at once
            abort = select.select([ser.pipe_abort_write_r], [], [], 0.01 if left is None else min(left, 0.01))[0]
        else:
            abort, ready, _ = select.select([ser.pipe_abort_write_r], [ser.fd], [], left)
            if not (abort or ready):
                raise WriteTimeout(errno.ETIMEDOUT, _stuck(ser, len(data) - sent, timeout))
        if abort:  # cancel_write()
            os.read(ser.pipe_abort_write_r, 1000)
            break
        pause = not pause
    return sent


def _stuck(ser: Any, left: int, timeout: float | None) -> str:
    discipline = line_discipline(ser.fd)
    why = (f"it is in use by {owner(discipline)}" if discipline not in (None, N_TTY)
           else "output held: flow control, or nobody reads the other side")
    return f"{ser.port}: {left} byte(s) not written within {timeout:g} s ({why})"


TIOCVHANGUP = 0x5437  # <asm-generic/ioctls.h>: the value on every architecture we ship for


def hang_up(device: str) -> bool:
    """Hang the tty up, as the kernel does when DCD drops on a line pppd runs with ``modem``.

    pppd then reads "Modem hangup" and ends the link at once. SIGHUP instead makes it
    send an LCP Terminate-Request over the dead line and wait out lcp-restart (3 s)
    before the redial can start. Needs CAP_SYS_ADMIN, which pppd's root has. False if
    the port is gone or the kernel refused: the caller then falls back to SIGHUP.
    """
    import fcntl

    try:
        fd = os.open(device, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
    except OSError:
        return False
    try:
        fcntl.ioctl(fd, TIOCVHANGUP)
        return True
    except OSError:
        return False
    finally:
        os.close(fd)
