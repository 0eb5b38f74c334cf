"""Opening the module's serial port the one way the profile describes it."""

from __future__ import annotations

from .profile import Profile


def open_port(profile: Profile, port: str | None = None, exclusive: bool = True):
    """A pyserial port for ``port`` (default: the AT port) at the profile's rate and flow control.

    ``exclusive`` takes an advisory lock, so a second bg-pppd cannot talk over us; the
    check after pppd leaves it off, pppd's own UUCP lock being the one that counts there.
    """
    import serial  # pyserial; imported late, only when a port is really opened

    return serial.Serial(port or profile.modem.port, profile.modem.baudrate, timeout=0.05,
                         rtscts=profile.modem.flow_control == "rtscts", exclusive=exclusive)
