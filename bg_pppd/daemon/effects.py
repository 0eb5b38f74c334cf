"""The supervisor's real I/O: pre-flight and reset workers, pppd, files, systemd, hooks.

Every worker reports exactly once on the supervisor's queue, also when it is
cancelled, so the state machine always knows when nothing runs any more.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import threading
import time
from collections.abc import Callable
from typing import Any

from bg_pppd.daemon import sd_notify as notify
from bg_pppd.daemon.recovery import Ladder
from bg_pppd.daemon.run_files import LadderStore, RunDir, boottime, iso, to_wall
from bg_pppd.daemon.supervisor import Ev, Failure
from bg_pppd.link import hooks
from bg_pppd.link.dns import Dns
from bg_pppd.link.pppd import LinkInfo, PppdProcess, kernel_disagrees, parse_line, pppd_interface
from bg_pppd.link.render import Rendered
from bg_pppd.modem.at_channel import AtChannel, AtTimeout, PortGone
from bg_pppd.modem.control_lines import for_port
from bg_pppd.modem.preflight import Preflight
from bg_pppd.modem.reset import Resetter
from bg_pppd.modem.serial_port import hang_up, open_port
from bg_pppd.profile.model import Profile
from bg_pppd.util.cancel import Cancellable, Cancelled
from bg_pppd.util.errors import BgPppdError, NotResponding, SimProblem

log = logging.getLogger("bg_pppd")
Post = Callable[[Ev, Any], None]
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")  # never into the journal or sd_notify as they are


class PortMissing(BgPppdError):
    """The PPP port is not there (yet): a failed attempt, not an option error."""


class Worker:
    def __init__(self, target: Callable[[threading.Event], None], name: str):
        self.cancelled = threading.Event()
        self.thread = threading.Thread(target=target, args=(self.cancelled,), name=name, daemon=True)
        self.thread.start()

    def cancel(self) -> None:
        self.cancelled.set()


class RealSystem:
    def __init__(self, profile: Profile, run: RunDir, store: LadderStore, rendered: Rendered,
                 state_dir: str):
        self.p, self.run, self.store, self.rendered, self.state_dir = profile, run, store, rendered, state_dir
        self.pppd: PppdProcess | None = None
        self.relay: Any = None  # main UART with escape/read_urcs: pppd runs on its pty
        self.ready_sent = False
        ppp = profile.ppp
        self.dns = Dns(profile.name, ppp.dns if ppp.use_peer_dns else "none", ppp.dns_file, state_dir)

    def clock(self) -> float:
        return boottime()

    # ----- workers ---------------------------------------------------------------------------

    def start_preflight(self, post: Post) -> Worker:
        def work(cancel: threading.Event) -> None:
            cancellable = Cancellable(cancel)

            def step(name: str, status: str, elapsed: float) -> None:
                if status:
                    log.info("%s: pre-flight %s: %s", self.p.name, name, status)
            pre = Preflight(self.p, state_dir=self.state_dir, on_step=step,
                            clock=cancellable.clock, sleep=cancellable.sleep)
            try:
                self.run.lock_current(self.p.modem.port)  # what the port leads to now: nobody else's
                report = pre.run()
            except Cancelled:
                post(Ev.PREFLIGHT_FAILED, Failure("cancelled"))
            except NotResponding as exc:
                post(Ev.PREFLIGHT_FAILED, Failure(str(exc), exc.exit_code, not_responding=True))
            except SimProblem as exc:
                post(Ev.PREFLIGHT_FAILED, Failure(f"SIM: {exc}", exc.exit_code, permanent=exc.permanent))
            except BgPppdError as exc:
                post(Ev.PREFLIGHT_FAILED, Failure(str(exc), exc.exit_code))
            except Exception as exc:  # never let a worker die silently: it is a failed attempt
                log.exception("%s: pre-flight crashed", self.p.name)
                post(Ev.PREFLIGHT_FAILED, Failure(f"pre-flight error: {exc}"))
            else:
                post(Ev.PREFLIGHT_OK, report)
        return Worker(work, "preflight")

    def start_reset(self, skip_at: bool, post: Post) -> Worker:
        def work(cancel: threading.Event) -> None:
            try:
                self.run.lock_current(self.p.modem.port)  # never another profile's module
                method = Resetter(self.p, cancel).run(skip_at)
                log.info("%s: module reset by %s; it answers again", self.p.name, method)
                post(Ev.RESET_DONE, method)
            except Cancelled:
                post(Ev.RESET_DONE, Failure("cancelled"))
            except Exception as exc:
                post(Ev.RESET_DONE, Failure(str(exc)))
        return Worker(work, "reset")

    # ----- pppd ------------------------------------------------------------------------------

    def start_pppd(self, post: Post, info: LinkInfo) -> None:
        port = self.p.modem.ppp_port
        if not os.path.exists(port):
            # a USB module re-enumerating: pppd would read the missing path as an option (exit 2)
            raise PortMissing(f"the PPP port {port} does not exist")
        self.run.lock_current(port)  # AlreadyRunning, no pppd: the port now leads to another's device
        # pppd prints the addresses, then the primary and secondary DNS server, in one burst:
        # report the link up once the burst is over, so that status, DNS and on_up see all of
        # it. The secondary is pppd's last line; after the primary another may still come.
        posted = threading.Event()
        timer: list[threading.Timer] = []
        spawned: list[PppdProcess] = []
        linkname = f"bg-pppd-{self.p.name}"
        rejected: set[tuple[str, str, str]] = set()

        named: list[str] = []  # the interface pppd named in its link pid file, once it has

        def pppd_named() -> bool:
            if not named and spawned:
                own = pppd_interface(linkname, spawned[0].pid)
                if own:
                    named.append(own)
            return bool(named)

        def post_up() -> None:
            if posted.is_set() or not info.up or not spawned:
                return
            why = kernel_disagrees(info, linkname, spawned[0].pid)
            if why:  # the claim came from text the module controls: wait for pppd's own lines
                claim = (info.interface, info.local_ip, info.remote_ip)
                if claim not in rejected:
                    rejected.add(claim)
                    log.warning("%s: pppd's log claims IP up on %s (%s peer %s), but the kernel disagrees: "
                                "%s; not trusted", self.p.name, *claim, why)
                return
            posted.set()
            post(Ev.PPPD_UP, info)

        def settle(delay: float) -> None:
            for t in timer:
                t.cancel()
            timer[:] = [threading.Timer(delay, post_up)]
            timer[0].daemon = True
            timer[0].start()

        def on_line(line: str) -> None:
            if not line.strip():
                return
            log.info("%s: pppd: %s", self.p.name, _CONTROL.sub("?", line))
            before = (info.interface, info.local_ip, info.remote_ip, len(info.dns))
            spoofed = info.untrusted
            came_up = parse_line(info, line, pppd_named)
            if info.untrusted and not spoofed:  # once per pppd: the module speaks for pppd
                log.warning("%s: pppd's log shows %r before pppd named its interface: the module's text "
                            "(the connect script's echo), not pppd's; not trusted", self.p.name,
                            _CONTROL.sub("?", info.untrusted))
            if posted.is_set() or not info.up:
                return
            if len(info.dns) > before[3]:
                settle(0.0 if line.startswith("secondary") else 0.05)
            elif came_up or before != (info.interface, info.local_ip, info.remote_ip, len(info.dns)):
                settle(0.5 if self.p.ppp.use_peer_dns else 0.0)

        def on_exit(code: int) -> None:
            post(Ev.PPPD_EXIT, code)
        if self.p.uses_relay:
            from bg_pppd.link.relay import Relay
            from bg_pppd.link.render import relay_link

            self.relay = Relay(self.p, relay_link(self.p, self.rendered.directory))
        info.device = str(self.relay.link) if self.relay is not None else port
        try:
            self.pppd = PppdProcess(str(self.rendered.peer), on_line, on_exit)
        except BaseException:
            self._close_relay()
            raise
        spawned.append(self.pppd)
        # pppd runs from here on: nothing may make the supervisor think it does not
        try:
            self.run.write_pppd_pid(self.pppd.pid)
        except OSError as exc:
            log.warning("%s: cannot write %s (%s): pppd %d runs and is supervised, but the next run "
                        "cannot find it if this daemon is killed", self.p.name, self.run.pppd_pid_path,
                        exc.strerror or exc, self.pppd.pid)

    def stop_pppd(self, kill: bool) -> None:
        if self.pppd:
            (self.pppd.kill if kill else self.pppd.terminate)()

    def hangup_pppd(self) -> None:
        """The line is dead: hang pppd's tty up (pppd ends at once), else SIGHUP (it waits 3 s)."""
        if self.pppd:
            device = str(self.relay.link) if self.relay is not None else self.p.modem.ppp_port
            try:
                done = hang_up(device)
            except Exception:  # never let the fallback depend on the tty
                log.exception("%s: cannot hang up %s; SIGHUP instead", self.p.name, device)
                done = False
            if not done:
                self.pppd.hangup()

    def pppd_pid(self) -> int | None:
        return self.pppd.pid if self.pppd and self.pppd.exit_code is None else None

    def after_pppd(self) -> None:
        """pppd has ended: forget it, then tidy up; a step that fails is logged, the rest still run."""
        pppd, self.pppd = self.pppd, None
        if pppd:
            pppd.join(5)
        self._step("remove the pppd pid file", lambda: self.run.write_pppd_pid(None))
        self._step("close the relay", self._close_relay)
        self._step("put the PPP port back in command mode", self.restore_command_mode)

    def _step(self, what: str, action: Callable[[], Any]) -> None:
        try:
            action()
        except Exception as exc:
            log.error("%s: cannot %s: %s", self.p.name, what, exc)

    def _close_relay(self) -> None:
        relay, self.relay = self.relay, None
        if relay is not None:
            relay.close()

    def restore_command_mode(self) -> None:
        """After pppd, the PPP port must take AT commands again: check, else DTR drop, else +++/ATH."""
        port = self.p.modem.ppp_port
        try:
            ser = open_port(self.p, port, exclusive=False)
        except (OSError, ValueError):
            return  # gone (USB reset): the next pre-flight waits for it
        try:
            at = AtChannel(ser, timeout=2)
            try:
                at.sync(1.0)
                return
            except AtTimeout:
                pass
            lines = for_port(port, ser)
            if self.p.modem.dtr != "ignore" and lines.dcd() is not None:
                lines.set_dtr(False)
                time.sleep(0.1)
                lines.set_dtr(True)
                at.poll(0.3)
            try:
                at.sync(0.5)
                return
            except AtTimeout:
                pass
            if at.escape(timeout=1.0):
                at.command("ATH", timeout=5)
                log.info("%s: %s back in command mode (+++, ATH)", self.p.name, port)
        except (PortGone, AtTimeout, OSError):
            pass
        finally:
            with contextlib.suppress(OSError):  # a vanished port: keep the first error
                ser.close()

    # ----- files, systemd, hooks -------------------------------------------------------------

    def save_ladder(self, ladder: Ladder) -> None:
        try:
            self.store.save(ladder)
        except OSError as exc:
            log.error("%s: cannot save the recovery state: %s", self.p.name, exc)

    def status_changed(self, status: dict[str, Any]) -> None:
        now = boottime()
        out = dict(status)
        for key in ("since", "next_reset_not_before", "radio_at"):
            try:
                out[key] = iso(to_wall(status.get(key), now))
            except (ValueError, OverflowError, OSError):  # a damaged time must not cost the status
                out[key] = None
        out["pid"] = os.getpid()
        try:
            self.run.write_status(out)
        except OSError as exc:
            log.error("%s: cannot write status: %s", self.p.name, exc)
        text = status["state"] + (f" {status['local_ip']}" if status["local_ip"] else "")
        if status["last_error"] and status["state"] != "connected":
            text += f" ({status['last_error']})"
        notify.notify(status=_CONTROL.sub(" ", text[:200]))

    def start_watch(self, post: Post, info: LinkInfo) -> Any:
        """While connected: DCD/RI on the PPP port, the radio on a separate AT port, the probe."""
        from bg_pppd.link.carrier import Jobs, LineWatcher

        def dead(reason: str) -> None:
            post(Ev.LINK_DEAD, reason)

        def warn(text: str) -> None:
            log.warning("%s: %s", self.p.name, text)

        def on_radio(radio: dict[str, Any]) -> None:
            post(Ev.RADIO, radio)

        def on_urcs(urcs: list[str]) -> None:
            post(Ev.RING, urcs)
        monitor: Any = None
        if self.p.modem.separate_at_port and self.p.monitor.interval > 0:
            from bg_pppd.link.radio_monitor import AtPortMonitor

            monitor = self._watcher("the radio monitor", lambda: AtPortMonitor(self.p, on_radio, on_urcs, warn))
        elif self.relay is not None:
            from bg_pppd.link.radio_monitor import EscapeMonitor

            relay = self.relay
            monitor = self._watcher("the radio monitor", lambda: EscapeMonitor(
                self.p, relay, on_radio, on_urcs, dead, warn))
        # with read_urcs, an RI pulse is answered by a round that reads the URCs, then on_ring
        ring = monitor.ring if monitor is not None and self.p.monitor.read_urcs and self.relay is not None \
            else lambda: post(Ev.RING, None)
        lines = self._watcher("the DCD/RI watch", lambda: LineWatcher(
            self.p.modem.ppp_port, self.p.modem.dcd == "carrier", dead, ring=ring))
        probe = self.p.probe
        prober = None
        if probe.target:
            from bg_pppd.link.probe import Prober

            prober = self._watcher("the probe", lambda: Prober(
                probe.target, info.interface, probe.interval, probe.failures, probe.timeout,
                dead=dead, log=warn, budget=probe.budget, when_idle=probe.when_idle))
        return Jobs(lines, monitor, prober)

    def _watcher(self, what: str, start: Callable[[], Any]) -> Any:
        """A watcher that cannot start is logged; the link goes on without it (the others run)."""
        try:
            return start()
        except Exception as exc:
            log.error("%s: cannot start %s: %s", self.p.name, what, exc)
            return None

    def ring_hook(self, info: LinkInfo, urcs: list[str]) -> None:
        hooks.run(self.p.hooks.on_ring, self.p.name, "ring", info, self.p.hooks.timeout,
                  extra={"BG_PPPD_URCS": "\n".join(urcs)})

    def link_up(self, info: LinkInfo) -> None:
        """DNS, READY=1 and on_up: each on its own, none a link failure (dns and hooks log theirs)."""
        self._step("apply DNS", lambda: self.dns.apply(info.interface, info.dns))
        if not self.ready_sent:
            self.ready_sent = notify.notify(ready="1") or True
        hooks.run(self.p.hooks.on_up, self.p.name, "up", info, self.p.hooks.timeout)

    def link_down(self, info: LinkInfo) -> None:
        self._step("undo DNS", lambda: self.dns.undo(info.interface))
        hooks.run(self.p.hooks.on_down, self.p.name, "down", info, self.p.hooks.timeout)

    def reset_hook(self) -> None:
        hooks.run(self.p.hooks.on_reset, self.p.name, "reset", None, self.p.hooks.timeout)
