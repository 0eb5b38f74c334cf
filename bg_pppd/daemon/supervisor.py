"""The supervisor: one state machine, its states and transitions in one table.

Everything that happens (pre-flight finished, pppd up or gone, a reset done,
a signal, a timer) is an event on one queue; one loop takes them and runs the
handler the table names for (state, event). Handlers decide with the pure
recovery policy and act through the System boundary, which tests replace.
Each state owns at most one timer, set when the state is entered.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from enum import Enum
from typing import Any, Callable, Protocol

from bg_pppd.daemon.event_queue import EventQueue
from bg_pppd.daemon.recovery import Decision, Ladder, Policy
from bg_pppd.link.pppd import LinkInfo, describe_exit, permanent
from bg_pppd.modem.radio import RADIO_KEYS, summary
from bg_pppd.profile.model import Profile
from bg_pppd.util.errors import EXIT_FAILURE, EXIT_OK

log = logging.getLogger("bg_pppd")


class State(Enum):
    PREFLIGHT = "preflight"
    DIALING = "dialing"
    CONNECTED = "connected"
    WAITING = "waiting"
    RESETTING = "resetting"
    STOPPING = "stopping"
    STOPPED = "stopped"


class Ev(Enum):
    PREFLIGHT_OK = "preflight ok"
    PREFLIGHT_FAILED = "preflight failed"
    PPPD_UP = "ip up"
    PPPD_EXIT = "pppd exited"
    RESET_DONE = "reset done"
    LINK_DEAD = "link dead"
    RING = "ring"
    RADIO = "radio"
    TIMER = "timer"
    STOP = "stop"


@dataclass(frozen=True)
class Failure:
    """Why an attempt failed, and what that means for recovery."""

    message: str
    exit_code: int = 1
    permanent: bool = False
    not_responding: bool = False


class Job(Protocol):
    def cancel(self) -> None: ...


class System(Protocol):
    """All I/O the supervisor does; the real one is in system.py, tests pass a recorder."""

    def clock(self) -> float: ...
    def start_preflight(self, post: Callable[[Ev, Any], None]) -> Job: ...
    def start_pppd(self, post: Callable[[Ev, Any], None], info: LinkInfo) -> None: ...
    def stop_pppd(self, kill: bool) -> None: ...
    def hangup_pppd(self) -> None: ...
    def pppd_pid(self) -> int | None: ...
    def start_reset(self, skip_at: bool, post: Callable[[Ev, Any], None]) -> Job: ...
    def save_ladder(self, ladder: Ladder) -> None: ...
    def status_changed(self, status: dict[str, Any]) -> None: ...
    def link_up(self, info: LinkInfo) -> None: ...
    def link_down(self, info: LinkInfo) -> None: ...
    def reset_hook(self) -> None: ...
    def start_watch(self, post: Callable[[Ev, Any], None], info: LinkInfo) -> Job: ...
    def ring_hook(self, info: LinkInfo, urcs: list[str]) -> None: ...
    def after_pppd(self) -> None: ...


TERMINATE_WAIT = 15.0  # pppd's LCP Terminate-Request handshake, then the disconnect script
KILL_WAIT = 5.0        # after SIGKILL, for pppd's exit to arrive; then the stop goes on without it


def one_line(text: str) -> str:
    """A message fit for one log line and sd_notify (a failure's text may hold newlines)."""
    return " ".join(str(text).split())


class Supervisor:
    def __init__(self, profile: Profile, system: System, ladder: Ladder | None = None):
        self.p = profile
        self.sys = system
        r = profile.recovery
        self.policy = Policy(r.dial_attempts, r.retry_wait, tuple(r.reset_waits), r.stable_after)
        self.ladder = ladder or Ladder()
        self.events: EventQueue[tuple[Ev, Any]] = EventQueue()
        self.state = State.STOPPED
        self.since = 0.0
        self.timer_at: float | None = None
        self.job: Job | None = None            # the pre-flight or reset worker, when one runs
        self.job_kind = ""                     # "pre-flight" or "reset": what the job is
        self.killed = False                    # SIGKILL sent while stopping
        self.crashed = False                   # a handler raised: the daemon is stopping with exit 1
        self._failing: set[str] = set()        # system calls that failed already (traceback logged once)
        self.watch: Job | None = None          # the probe while connected
        self.dead_reason = ""
        self.link_is_up = False
        self.pppd_running = False
        self.info = LinkInfo()
        self.up_since: float | None = None
        self.skip_at = False
        self.exit_code = EXIT_OK
        self.last_error = self.ladder.last_error
        self.radio: dict[str, Any] = {}        # registration, operator, technology, band, signal
        self.radio_at: float | None = None
        self._table = self.table()

    # ----- the table -------------------------------------------------------------------------

    def table(self) -> dict[tuple[State, Ev], Callable[[Any], None]]:
        S, E = State, Ev
        return {
            (S.PREFLIGHT, E.PREFLIGHT_OK): self._dial,
            (S.PREFLIGHT, E.PREFLIGHT_FAILED): self._attempt_failed,
            (S.DIALING, E.PPPD_UP): self._connected,
            (S.DIALING, E.PPPD_EXIT): self._dial_failed,
            (S.DIALING, E.TIMER): self._dial_stuck,
            (S.CONNECTED, E.TIMER): self._stable,
            (S.CONNECTED, E.PPPD_EXIT): self._link_down,
            (S.CONNECTED, E.LINK_DEAD): self._link_dead,
            (S.CONNECTED, E.RING): self._ring,
            (S.CONNECTED, E.RADIO): self._radio,
            (S.WAITING, E.TIMER): self._next_attempt,
            (S.RESETTING, E.RESET_DONE): self._reset_done,
            (S.STOPPING, E.PPPD_EXIT): self._stopping_pppd_gone,
            (S.STOPPING, E.PREFLIGHT_OK): self._stopping_job_done,
            (S.STOPPING, E.PREFLIGHT_FAILED): self._stopping_job_done,
            (S.STOPPING, E.RESET_DONE): self._stopping_job_done,
            (S.STOPPING, E.TIMER): self._stop_kill,
            **{(s, E.STOP): self._stop for s in (S.PREFLIGHT, S.DIALING, S.CONNECTED, S.WAITING,
                                                  S.RESETTING)},
        }

    # ----- plumbing --------------------------------------------------------------------------

    def post(self, ev: Ev, data: Any = None) -> None:
        """Thread-safe: the only way workers, pppd and signals reach the state machine."""
        self.events.put((ev, data))

    def switch(self, new: State, why: str, timer: float | None = None, level: int = logging.INFO) -> None:
        old = self.state
        self.state, self.since = new, self.sys.clock()
        self.timer_at = None if timer is None else self.since + timer
        log.log(level, "%s: switch from %s to %s: %s", self.p.name, old.value, new.value, one_line(why))
        self._status()

    def _status(self) -> None:
        self._call("publish the status", lambda: self.sys.status_changed(self.status()))

    def _call(self, what: str, action: Callable[[], Any]) -> Any:
        """A side effect whose failure must not change what the state machine does: logged
        (with its traceback the first time), then the machine goes on."""
        try:
            return action()
        except Exception as exc:
            if what in self._failing:
                log.error("%s: cannot %s: %s", self.p.name, what, one_line(str(exc)) or type(exc).__name__)
            else:
                self._failing.add(what)
                log.exception("%s: cannot %s", self.p.name, what)
            return None

    def dispatch(self, ev: Ev, data: Any = None) -> None:
        handler = self._table.get((self.state, ev))
        if handler is None:
            log.debug("%s: %s ignored in %s", self.p.name, ev.value, self.state.value)
            return
        handler(data)

    def next_timeout(self) -> float | None:
        if self.timer_at is None:
            return None
        return max(0.0, self.timer_at - self.sys.clock())

    def step(self, block: bool = True, max_wait: float | None = None) -> bool:
        """Take one event (or fire the state's timer); False when nothing happened."""
        wait = self.next_timeout()
        if max_wait is not None:
            wait = max_wait if wait is None else min(wait, max_wait)
        item = self.events.get(wait if block else 0.0)
        if item is None:
            if self.timer_at is not None and self.sys.clock() >= self.timer_at:
                self.timer_at = None
                self.dispatch(Ev.TIMER)
                return True
            return False
        self.dispatch(*item)
        return True

    def start(self) -> None:
        self._begin_preflight("starting")

    def run(self, tick: Callable[[], None] | None = None, tick_every: float | None = None) -> int:
        """Until stopped. A handler that raises (a bug, an unforeseen error) is the crash barrier's:
        pppd is ended like on a stop, the status says why, and the exit status is 1 (systemd
        restarts the daemon), instead of a traceback that leaves pppd running unsupervised."""
        try:
            self.start()
        except Exception as exc:
            self._crash(exc)
        while self.state is not State.STOPPED:
            try:
                self.step(max_wait=tick_every)
                if tick:
                    tick()
            except Exception as exc:
                self._crash(exc)
        return self.exit_code

    def _crash(self, exc: Exception) -> None:
        self.exit_code = EXIT_FAILURE
        self.last_error = one_line(f"internal error: {type(exc).__name__}: {exc}")
        if not self.crashed:
            self.crashed = True
            log.exception("%s: internal error in state %s; stopping", self.p.name, self.state.value)
            if self.state is State.STOPPING:
                return  # its timer still bounds the wait for pppd
            try:
                self._stop("internal error")  # through the table: SIGTERM, then SIGKILL, bounded
                return
            except Exception:
                log.exception("%s: the stop failed too", self.p.name)
        else:
            log.error("%s: %s, again while stopping; ending pppd and stopping now", self.p.name, self.last_error)
        self._hard_stop()

    def _hard_stop(self) -> None:
        """The handlers cannot be trusted any more: kill pppd, undo what can be undone, stop."""
        if self.pppd_running:
            self._call("kill pppd", lambda: self.sys.stop_pppd(kill=True))
            self.pppd_running = False
        if self.job is not None:
            job, self.job = self.job, None
            self._call(f"cancel the {self.job_kind}", job.cancel)
        self._went_down()
        self._save()
        self.state, self.timer_at = State.STOPPED, None
        log.info("%s: stopped after an internal error", self.p.name)
        self._status()

    def status(self) -> dict[str, Any]:
        nxt = self.policy.reset_allowed_at(self.ladder) if self.ladder.failures else None
        return {
            "profile": self.p.name, "state": self.state.value, "since": self.since,
            "pppd_pid": self.sys.pppd_pid() if self.pppd_running else None,
            "interface": self.info.interface or None, "local_ip": self.info.local_ip or None,
            "remote_ip": self.info.remote_ip or None, "dns": list(self.info.dns),
            "consecutive_failures": self.ladder.failures, "resets": self.ladder.resets,
            "next_reset_not_before": nxt, "last_error": self.last_error or None,
            **{k: self.radio.get(k) for k in RADIO_KEYS}, "radio_at": self.radio_at,
        }

    # ----- handlers --------------------------------------------------------------------------

    def _begin_preflight(self, why: str, level: int = logging.INFO) -> None:
        self.info = LinkInfo()
        self.switch(State.PREFLIGHT, why, level=level)
        self.job, self.job_kind = self.sys.start_preflight(self.post), "pre-flight"

    def _dial(self, report: Any) -> None:
        self.job = None
        self._set_radio({k: getattr(report, k) for k in RADIO_KEYS if getattr(report, k, None) is not None})
        self.skip_at = False
        r = self.p.recovery
        try:
            self.sys.start_pppd(self.post, self.info)
        except Exception as exc:  # cannot fork, pppd missing...: a failed attempt, not a crash
            reason = f"cannot start pppd: {(str(exc).strip().splitlines() or [type(exc).__name__])[0]}"
            log.error("%s: %s", self.p.name, reason)
            self._attempt_failed(Failure(reason))
            return
        self.pppd_running = True
        self.killed = False
        # pppd sticks in a phase sometimes (LCP never opens): end it after a generous bound
        self.switch(State.DIALING, "pre-flight passed, pppd started",
                    timer=r.dial_timeout + 2 * r.at_timeout + 30)

    def _attempt_failed(self, failure: Failure) -> None:
        self.job = None
        self.last_error = failure.message
        if failure.permanent:
            self._finish(failure.exit_code, f"cannot continue: {failure.message}")
            return
        self.skip_at = failure.not_responding
        self._decide(self.policy.failed(self.ladder, self.sys.clock(), failure.message), failure.message)

    def _dial_failed(self, code: int) -> None:
        self.pppd_running = False
        self._after_pppd()
        message = describe_exit(code, self.info)
        fix = permanent(code, self.info)  # a missing PPP port is a failed attempt, not an option error
        if fix:
            self.last_error = message
            self._finish(2 if code == 2 else 20, f"cannot continue: {message}; {fix}")
            return
        self._attempt_failed(Failure(message))

    def _after_pppd(self) -> None:
        self._call("clean up after pppd", self.sys.after_pppd)

    def _dial_stuck(self, _data: Any) -> None:
        log.warning("%s: pppd did not bring IP up in time; ending it", self.p.name)
        self.sys.stop_pppd(kill=False)

    def _connected(self, info: LinkInfo) -> None:
        self.info = info
        self.up_since = self.sys.clock()
        self.dead_reason = ""
        self.link_is_up = True
        self._call("run the link-up actions (DNS, on_up)", lambda: self.sys.link_up(info))
        self.watch = self._call("start watching the link", lambda: self.sys.start_watch(self.post, info))
        self.switch(State.CONNECTED, f"IP up on {info.interface}: {info.local_ip} peer {info.remote_ip}",
                    timer=self.policy.stable_wait)

    def _stable(self, _data: Any) -> None:
        if self.ladder.failures or self.ladder.resets:
            log.info("%s: link stable for %g s: failure count and reset ladder cleared", self.p.name,
                     self.p.recovery.stable_after)
        self.policy.link_stable(self.ladder)
        self.last_error = ""
        self._save()
        self._status()

    def _save(self) -> None:
        self._call("save the recovery state", lambda: self.sys.save_ladder(self.ladder))

    def _link_dead(self, reason: str) -> None:
        """Carrier lost, or the probe says no packets pass: hang pppd up; its exit is the link-down.

        A hangup, not SIGTERM: LCP Terminate-Requests over a dead line only wait for
        timeouts before the redial can start.
        """
        log.warning("%s: %s; hanging up pppd", self.p.name, reason)
        self.dead_reason = reason
        self.sys.hangup_pppd()

    def _ring(self, urcs: list[str] | None) -> None:
        if urcs:
            log.info("%s: the module reports %s", self.p.name, "; ".join(urcs))
        else:
            log.info("%s: RI pulse: the module has an SMS or a call to report", self.p.name)
        self._call("run on_ring", lambda: self.sys.ring_hook(self.info, list(urcs or [])))

    def _set_radio(self, radio: dict[str, Any]) -> None:
        if radio:
            self.radio.update(radio)
            self.radio_at = self.sys.clock()

    def _radio(self, radio: dict[str, Any]) -> None:
        """The monitor's answers: logged when what a user acts on changes, always in status."""
        watched = ("registration", "operator", "access_technology")
        changed = any(radio.get(k) != self.radio.get(k) for k in watched if k in radio)
        self._set_radio(radio)
        if changed:
            log.info("%s: radio: %s", self.p.name, summary(self.radio))
        self._status()

    def _stop_watch(self) -> None:
        watch, self.watch = self.watch, None
        if watch is not None:
            self._call("stop watching the link", watch.cancel)

    def _went_down(self) -> None:
        """IP is gone: undo DNS, run on_down; once per link, whichever way it ended."""
        self._stop_watch()
        if self.link_is_up:
            self.link_is_up = False
            self._call("run the link-down actions (DNS, on_down)", lambda: self.sys.link_down(self.info))

    def _link_down(self, code: int) -> None:
        self.pppd_running = False
        message = self.dead_reason or describe_exit(code, self.info)
        self._went_down()
        self._after_pppd()
        self.last_error = message
        decision = self.policy.link_down(self.ladder, self.sys.clock(), self.up_since or 0.0, message)
        self._decide(decision, message)

    def _decide(self, decision: Decision, cause: str = "") -> None:
        """Act on the policy; the log line says why the attempt failed, not only that it did."""
        now = self.sys.clock()
        if decision.action == "reset":  # counted and saved before it runs: a stop, crash or kill
            self.policy.reset_started(self.ladder, now)  # during it still paces the next run's
        self._save()
        why = f"{decision.reason} ({cause})" if cause else decision.reason
        if decision.action == "reset":
            self._call("run on_reset", self.sys.reset_hook)
            self.switch(State.RESETTING, why + (" (module not answering: no AT reset)" if self.skip_at else ""))
            self.job, self.job_kind = self.sys.start_reset(self.skip_at, self.post), "reset"
            return
        self.switch(State.WAITING, f"{why}; next attempt in {max(0.0, decision.at - now):.1f} s",
                    timer=max(0.0, decision.at - now))

    def _next_attempt(self, _data: Any) -> None:
        self._begin_preflight("next attempt")

    def _reset_done(self, result: str | Failure) -> None:
        """A failed reset is reported as failed, and still paces the ladder (see Policy.reset_done)."""
        self.job = None
        failed = isinstance(result, Failure)
        self.skip_at = False
        decision = self.policy.reset_done(self.ladder, self.sys.clock(), confirmed=not failed)
        if failed:
            self.last_error = one_line(f"{decision.reason}: {result.message}")
        self._save()
        if failed:
            self._begin_preflight(f"{decision.reason} ({one_line(result.message)}); the next reset waits its "
                                  "full step all the same", level=logging.WARNING)
        else:
            self._begin_preflight(decision.reason)

    def _stop(self, why: str) -> None:
        self._stop_watch()
        if self.job is not None:
            job = self.job
            self._call(f"cancel the {self.job_kind}", job.cancel)  # a cancelled job still reports once
        self.killed = False
        if self.pppd_running:
            self.sys.stop_pppd(kill=False)  # SIGTERM: pppd sends LCP Terminate-Request
        self.switch(State.STOPPING, why or "stop requested", timer=TERMINATE_WAIT)
        self._maybe_stopped()

    def _stopping_pppd_gone(self, _code: int) -> None:
        self.pppd_running = False
        self._went_down()
        self._after_pppd()
        self._maybe_stopped()

    def _stopping_job_done(self, _result: Any) -> None:
        self.job = None
        self._maybe_stopped()

    def _maybe_stopped(self) -> None:
        if not self.pppd_running and self.job is None:
            self._finish(self.exit_code, "stopped")

    def _stop_kill(self, _data: Any) -> None:
        """The stop's wait is over: SIGKILL a pppd that ignored SIGTERM, wait once more, then stop
        without whatever is still pending (a worker stuck in I/O must not keep the daemon alive)."""
        if self.pppd_running and not self.killed:
            log.warning("%s: pppd did not end within %g s of SIGTERM; killing it", self.p.name, TERMINATE_WAIT)
            self.killed = True
            self.sys.stop_pppd(kill=True)
            self.timer_at = self.sys.clock() + KILL_WAIT
            return
        pending = []
        if self.pppd_running:
            pending.append(f"pppd (pid {self.sys.pppd_pid()}), which did not end after SIGKILL")
            self.pppd_running = False
        if self.job is not None:
            pending.append(f"the {self.job_kind} worker, which did not answer its cancel ({self._stuck_in()})")
            self.job = None
        message = "stopped without waiting longer for " + " and for ".join(pending)
        log.error("%s: %s", self.p.name, message)
        self.last_error = message
        self._finish(self.exit_code, message)

    def _stuck_in(self) -> str:
        """What a worker that ignores its cancel is most likely doing."""
        rec = self.p.recovery
        if self.job_kind == "reset" and "command" in rec.reset and rec.reset_command:
            return (f"its reset command {rec.reset_command[0]} may still be running: a stop does not end "
                    f"it, boot_timeout ({rec.boot_timeout:g} s) does")
        return "stuck in I/O on the port?"

    def _finish(self, code: int, why: str) -> None:
        self.exit_code = code
        if self.pppd_running:
            self.sys.stop_pppd(kill=True)
            self.pppd_running = False
        self._went_down()
        self._save()
        self.switch(State.STOPPED, why)
