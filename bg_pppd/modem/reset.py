"""Resetting the module, by the profile's methods in order, until it answers again.

``at`` sends AT+CFUN=1,1; ``command`` runs the user's command (a GPIO pulse
on RESET_N, a USB power switch) without a shell. A reset counts as done only
once the module has gone away (port vanished, POWERED DOWN/RDY, or silence)
and come back answering OK, with its PPP port back too (a USB module's ports
re-enumerate one by one).
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable

from bg_pppd.modem.at_channel import AtChannel, AtTimeout, PortGone
from bg_pppd.modem.serial_port import N_GSM0710, held_elsewhere, open_port
from bg_pppd.profile.model import Profile
from bg_pppd.util import commands
from bg_pppd.util.cancel import Cancellable
from bg_pppd.util.errors import BgPppdError

log = logging.getLogger("bg_pppd")


class ResetFailed(BgPppdError):
    pass


def _close(channel: AtChannel | None) -> None:
    """Close the channel's port; a port that is already dead must not hide why we close it."""
    if channel is not None:
        try:
            channel.t.close()
        except OSError:
            pass


class Resetter:
    def __init__(self, profile: Profile, cancel: threading.Event, opener: Callable = open_port):
        self.p, self.opener = profile, opener
        cancellable = Cancellable(cancel)
        self.clock, self.sleep = cancellable.clock, cancellable.sleep

    def run(self, skip_at: bool) -> str:
        methods = [m for m in self.p.recovery.reset if not (skip_at and m == "at")]
        if not methods:
            raise ResetFailed("the module does not answer AT and no other reset method is configured "
                              "(add 'command' to recovery.reset)")
        held = self._held_elsewhere()
        if held:  # the ladder does not count such failures; this guards a reset due for other reasons
            raise ResetFailed(f"not reset: {held}; a reset would cut that program's link")
        errors = []
        for method in methods:
            try:
                channel = self._at_reset() if method == "at" else self._command_reset()
                self._wait_back(channel)
                return method
            except (BgPppdError, OSError) as exc:
                errors.append(f"{method}: {exc}")
                log.warning("%s: reset by %s failed: %s", self.p.name, method, exc)
        raise ResetFailed("; ".join(errors))

    def _held_elsewhere(self) -> str:
        """Why the AT port is another program's (its line discipline, its exclusive open or lock),
        else ''. A module another program talks on is not ours to reset."""
        if not os.path.exists(self.p.modem.port):
            return ""
        try:
            self.opener(self.p).close()
        except OSError as exc:
            ours = self.p.modem.multiplex == "cmux" and getattr(exc, "discipline", None) == N_GSM0710
            return str(exc) if held_elsewhere(exc) and not ours else ""  # ours: a mux not taken back
        return ""

    def _channel(self) -> AtChannel | None:
        if not os.path.exists(self.p.modem.port):
            return None
        try:
            serial = self.opener(self.p)
        except OSError:
            return None
        return AtChannel(serial, timeout=self.p.recovery.at_timeout, clock=self.clock)

    def _at_reset(self) -> AtChannel:
        channel = self._channel()
        if channel is None:
            raise ResetFailed(f"cannot open {self.p.modem.port}")
        try:
            channel.sync(min(self.p.recovery.at_timeout, 3.0))
            r = channel.command("AT+CFUN=1,1")
        except BaseException:
            _close(channel)
            raise
        if not r.ok:
            _close(channel)
            raise ResetFailed(f"AT+CFUN=1,1 answered {r.final}")
        return channel

    def _command_reset(self) -> AtChannel | None:
        argv = list(self.p.recovery.reset_command)
        wait = self.p.recovery.boot_timeout
        done = commands.run(argv, timeout=wait)  # in COMMAND_CWD, stdin empty, no shell
        if done.timed_out:
            raise ResetFailed(f"{argv[0]} did not finish within {wait:g} s")
        if done.exit_code is None:
            raise ResetFailed(f"{argv[0]} {done.error}")
        if done.exit_code:
            raise ResetFailed(f"{argv[0]} exited {done.exit_code} {done.last_line()}")
        return None

    def _wait_back(self, channel: AtChannel | None) -> None:
        """First the module must go away, then answer again with its PPP port back; all within
        boot_timeout. A port that vanishes while we wait is part of the reset, never its failure."""
        deadline = self.clock() + self.p.recovery.boot_timeout
        gone = channel is None
        try:
            while not gone and self.clock() < deadline:
                try:
                    urcs = channel.poll(0.3)
                    if any(u.startswith(("POWERED DOWN", "RDY")) for u in urcs):
                        gone = True
                        break
                    channel.write(b"AT\r")
                    if "OK" not in channel.poll(0.3):
                        gone = True  # silent: rebooting
                except (PortGone, AtTimeout):
                    gone = True  # vanished, or it takes no more bytes: rebooting
            _close(channel)
            channel = None
            while self.clock() < deadline:
                channel = self._channel()
                if channel is None:
                    self.sleep(0.1)
                    continue
                try:
                    channel.sync(max(0.1, min(2.0, deadline - self.clock())))
                except (AtTimeout, PortGone):
                    _close(channel)
                    channel = None
                    continue
                self._wait_ppp_port(deadline)
                return
            raise ResetFailed(f"the module did not come back within {self.p.recovery.boot_timeout:g} s")
        finally:
            _close(channel)

    def _wait_ppp_port(self, deadline: float) -> None:
        """The module answers on its AT port; pppd needs its PPP port, which may come a moment later."""
        port = self.p.modem.ppp_port
        while not os.path.exists(port):
            if self.clock() >= deadline:
                raise ResetFailed(f"the module answers again, but its PPP port {port} did not come back "
                                  f"within {self.p.recovery.boot_timeout:g} s")
            self.sleep(0.1)
