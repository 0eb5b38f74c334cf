"""The module's serial port: opened the one way the profile describes it, hung up like a modem line."""

from __future__ import annotations

import os

from .profile import Profile


def open_port(profile: Profile, port: str | None = None, exclusive: bool = True):
    """A pyserial port for ``port`` (default: the AT port) at the profile's rate and flow control.

    ``exclusive`` takes an advisory lock, so a second bg-pppd cannot talk over us; the
    check after pppd leaves it off, pppd's own UUCP lock being the one that counts there.
    """
    import serial  # pyserial; imported late, only when a port is really opened

    return serial.Serial(port or profile.modem.port, profile.modem.baudrate, timeout=0.05,
                         rtscts=profile.modem.flow_control == "rtscts", exclusive=exclusive)


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
