"""The supervisor's real I/O: pre-flight and reset workers, pppd, files, systemd, hooks.

Every thread is a util.worker.Worker (see daemon/workers.py). The pre-flight and
the reset report exactly once on the supervisor's queue, also when cancelled, so
the state machine always knows when nothing runs any more; whatever is slow
(the DNS tools, the port back in command mode, pppd's join) runs in a worker
the supervisor starts with ``start_worker``, never on its own thread.
"""

from __future__ import annotations

import logging
import os
import re
import time
from collections.abc import Callable
from typing import Any

from bg_pppd.daemon import metrics_file, workers
from bg_pppd.daemon import sd_notify as notify
from bg_pppd.daemon.apn_memory import ApnMemory
from bg_pppd.daemon.data_usage import Usage
from bg_pppd.daemon.ladder_store import LadderStore, boottime
from bg_pppd.daemon.mux_session import MuxSession
from bg_pppd.daemon.recovery import Ladder
from bg_pppd.daemon.run_dir import RunDir
from bg_pppd.daemon.status import Status, write_status
from bg_pppd.daemon.supervisor import Ev
from bg_pppd.daemon.usage_store import UsageStore
from bg_pppd.link import hooks
from bg_pppd.link.dns import Dns
from bg_pppd.link.pppd import IpUp, LinkInfo, PppdProcess
from bg_pppd.link.render import Rendered
from bg_pppd.modem import diagnostics
from bg_pppd.modem.command_mode import restore_after_pppd
from bg_pppd.modem.serial_port import hang_up
from bg_pppd.profile.model import Profile
from bg_pppd.util.errors import BgPppdError
from bg_pppd.util.worker import Worker

log = logging.getLogger("bg_pppd")
Post = Callable[[Ev, Any], None]
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")  # never into the journal or sd_notify as they are


class PortMissing(BgPppdError):
    """The PPP port is not there (yet): a failed attempt, not an option error."""


