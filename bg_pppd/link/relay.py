"""The main UART shared by PPP and AT commands: pppd on a pty, bytes relayed to the port.

With one port, status queries need the vendor's data/command switch: ``+++``
with 1 s of silence either side, the AT commands, then ``ATO``. pppd's line
discipline owns the tty it runs on, so pppd gets a pty instead and this relay
copies bytes between the pty and the module's port. While the relay is paused
nothing reaches the port (the guard time's silence) and what pppd sends waits
in the pty until ``ATO`` resumes the link. One Worker (util.worker), blocked in select().
"""

from __future__ import annotations

import contextlib
import os
import threading
import tty
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from bg_pppd.modem.at_channel import AtChannel
from bg_pppd.modem.serial_port import open_port
from bg_pppd.profile.model import Profile
from bg_pppd.util import safe_files as atomic
from bg_pppd.util.worker import Worker

CHUNK = 4096


class Relay:
    def __init__(self, profile: Profile, link: Path, opener: Callable[..., Any] = open_port):
        self.link = link
        self.serial = opener(profile, profile.modem.ppp_port)
        self.master, self._slave = os.openpty()  # we keep the slave open: pppd's close is no hangup
        tty.setraw(self._slave)
        atomic.symlink(os.ttyname(self._slave), link)
        self._fds: tuple[int, ...] = (self._slave,)
        self._pause = threading.Event()
        self._paused = threading.Event()
        self._stop = False
        self.worker = Worker("relay", lambda _w: self._run(), start=False)  # its wake pipe is the worker's
        self.thread = self.worker.thread
        self.worker.start()

    def _wake(self) -> None:
        self.worker.poke()

    def _run(self) -> None:
        port = self.serial.fileno()
        try:
            while not self._stop:
                if self._pause.is_set():
                    self._paused.set()
                    self.worker.wait(None)
                    continue
                self._paused.clear()
                ready = self.worker.ready(None, self.master, port)
                if self._pause.is_set():
                    continue
                if port in ready:
                    data = os.read(port, CHUNK)
                    if not data:
                        raise OSError("the port vanished")
                    os.write(self.master, data)
                if self.master in ready:
                    data = os.read(self.master, CHUNK)
                    if data:
                        self.serial.write(data)
        except OSError:
            if not self._stop:  # the port vanished (USB reset): hang up pppd's pty, as a modem would
                self._close_master()
        finally:
            self._paused.set()

    def _close_master(self) -> None:
        master, self.master = self.master, -1
        if master >= 0:
            with contextlib.suppress(OSError):
                os.close(master)

    @contextlib.contextmanager
    def command_mode(self, timeout: float) -> Iterator[AtChannel | None]:
        """Pause the link, ``+++`` into command mode, yield the AT channel, ``ATO`` back to data mode.

        Yields None when the module did not answer ``+++`` (the link resumes untouched).
        Raises LinkLost when ``ATO`` finds no data call any more.
        """
        self._pause.set()
        self._wake()
        self._paused.wait(5)
        try:
            at = AtChannel(self.serial, timeout=timeout)
            if not at.escape(timeout=timeout):
                yield None
                return
            try:
                yield at
            finally:
                back = at.command("ATO", timeout=timeout)
                leftover = at.take_buffer()
                if leftover and self.master >= 0:
                    os.write(self.master, leftover)
                if not back.final.startswith("CONNECT"):
                    raise LinkLost(f"ATO answered {back.final}: the data call is gone")
        finally:
            self._pause.clear()
            self._wake()

    def close(self) -> None:
        self._stop = True
        self._pause.clear()
        self.worker.cancel()
        self.worker.join(2)
        with contextlib.suppress(FileNotFoundError):
            self.link.unlink()
        self._close_master()
        fds, self._fds = self._fds, ()  # once: a second close must not hit reused descriptors
        for fd in fds:
            with contextlib.suppress(OSError):
                os.close(fd)
        with contextlib.suppress(OSError):
            self.serial.close()


class LinkLost(Exception):
    """``ATO`` found no data call: the network ended it while we were in command mode."""
