"""The modem control lines (DTR out; DCD and RI in), behind one small interface.

A real UART or USB port has them through pyserial; a pseudo-terminal has
none, so the emulator simulates them on a control socket next to its link
(``<port>.control``) and the same code paths run in tests. The profile says
which (``modem.line_backend``: ``serial``, the default, or ``emulator``):
nothing here guesses from what lies beside the port, so a root daemon never
takes a socket someone put next to its device for its modem's lines.

The emulator's control protocol is one JSON object a line each way over a
Unix socket; its client call is in util.control_socket, so the production
code never imports the emulator (and the emulator never imports this).
"""

from __future__ import annotations

import fcntl
import json
import os
import termios
from collections.abc import Iterator
from typing import Any, Protocol

from bg_pppd.util.control_socket import control_call, socket_address

BACKENDS = ("serial", "emulator")


def control_path(port: str) -> str:
    """Where the emulator's control socket for link ``port`` is."""
    return f"{port}.control"


class Lines(Protocol):
    def set_dtr(self, asserted: bool) -> None: ...
    def dcd(self) -> bool | None: ...
    def ri(self) -> bool | None: ...


def _backend(backend: str) -> str:
    if backend not in BACKENDS:
        raise ValueError(f"no control-line backend {backend!r} (one of {', '.join(BACKENDS)})")
    return backend


def watch_port(port: str, backend: str = "serial") -> Iterator[dict[str, bool]]:
    """Block until DCD or RI change, then yield both; ends when the port cannot tell.

    The emulator's control socket pushes changes; a real serial port blocks in
    TIOCMIWAIT. Neither polls, so a connected supervisor stays asleep.
    """
    if _backend(backend) == "emulator":
        yield from _watch_emulator(control_path(port))
    else:
        yield from _watch_serial(port)


def _watch_emulator(path: str) -> Iterator[dict[str, bool]]:
    import socket  # only the emulator's lines are a socket

    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        with socket_address(path) as address:
            sock.connect(address)
        sock.sendall(b'{"op": "watch"}\n')
        with sock.makefile("r") as stream:
            for line in stream:
                try:
                    msg = json.loads(line)
                except ValueError:
                    continue
                yield {"dcd": bool(msg.get("dcd")), "ri": bool(msg.get("ri"))}


def _watch_serial(port: str) -> Iterator[dict[str, bool]]:
    try:
        fd = os.open(port, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY)
    except OSError:
        return
    try:
        while True:
            bits = fcntl.ioctl(fd, termios.TIOCMGET, b"\0\0\0\0")
            value = int.from_bytes(bits, "little")
            yield {"dcd": bool(value & termios.TIOCM_CAR), "ri": bool(value & termios.TIOCM_RNG)}
            fcntl.ioctl(fd, termios.TIOCMIWAIT, termios.TIOCM_CAR | termios.TIOCM_RNG)
    except OSError:
        return  # a pseudo-terminal or a driver without modem lines: nothing to watch
    finally:
        os.close(fd)


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

    def _call(self, op: str, **args: Any) -> dict[str, Any]:
        return control_call(self.path, op, **args)

    def set_dtr(self, asserted: bool) -> None:
        self._call("dtr", value=asserted)

    def dcd(self) -> bool | None:
        return bool(self._call("status").get("dcd"))

    def ri(self) -> bool | None:
        return bool(self._call("status").get("ri"))


def for_port(port: str, serial=None, backend: str = "serial") -> Lines:
    """The lines of ``port`` by the profile's backend: the emulator's simulated ones, or
    pyserial's on the open ``serial`` (none without it)."""
    if _backend(backend) == "emulator":
        return EmulatorLines(control_path(port))
    return SerialLines(serial) if serial is not None else NoLines()
