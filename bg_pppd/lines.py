"""The modem control lines (DTR out; DCD and RI in), behind one small interface.

A real UART or USB port has them through pyserial; a pseudo-terminal has
none, so the emulator simulates them on a control socket next to its link
(``<port>.control``) and the same code paths run in tests.
"""

from __future__ import annotations

import os
from typing import Protocol


class Lines(Protocol):
    def set_dtr(self, asserted: bool) -> None: ...
    def dcd(self) -> bool | None: ...
    def ri(self) -> bool | None: ...


class NoLines:
    """A port without usable control lines: DTR does nothing, DCD and RI are unknown."""

    def set_dtr(self, asserted: bool) -> None:
        pass

    def dcd(self) -> bool | None:
        return None

    def ri(self) -> bool | None:
        return None


class SerialLines:
    def __init__(self, serial):
        self.serial = serial

    def set_dtr(self, asserted: bool) -> None:
        self.serial.dtr = asserted

    def dcd(self) -> bool | None:
        try:
            return bool(self.serial.cd)
        except OSError:
            return None

    def ri(self) -> bool | None:
        try:
            return bool(self.serial.ri)
        except OSError:
            return None


class EmulatorLines:
    """The virtual module's simulated lines, over its control socket."""

    def __init__(self, socket_path: str):
        self.path = socket_path

    def _call(self, op: str, **args) -> dict:
        from .emulator.control import call

        return call(self.path, op, **args)

    def set_dtr(self, asserted: bool) -> None:
        self._call("dtr", value=asserted)

    def dcd(self) -> bool | None:
        return bool(self._call("status").get("dcd"))

    def ri(self) -> bool | None:
        return bool(self._call("status").get("ri"))


def for_port(port: str, serial=None) -> Lines:
    """Simulated lines when the port is the emulator's link, pyserial's otherwise."""
    control = f"{port}.control"
    if os.path.exists(control):
        return EmulatorLines(control)
    return SerialLines(serial) if serial is not None else NoLines()