class RealSystem:
    def __init__(self, profile: Profile, run: RunDir, store: LadderStore, rendered: Rendered,
                 state_dir: str, maybe_in_call: bool = False):
        self.p, self.run, self.store, self.rendered, self.state_dir = profile, run, store, rendered, state_dir
        # a call of ours may still be up on the module: an earlier run ended uncleanly (killed while
        # dialling or connected, its pppd left behind), or the port did not come back after pppd;
        # cleared once the module answers AT (set and cleared by the workers, read when one starts)
        self.maybe_in_call = maybe_in_call
        self.pppd: PppdProcess | None = None
        self.relay: Any = None  # main UART with escape/read_urcs: pppd runs on its pty
        self.ready_sent = False
        # modem.multiplex: cmux: the attempt's mux; while it is up, the link runs on its channels
        self.mux = MuxSession(profile)
        ppp = profile.ppp
        self.dns = Dns(profile.name, ppp.dns if ppp.use_peer_dns else "none", ppp.dns_file, state_dir)
        self.metrics_failing = ""  # why the metrics file could not be written (logged once)

    def clock(self) -> float:
        return boottime()

    def wall(self) -> float:
        """The calendar, for data usage per day and month (boottime() knows no dates)."""
        return time.time()

    @property
    def link(self) -> Profile:
        """The profile pppd and the watchers run on: the mux's channels while it is up (a USB
        module's shape: daemon/mux_session.py), else the profile itself."""
        return self.mux.link_profile

    # ----- workers ---------------------------------------------------------------------------

    def start_preflight(self, post: Post, choose_apn: Callable[[str | None], str] | None = None) -> Worker:
        return workers.preflight(self.p, self.run, self.state_dir, post, choose_apn,
                                 maybe_in_call=self.maybe_in_call, synced=self._synced,
                                 mux=self.mux, multiplexed=self._multiplexed)

    def _multiplexed(self, link: Profile) -> None:
        """The mux is up (on the pre-flight's worker): the peer file names its data channel."""
        from bg_pppd.link.render import render

        render(link, self.rendered.directory, set_context=False)

    def _synced(self) -> None:
        self.maybe_in_call = False

    def start_reset(self, skip_at: bool, post: Post) -> Worker:
        return workers.reset(self.p, self.run, skip_at, post, mux=self.mux)

    def start_worker(self, name: str, body: Callable[[], Any], done: Callable[[Any], None] | None) -> Worker:
        return workers.job(name, body, done)

    # ----- pppd ------------------------------------------------------------------------------

    def start_pppd(self, post: Post, info: LinkInfo) -> None:
        link = self.link
        port = link.modem.ppp_port
        if not os.path.exists(port):
            # a USB module re-enumerating: pppd would read the missing path as an option (exit 2)
            raise PortMissing(f"the PPP port {port} does not exist")
        self.run.lock_current(port)  # AlreadyRunning, no pppd: the port now leads to another's device
        # its lines into ``info``; PPPD_UP once pppd's IP-up burst is over and the kernel backs it
        ip_up = IpUp(self.p.name, info, f"bg-pppd-{self.p.name}", self.p.ppp.use_peer_dns,
                     lambda up: post(Ev.PPPD_UP, up), log)

        def on_exit(code: int) -> None:
            post(Ev.PPPD_EXIT, code)
        if link.uses_relay:
            from bg_pppd.link.relay import Relay
            from bg_pppd.link.render import relay_link

            self.relay = Relay(link, relay_link(link, self.rendered.directory))
        info.device = str(self.relay.link) if self.relay is not None else port
        try:
            self.pppd = PppdProcess(str(self.rendered.peer), ip_up.line, on_exit)
        except BaseException:
            self._close_relay()
            raise
        ip_up.spawned(self.pppd.pid)
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
            device = str(self.relay.link) if self.relay is not None else self.link.modem.ppp_port
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
        """pppd has ended: forget it, then tidy up; a step that fails is logged, the rest still run.
        On the supervisor's clean-up worker (it may wait seconds on the port), never on its loop."""
        pppd, self.pppd = self.pppd, None
        if pppd:
            pppd.join(5)
        self._step("remove the pppd pid file", lambda: self.run.write_pppd_pid(None))
        self._step("close the relay", self._close_relay)
        self._step("put the PPP port back in command mode", self.restore_command_mode)
        self._step("close the multiplexer", self.mux.close)  # the raw UART answers AT again

    def close_mux(self) -> None:
        """At exit: a mux no clean-up closed (a stop that cut the bring-up short)."""
        self._step("close the multiplexer", self.mux.close)

    def diagnose(self) -> dict[str, str]:
        """After a failed dial, with the port back in command mode (after_pppd): what the module
        says about it, on the AT port (USB) or the main UART; one log line. On the clean-up worker."""
        found = diagnostics.capture_on_port(self.p)
        if found:
            log.info("%s: the module's diagnostics: %s", self.p.name, diagnostics.one_line(found))
        return found

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
        """After pppd, the PPP port must take AT commands again (modem.command_mode: check,
        else DTR drop, else +++, then ATH). Blocks up to ~15 s: run it in a worker. A port that
        never answered may still hold the call: the next pre-flight tries the escapes at once."""
        if restore_after_pppd(self.link) in ("no answer", "cut short"):
            self.maybe_in_call = True

    # ----- files, systemd, hooks -------------------------------------------------------------

    def save_ladder(self, ladder: Ladder) -> None:
        try:
            self.store.save(ladder)
        except OSError as exc:
            log.error("%s: cannot save the recovery state: %s", self.p.name, exc)

    def load_apn_memory(self) -> dict[str, str]:
        """The APN that worked per ICCID (STATE_DIR/NAME.apn.json): a few hundred bytes, read once."""
        memory, note = ApnMemory(self.state_dir, self.p.name).load()
        if note:
            log.warning("%s: %s", self.p.name, _CONTROL.sub(" ", note))
        return memory

    def save_apn_memory(self, memory: dict[str, str]) -> None:
        """A tiny atomic write, like the ladder's: the supervisor's loop can afford it."""
        try:
            ApnMemory(self.state_dir, self.p.name).save(memory)
        except OSError as exc:
            log.error("%s: cannot save the APN that worked: %s", self.p.name, exc)

    def load_usage(self) -> Usage:
        """The data usage and lifetime counters (STATE_DIR/NAME.usage.json), read once."""
        usage, note = UsageStore(self.state_dir, self.p.name).load()
        if note:
            log.warning("%s: %s", self.p.name, _CONTROL.sub(" ", note))
        return usage

    def save_usage(self, usage: Usage) -> None:
        """A small atomic write, like the ladder's: at each counter reading that saw bytes pass."""
        try:
            UsageStore(self.state_dir, self.p.name).save(usage)
        except OSError as exc:
            log.error("%s: cannot save the data usage: %s", self.p.name, exc)

    def cap_hook(self, state: str, usage: Usage) -> Worker | None:
        """on_cap (network.data_cap's warning, or the cap reached); its Worker (None: no hook)."""
        return hooks.run(self.p.hooks.on_cap, self.p.name, "cap", None, self.p.hooks.timeout,
                  extra={"BG_PPPD_CAP": state, "BG_PPPD_MONTH": usage.month,
                         "BG_PPPD_MONTH_BYTES": str(usage.month_bytes),
                         "BG_PPPD_DATA_CAP": str(self.p.network.data_cap)})

    def status_changed(self, status: Status) -> None:
        """status.json (with our pid), the metrics file, and systemd's STATUS= line."""
        record = Status.of(status, pid=os.getpid())
        now = boottime()
        try:
            write_status(self.run.status_path, record, now)
        except OSError as exc:
            log.error("%s: cannot write status: %s", self.p.name, exc)
        if self.p.metrics.textfile:
            self._write_metrics(record, now)
        notify.notify(status=_CONTROL.sub(" ", record.headline()[:200]))

    def _write_metrics(self, record: Status, now: float) -> None:
        """metrics.textfile; a failure is logged when it starts and when it ends, not at every write."""
        path = self.p.metrics.textfile
        try:
            metrics_file.write(path, record, now)
        except OSError as exc:
            why = f"{exc.strerror or exc}"
            if why != self.metrics_failing:
                log.error("%s: cannot write the metrics file %s: %s", self.p.name, path, why)
            self.metrics_failing = why
            return
        if self.metrics_failing:
            log.info("%s: the metrics file %s is written again", self.p.name, path)
            self.metrics_failing = ""

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

        def on_counters(received: int, sent: int) -> None:
            post(Ev.TRAFFIC, (received, sent))
        monitor: Any = None
        link = self.link  # with the mux: its AT channel is the AT port, its data channel the PPP port
        self.mux.release_hold()  # pppd holds the data channel now
        wanted = workers.watchers(link, self.relay is not None)
        if "radio monitor" in wanted:
            from bg_pppd.link.radio_monitor import AtPortMonitor

            monitor = self._watcher("the radio monitor", lambda: AtPortMonitor(link, on_radio, on_urcs, warn,
                                                                                dead=dead))
        elif "escape monitor" in wanted:
            from bg_pppd.link.radio_monitor import EscapeMonitor

            relay = self.relay
            monitor = self._watcher("the radio monitor", lambda: EscapeMonitor(
                self.p, relay, on_radio, on_urcs, dead, warn))
        # with read_urcs, an RI pulse is answered by a round that reads the URCs, then on_ring
        ring = monitor.ring if monitor is not None and self.p.monitor.read_urcs and self.relay is not None \
            else lambda: post(Ev.RING, None)
        lines = self._watcher("the DCD/RI watch", lambda: LineWatcher(
            link.modem.ppp_port, link.modem.dcd == "carrier", dead, ring=ring,
            backend=link.modem.line_backend)) if "carrier" in wanted else None
        probe = self.p.probe
        prober = None
        if "probe" in wanted:
            from bg_pppd.link.probe import Prober

            prober = self._watcher("the probe", lambda: Prober(
                probe.target, info.interface, probe.interval, probe.failures, probe.timeout,
                dead=dead, log=warn, budget=probe.budget, when_idle=probe.when_idle))
        from bg_pppd.link.traffic import TrafficMeter

        meter = self._watcher("the byte counters' reading", lambda: TrafficMeter(
            info.interface, self.p.metrics.interval, on_counters))
        return Jobs(lines, monitor, prober, meter)

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
        """DNS, READY=1 and on_up: each on its own, none a link failure (dns and hooks log theirs).
        On a worker: a DNS tool may take its whole timeout."""
        self._step("apply DNS", lambda: self.dns.apply(info.interface, info.dns))
        if not self.ready_sent:
            self.ready_sent = notify.notify(ready="1") or True
        hooks.run(self.p.hooks.on_up, self.p.name, "up", info, self.p.hooks.timeout)

    def link_down(self, info: LinkInfo) -> None:
        self._step("undo DNS", lambda: self.dns.undo(info.interface))
        hooks.run(self.p.hooks.on_down, self.p.name, "down", info, self.p.hooks.timeout)

    def reset_hook(self) -> None:
        hooks.run(self.p.hooks.on_reset, self.p.name, "reset", None, self.p.hooks.timeout)
