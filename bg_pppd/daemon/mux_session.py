"""The attempt's CMUX multiplexer (modem.multiplex: cmux), seen by the rest of the daemon as a USB module.

Once the mux is up, its AT channel (DLC 1) is the AT port and its data channel (DLC 2)
the modem port: ``link_profile`` is the profile with ``port`` and ``data_port`` set to
them, so pppd, the radio monitor (queries and URCs), the probe and the hooks take the path
a USB module takes, unchanged. The raw UART stays the pre-flight's,
the reset's and the close-down's.

The channels' modem lines are the kernel's: n_gsm turns the module's MSC messages into
the gsmtty's TIOCM bits (DV -> DCD, RTC -> DSR), so they belong to the channel tty itself
(line_backend serial), also when the raw UART's lines are the emulator's: those are the raw
UART's, which carries frames, not a call, while the mux is up. A gsmtty cannot block until
they change (TIOCMIWAIT is ENOTTY on 6.1, seen in the UML lab), so no DCD/RI watch runs on it.
Instead pppd runs with ``modem`` there (see channels_profile), and n_gsm hangs the tty up itself
when the module's MSC drops DV (NO CARRIER): pppd's "Modem hangup" within ms in the UML lab. A
second open of a channel zeroes its lines in n_gsm (gsmtty_open, 6.1), which would lose that
hangup: nothing of ours opens the data channel after pppd has. The end of a call is also told
on the AT channel (the PDP deactivation URCs, which the radio monitor reads at once), and by
LCP echo and the probe. RI has no use there: the URCs themselves arrive on the AT channel.

The channels are settled before the link uses them: the data channel held open (until IP is
up: pppd holds it then), then AT on the AT channel until OK. Seen in the UML lab (6.1): for a
few seconds after a DLC opens, n_gsm retries its MSC and takes nothing the module sends, not
even the UA to another DLC's SABM (its MSC wait seems to run in the receive path,
gsm_dlci_open), so a pppd opening the data channel then found it closed again (tcgetattr:
EINVAL). The OK proves both opens are over.

Opening and closing wait on the port: only on a worker (the pre-flight's, the clean-up's).
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import threading
import time
from collections.abc import Callable
from typing import Any

from bg_pppd.modem import multiplexer
from bg_pppd.profile.model import Profile

log = logging.getLogger("bg_pppd")


def channels_profile(profile: Profile, at_device: str, data_device: str) -> Profile:
    """``profile`` with the mux's channels as its AT and modem port (a USB module's shape).

    The channels' lines are always wired (the module's MSCs): with DCD following the call
    (modem.dcd: carrier, AT&C1) pppd runs with ``modem`` on the data channel, so n_gsm's
    hangup on a DV drop ends it at once, as the DCD watch does on USB. Its cost: pppd drops
    DTR for 1 s before each dial with ``modem`` (tty.c); the hangup is worth it.
    """
    modem = dataclasses.replace(profile.modem, port=at_device, data_port=data_device, line_backend="serial",
                                control_lines=profile.modem.control_lines or profile.modem.dcd == "carrier")
    return dataclasses.replace(profile, modem=modem)


SETTLE_WAIT = 15.0  # seconds for the AT channel's first OK: two DLC opens, each ~3 s of the kernel's MSC wait


def settle_channels(link: Profile, clock: Callable[[], float]) -> int:
    """Open and hold the data channel, then sync AT on the AT channel; the held fd. MuxFailed if
    the AT channel never answers. (A plain open: nothing is said on the data channel here.)"""
    from bg_pppd.modem.at_channel import AtChannel, AtTimeout, PortGone
    from bg_pppd.modem.serial_port import open_port

    m = link.modem
    try:
        hold = os.open(m.ppp_port, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as exc:
        raise multiplexer.MuxFailed(f"cannot open the data channel {m.ppp_port}: {exc.strerror or exc}") from None
    try:
        ser = open_port(link, m.port, exclusive=False)
        try:
            AtChannel(ser, timeout=link.recovery.at_timeout, clock=clock).sync(max(SETTLE_WAIT,
                                                                                  link.recovery.at_timeout))
        finally:
            with contextlib.suppress(OSError):
                ser.close()
    except (AtTimeout, PortGone, OSError) as exc:
        os.close(hold)
        raise multiplexer.MuxFailed(f"the multiplexer's AT channel {m.port} does not answer: {exc}") from None
    except BaseException:
        os.close(hold)
        raise
    return hold


class MuxSession:
    """The mux of the current attempt, if any; thread-safe (workers open and close it)."""

    def __init__(self, profile: Profile, opener: Callable[..., Any] | None = None,
                 support: Callable[[], str | None] | None = None,
                 settler: Callable[[Profile, Callable[[], float]], int | None] | None = settle_channels):
        self.p = profile
        self._settler = settler
        self._hold: int | None = None  # the data channel's fd, held while the mux is up
        self.wanted = profile.modem.multiplex == "cmux"
        self._open = opener or multiplexer.Mux.open
        self._support = support or multiplexer.kernel_support
        self._checked = False
        self._lock = threading.Lock()
        self.mux: Any = None
        self._view = profile

    @property
    def link_profile(self) -> Profile:
        """What pppd and the watchers run on: the channels while the mux is up, else the profile."""
        with self._lock:
            return self._view

    def check_kernel(self) -> None:
        """Once a run, before the first pre-flight: a kernel without n_gsm is one log line, then the
        plain UART (cmux_fallback: uart) or MuxUnavailable (exit: the cannot-run-here status)."""
        if not self.wanted or self._checked:
            return
        why = self._support()
        self._checked = True
        if why is None:
            return
        if self.p.modem.cmux_fallback == "exit":
            raise multiplexer.MuxUnavailable(why)
        log.warning("%s: %s; running on the plain UART (modem.cmux_fallback: uart)", self.p.name, why)
        self.wanted = False

    def open(self, clock: Callable[[], float] = time.monotonic,
             sleep: Callable[[float], None] = time.sleep,
             cancelled: threading.Event | None = None) -> Profile:
        """Bring the mux up on the raw UART (after the pre-flight); the profile to run the link on.
        A mux still open (an attempt that never started pppd) is closed first. MuxFailed: the
        attempt failed. Cancelled meanwhile: closed again before Cancelled is raised."""
        if not self.wanted:
            return self.p
        self.close()
        mux = self._open(self.p, clock=clock, sleep=sleep)
        with self._lock:
            self.mux = mux
            self._view = channels_profile(self.p, mux.at_device, mux.data_device)
        try:
            self._settle(mux, clock)
        except BaseException:
            self.close()
            raise
        log.info("%s: multiplexer up: AT on %s, PPP on %s", self.p.name, mux.at_device, mux.data_device)
        if cancelled is not None and cancelled.is_set():
            self.close()
            from bg_pppd.util.cancel import Cancelled

            raise Cancelled()
        return self.link_profile

    def _settle(self, mux: Any, clock: Callable[[], float]) -> None:
        """Hold the data channel open (its DLC is up when pppd opens it), then AT on the AT channel
        until OK: both DLCs are open and the kernel reads again (module docstring). MuxFailed if not."""
        if self._settler is None:
            return
        self._hold = self._settler(self.link_profile, clock)

    def release_hold(self) -> None:
        """pppd has the data channel open (IP is up): the settling's hold is let go, so that the
        channel's life is pppd's alone (a daemon killed with it held did not exit on 6.1: UML lab)."""
        with self._lock:
            hold, self._hold = self._hold, None
        if hold is not None:
            with contextlib.suppress(OSError):
                os.close(hold)

    def reclaim_port(self) -> bool:
        """A killed run's mux may still hold the raw UART in the n_gsm line discipline (the tty
        outlived the daemon: a pty's other side, a channel still open), and the pre-flight opens no
        tty another discipline owns. The port is this run's (its lock), so n_gsm is taken off it;
        the sync's close_leftover then closes the module's side. True when it was."""
        if not self.p.modem.multiplex == "cmux" or self.mux is not None:
            return False
        import fcntl
        import struct
        import termios

        from bg_pppd.modem.serial_port import N_TTY, line_discipline

        try:
            fd = os.open(self.p.modem.port, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK | os.O_CLOEXEC)
        except OSError:
            return False  # not there (yet): the pre-flight's port step waits for it
        try:
            if line_discipline(fd) != multiplexer.N_GSM0710:
                return False
            fcntl.ioctl(fd, termios.TIOCSETD, struct.pack("i", N_TTY))
        except OSError as exc:
            log.warning("%s: %s is still in the n_gsm line discipline and cannot be taken back: %s",
                        self.p.name, self.p.modem.port, exc.strerror or exc)
            return False
        finally:
            os.close(fd)
        log.warning("%s: %s was still multiplexed (the mux of a run that was killed): taken back from n_gsm",
                    self.p.name, self.p.modem.port)
        return True

    def close(self) -> bool | None:
        """End the mux, if one is up: the module back in command mode on the raw UART. None when
        there was none; else whether plain AT answered afterwards (logged when it did not)."""
        self.release_hold()
        with self._lock:
            mux, self.mux, self._view = self.mux, None, self.p
        if mux is None:
            return None
        ok = bool(mux.close())
        if ok:
            log.info("%s: multiplexer closed: the module answers AT on %s", self.p.name, self.p.modem.port)
        else:
            log.warning("%s: multiplexer closed, but the module does not answer AT on %s yet "
                        "(the next pre-flight closes a leftover mux)", self.p.name, self.p.modem.port)
        return ok
