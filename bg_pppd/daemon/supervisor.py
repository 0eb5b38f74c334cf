"""The supervisor: one state machine, its states and transitions in one table.

Everything that happens (pre-flight finished, pppd up or gone, a reset done,
a signal, a timer) is an event on one queue; one loop takes them and runs the
handler the table names for (state, event). Handlers decide with the pure
recovery policy and act through the System boundary, which tests replace.
Each state owns at most one timer, set when the state is entered.

The loop never waits on a port, a process or a tool: slow work (the pre-flight,
a reset, the DNS tools and hooks, pppd's clean-up and the port back in command
mode) is a worker that posts its result, and a state waits for it (RESTORING
for the clean-up after pppd). Every attempt has a number; workers post through
a ``post`` bound to their attempt, and events of an older attempt are dropped.
docs/supervisor.md draws TABLE (tests/render_supervisor_doc.py writes it).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from enum import Enum
from typing import Any, Callable, Protocol

from bg_pppd.daemon.apn_order import ApnState, dial_failure_blames_apn, preflight_failure_blames_apn
from bg_pppd.daemon.data_usage import Cap, Meter, Usage, day_of, lifetime_view, month_start_after, status_view
from bg_pppd.daemon.event_queue import EventQueue
from bg_pppd.daemon.journal_fields import fields as journal_fields
from bg_pppd.daemon.recovery import Decision, Ladder, Policy
from bg_pppd.daemon.status import Status
from bg_pppd.link.pppd import LinkInfo, describe_exit, permanent
from bg_pppd.modem.radio import RADIO_KEYS, summary
from bg_pppd.profile.model import Profile
from bg_pppd.util import errors
from bg_pppd.util.cancel import Cancelled
from bg_pppd.util.errors import EXIT_FAILURE, EXIT_OK, BgPppdError, NotResponding, SimProblem

log = logging.getLogger("bg_pppd")


class State(Enum):
    PREFLIGHT = "preflight"
    DIALING = "dialing"
    CONNECTED = "connected"
    WAITING = "waiting"
    RESETTING = "resetting"
    RESTORING = "restoring"  # pppd is gone: DNS undone, on_down, the port back in command mode
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
    TRAFFIC = "traffic"  # a reading of the interface's byte counters (received, sent)
    TIMER = "timer"
    STOP = "stop"
    CLEANED = "cleaned up"  # the clean-up after pppd is done


@dataclass(frozen=True)
class Failure:
    """Why an attempt failed, and what that means for recovery."""

    message: str
    exit_code: int = 1
    permanent: bool = False
    not_responding: bool = False
    report: Any = None  # the pre-flight's Report, as far as it got (interventions, diagnostics)
    kind: str = ""      # the error class (status, metrics); "" = the exit status's (ERROR_CLASSES)
    port_held: bool = False  # another program holds the port: retried, never counted toward a reset


# last_error_class in status and the metrics: what kind of failure the last error was, by exit
# status where the failure has one of its own, else named where it is set
ERROR_CLASSES = {errors.EXIT_NO_RESPONSE: "no_response", errors.EXIT_SIM: "sim", errors.EXIT_DENIED: "denied",
                 errors.EXIT_NOT_REGISTERED: "not_registered", errors.EXIT_PPPD_UNUSABLE: "pppd_unusable",
                 errors.EXIT_PROFILE: "profile"}


PORT_IN_USE = "port_in_use"


def error_class(failure: Failure) -> str:
    return failure.kind or ERROR_CLASSES.get(failure.exit_code, "preflight")


def failure_of(exc: BaseException, what: str = "pre-flight") -> Failure:
    """What an exception out of a worker means for recovery (pure: no I/O, no logging)."""
    if isinstance(exc, Cancelled):
        return Failure("cancelled")
    if isinstance(exc, NotResponding):
        return Failure(str(exc), exc.exit_code, not_responding=True)
    if isinstance(exc, SimProblem):
        return Failure(f"SIM: {exc}", exc.exit_code, permanent=exc.permanent)
    if isinstance(exc, BgPppdError):
        if exc.port_held:
            return Failure(str(exc), exc.exit_code, kind=PORT_IN_USE, port_held=True)
        return Failure(str(exc), exc.exit_code)
    return Failure(f"{what} error: {exc}")


class Job(Protocol):
    def cancel(self) -> None: ...
    def join(self, timeout: float) -> bool: ...


Post = Callable[..., None]  # post(ev, data=None): bound to one attempt


class System(Protocol):
    """All I/O the supervisor does; the real one is in system.py, tests pass a recorder."""

    def clock(self) -> float: ...
    def wall(self) -> float: ...
    def start_preflight(self, post: Callable[[Ev, Any], None],
                        choose_apn: Callable[[str | None], str] | None = None) -> Job: ...
    def start_pppd(self, post: Callable[[Ev, Any], None], info: LinkInfo) -> None: ...
    def stop_pppd(self, kill: bool) -> None: ...
    def hangup_pppd(self) -> None: ...
    def pppd_pid(self) -> int | None: ...
    def start_reset(self, skip_at: bool, post: Callable[[Ev, Any], None]) -> Job: ...
    def save_ladder(self, ladder: Ladder) -> None: ...
    def load_apn_memory(self) -> dict[str, str]: ...
    def save_apn_memory(self, memory: dict[str, str]) -> None: ...
    def load_usage(self) -> Usage: ...
    def save_usage(self, usage: Usage) -> None: ...
    def cap_hook(self, state: str, usage: Usage) -> Job | None: ...
    def status_changed(self, status: dict[str, Any]) -> None: ...
    def link_up(self, info: LinkInfo) -> None: ...
    def link_down(self, info: LinkInfo) -> None: ...
    def reset_hook(self) -> None: ...
    def start_watch(self, post: Callable[[Ev, Any], None], info: LinkInfo) -> Job: ...
    def ring_hook(self, info: LinkInfo, urcs: list[str]) -> None: ...
    def after_pppd(self) -> None: ...
    def diagnose(self) -> dict[str, str]: ...
    def start_worker(self, name: str, body: Callable[[], Any], done: Callable[[Any], None] | None) -> Job: ...


@dataclass(frozen=True)
class Row:
    """One transition: the handler (a method name) and the states it may switch to."""

    handler: str
    targets: frozenset[State] = frozenset()


def _row(handler: str, *targets: State) -> Row:
    return Row(handler, frozenset(targets))


_S, _E = State, Ev
_FAILED = (_S.WAITING, _S.RESETTING, _S.STOPPED)  # where a failed attempt goes (policy, or permanent)
TABLE: dict[tuple[State, Ev], Row] = {
    (_S.PREFLIGHT, _E.PREFLIGHT_OK): _row("_dial", _S.DIALING, *_FAILED),
    (_S.PREFLIGHT, _E.PREFLIGHT_FAILED): _row("_attempt_failed", *_FAILED),
    (_S.DIALING, _E.PPPD_UP): _row("_connected", _S.CONNECTED),
    (_S.DIALING, _E.PPPD_EXIT): _row("_dial_failed", _S.RESTORING, _S.STOPPED),
    (_S.DIALING, _E.TIMER): _row("_dial_stuck"),
    (_S.CONNECTED, _E.TIMER): _row("_stable"),
    (_S.CONNECTED, _E.PPPD_EXIT): _row("_link_down", _S.RESTORING),
    (_S.CONNECTED, _E.LINK_DEAD): _row("_link_dead"),
    (_S.CONNECTED, _E.RING): _row("_ring"),
    (_S.CONNECTED, _E.RADIO): _row("_radio"),
    (_S.CONNECTED, _E.TRAFFIC): _row("_traffic"),
    (_S.RESTORING, _E.CLEANED): _row("_restored", *_FAILED),
    (_S.WAITING, _E.TIMER): _row("_next_attempt", _S.PREFLIGHT, _S.WAITING),  # WAITING: the data cap
    (_S.RESETTING, _E.RESET_DONE): _row("_reset_done", _S.PREFLIGHT, _S.WAITING),
    (_S.STOPPING, _E.PPPD_EXIT): _row("_stopping_pppd_gone", _S.STOPPED),
    (_S.STOPPING, _E.PREFLIGHT_OK): _row("_stopping_job_done", _S.STOPPED),
    (_S.STOPPING, _E.PREFLIGHT_FAILED): _row("_stopping_job_done", _S.STOPPED),
    (_S.STOPPING, _E.RESET_DONE): _row("_stopping_job_done", _S.STOPPED),
    (_S.STOPPING, _E.TIMER): _row("_stop_kill", _S.STOPPED),
    **{(s, _E.STOP): _row("_stop", _S.STOPPING, _S.STOPPED)
       for s in (_S.PREFLIGHT, _S.DIALING, _S.CONNECTED, _S.WAITING, _S.RESETTING, _S.RESTORING)},
}
ON_EXIT: dict[State, str] = {_S.CONNECTED: "_left_connected"}  # run whenever the state is left


TERMINATE_WAIT = 15.0  # pppd's LCP Terminate-Request handshake, then the disconnect script
KILL_WAIT = 5.0        # after SIGKILL, for pppd's exit to arrive; then the stop goes on without it
UP_WAIT = 2.0          # the link-down waits this long for the link-up actions (a DNS tool) to end
CLEANUP_WAIT = 10.0    # at exit, for the clean-up after pppd (the port back in command mode)
CAP_RECHECK = 3600.0   # capped: the month's end is looked at again this often (a clock set late)


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
        self.events: EventQueue[tuple[Ev, Any, int | None]] = EventQueue()  # (event, data, attempt)
        self.state = State.STOPPED
        self.since = 0.0
        self.timer_at: float | None = None
        self.job: Job | None = None            # the pre-flight or reset worker, when one runs
        self.attempt = 0                       # the attempt (pre-flight and dial) events belong to
        self.up_job: Job | None = None         # the link-up actions (DNS, READY, on_up) while they run
        self.cleanup: Job | None = None        # the clean-up after pppd while it runs
        self._then: Callable[[], None] | None = None  # what RESTORING does once the clean-up is done
        self._allowed: frozenset[State] | None = None  # the targets of the row being dispatched
        self.job_kind = ""                     # "pre-flight" or "reset": what the job is
        self.event = "start"                   # the event being handled (BG_PPPD_EVENT in the journal)
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
        self.port_waits = 0  # attempts in a row that found the port held by another program
        self.exit_code = EXIT_OK
        self.last_error = self.ladder.last_error
        self.error_class = "earlier_run" if self.last_error else ""  # last_error's class
        self.radio: dict[str, Any] = {}        # registration, operator, technology, band, signal
        self.radio_at: float | None = None
        self.firmware: str | None = None       # AT+QGMR, from the last pre-flight that read it
        self.apn: str | None = None            # the APN of the last attempt
        self.interventions: list[dict[str, Any]] = []  # the last pre-flight's, short of a reset
        self.diagnostics: dict[str, str] = {}  # what the module said about the last failure
        # which APN an attempt sets: the profile's list, what worked per ICCID (daemon/apn_order.py)
        self.apns = ApnState(profile.network.apn, self._call("load the APN memory", self.sys.load_apn_memory) or {})
        self.dialed: tuple[str | None, str | None] = (None, None)  # (ICCID, APN) of the attempt dialling
        # data usage and lifetime counters (daemon/data_usage.py), kept in the state dir
        net = profile.network
        self.cap = Cap(net.data_cap, net.data_cap_warning / 100, net.data_cap_action == "stop")
        self.usage: Usage = self._call("load the data usage", self.sys.load_usage) or Usage()
        self.meter: Meter | None = None        # the current (or last) connection's counters
        self.metering = False                  # the meter counts a link that is up
        self.metered_at = 0.0                  # clock() of its last reading
        self.capped = False                    # the cap ended this link: no dialling this month

    TABLE = TABLE
    ON_EXIT = ON_EXIT

    # ----- plumbing --------------------------------------------------------------------------

    def post(self, ev: Ev, data: Any = None) -> None:
        """Thread-safe: signals and tests reach the state machine here (the current attempt)."""
        self.events.put((ev, data, None))

    def poster(self, attempt: int | None = None) -> Post:
        """A ``post`` for a worker: its events carry ``attempt`` (default: the current one)."""
        n = self.attempt if attempt is None else attempt

        def post(ev: Ev, data: Any = None) -> None:
            self.events.put((ev, data, n))
        return post

    def switch(self, new: State, why: str, timer: float | None = None, level: int = logging.INFO) -> None:
        old = self.state
        if self._allowed is not None:
            assert new in self._allowed, f"{old.value} may not switch to {new.value} here"
        if old is not new and old in self.ON_EXIT:
            getattr(self, self.ON_EXIT[old])()
        self.state, self.since = new, self.sys.clock()
        self.timer_at = None if timer is None else self.since + timer
        log.log(level, "%s: switch from %s to %s: %s", self.p.name, old.value, new.value, one_line(why),
                extra=journal_fields(self.p.name, self.event, new.value))
        self._status()

    def _event_line(self, level: int, kind: str, message: str, *args: Any) -> None:
        """A line for an event that changes no state (ring, radio, cap...), with its journal fields."""
        log.log(level, message, *args, extra=journal_fields(self.p.name, kind, self.state.value, kind))

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

    def dispatch(self, ev: Ev, data: Any = None, attempt: int | None = None) -> None:
        if attempt is not None and attempt != self.attempt:
            log.debug("%s: %s of attempt %d dropped: attempt %d runs", self.p.name, ev.value, attempt,
                      self.attempt)
            return
        row = self.TABLE.get((self.state, ev))
        if row is None:
            log.debug("%s: %s ignored in %s", self.p.name, ev.value, self.state.value)
            return
        self._allowed, self.event = row.targets, ev.value
        try:
            getattr(self, row.handler)(data)
        finally:
            self._allowed = None

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
        self._wait_cleanup(tick, tick_every)
        return self.exit_code

    def _wait_cleanup(self, tick: Callable[[], None] | None, tick_every: float | None) -> None:
        """Stopped: the loop has nothing left to answer; give a clean-up still running (the port
        back in command mode) a bounded join, still ticking the watchdog."""
        job = self.cleanup
        if job is None:
            return
        end = self.sys.clock() + CLEANUP_WAIT
        while not job.join(min(tick_every or 1.0, max(0.0, end - self.sys.clock()))):
            if tick:
                tick()
            if self.sys.clock() >= end:
                log.warning("%s: the clean-up after pppd did not end within %g s; exiting without it",
                            self.p.name, CLEANUP_WAIT)
                return

    def _crash(self, exc: Exception) -> None:
        self.exit_code = EXIT_FAILURE
        self.last_error = one_line(f"internal error: {type(exc).__name__}: {exc}")
        self.error_class = "internal"
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
        self._allowed = None
        if self.state in self.ON_EXIT:
            self._call("leave " + self.state.value, getattr(self, self.ON_EXIT[self.state]))
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

    def status(self) -> Status:
        """The status record, its times on the System's clock (the effects make them ISO)."""
        nxt = self.policy.reset_allowed_at(self.ladder) if self.ladder.failures else None
        return Status(
            profile=self.p.name, state=self.state.value, since=self.since,
            pppd_pid=self.sys.pppd_pid() if self.pppd_running else None,
            interface=self.info.interface or None, local_ip=self.info.local_ip or None,
            remote_ip=self.info.remote_ip or None, dns=list(self.info.dns),
            consecutive_failures=self.ladder.failures, resets=self.ladder.resets,
            next_reset_not_before=nxt, last_error=self.last_error or None,
            last_error_class=(self.error_class or "other") if self.last_error else None,
            **{k: self.radio.get(k) for k in RADIO_KEYS}, radio_at=self.radio_at,
            firmware=self.firmware, apn=self.apn, interventions=list(self.interventions),
            last_diagnostics=dict(self.diagnostics),
            **status_view(self.usage, self.cap, self.meter), lifetime=lifetime_view(self.usage),
        )

    def _learnt(self, report: Any) -> None:
        """What a pre-flight found out, whether it passed or not: firmware, APN, interventions,
        and the module's diagnostics of a failure (kept until the next failure's)."""
        if report is None:
            return
        self.firmware = getattr(report, "firmware", None) or self.firmware
        self.apn = getattr(report, "apn", None) if getattr(report, "apn", None) is not None else self.apn
        self.interventions = list(getattr(report, "interventions", None) or [])
        if getattr(report, "diagnostics", None):
            self.diagnostics = dict(report.diagnostics)

    # ----- handlers --------------------------------------------------------------------------

    def _begin_preflight(self, why: str, level: int = logging.INFO) -> None:
        self.usage = self.usage.at(self.sys.wall())  # a new month ends a cap's wait
        if self.cap.stops(self.usage):
            self._wait_for_month()
            return
        self.capped = False
        self.info = LinkInfo()
        self.attempt += 1  # from here on, what the last attempt's workers post is stale
        self.switch(State.PREFLIGHT, why, level=level)
        self.job, self.job_kind = self.sys.start_preflight(self.poster(), self.choose_apn), "pre-flight"

    def _dial(self, report: Any) -> None:
        self.job = None
        self._learnt(report)
        self.dialed = (getattr(report, "iccid", None), getattr(report, "apn", None))
        self._set_radio({k: getattr(report, k) for k in RADIO_KEYS if getattr(report, k, None) is not None})
        self.skip_at = False
        self.port_waits = 0
        r = self.p.recovery
        try:
            self.sys.start_pppd(self.poster(), self.info)
        except Exception as exc:  # cannot fork, pppd missing...: a failed attempt, not a crash
            reason = f"cannot start pppd: {(str(exc).strip().splitlines() or [type(exc).__name__])[0]}"
            log.error("%s: %s", self.p.name, reason)
            held = failure_of(exc).port_held  # the port leads to another bg-pppd's now
            self._attempt_failed(Failure(reason, kind=PORT_IN_USE if held else "dial", port_held=held))
            return
        self.pppd_running = True
        self.killed = False
        # pppd sticks in a phase sometimes (LCP never opens): end it after a generous bound
        self.switch(State.DIALING, "pre-flight passed, pppd started",
                    timer=r.dial_timeout + 2 * r.at_timeout + 30)

    def _attempt_failed(self, failure: Failure) -> None:
        self.job = None
        self._learnt(failure.report)
        self.last_error, self.error_class = failure.message, error_class(failure)
        self._counted(failed_attempts=1)
        if failure.permanent:
            self._finish(failure.exit_code, f"cannot continue: {failure.message}")
            return
        if failure.port_held:
            self._port_held(failure.message)
            return
        self.port_waits = 0
        self.skip_at = failure.not_responding
        tried = getattr(failure.report, "apn", None)  # None: the context was not set this attempt
        if preflight_failure_blames_apn(failure.exit_code, tried is not None):
            self._apn_failed(getattr(failure.report, "iccid", None), tried, failure.message)
        self._decide(self.policy.failed(self.ladder, self.sys.clock(), failure.message), failure.message)

    def _dial_failed(self, code: int) -> None:
        self.pppd_running = False
        message = describe_exit(code, self.info)
        fix = permanent(code, self.info)  # a missing PPP port is a failed attempt, not an option error
        if fix:
            self.last_error, self.error_class = message, "profile" if code == 2 else "pppd_unusable"
            self._start_cleanup()  # an end, not a wait: the clean-up gets its bounded join at exit
            exit_status = errors.EXIT_PROFILE if code == 2 else errors.EXIT_PPPD_UNUSABLE  # pppd 2: options
            self._finish(exit_status, f"cannot continue: {message}; {fix}")
            return
        if dial_failure_blames_apn(code) and self.dialed[1] is not None:
            self._apn_failed(self.dialed[0], self.dialed[1], message)
        self._restore(f"pppd exited: {message}", lambda: self._attempt_failed(Failure(message, kind="dial")))

    def choose_apn(self, iccid: str | None) -> str:
        """The pre-flight's question (on its worker): the APN to set on this SIM. One read of
        ``self.apns``, which the loop only ever replaces whole: a consistent answer."""
        return self.apns.choose(iccid)

    def _apn_failed(self, iccid: str | None, apn: str, why: str) -> None:
        """A failure the APN may have caused: the next attempt sets the next one (the recovery
        ladder counts the failure as always)."""
        self.apns = self.apns.failed(iccid, apn)
        following = self.apns.choose(iccid)
        if following != apn:
            log.info("%s: APN %r failed (%s); next attempt with %r", self.p.name, apn, one_line(why), following)

    def _apn_worked(self) -> None:
        """IP is up: the APN of this attempt is remembered for its SIM (saved when that changes)."""
        iccid, apn = self.dialed
        if apn is None or len(self.p.network.apn) < 2:
            return  # one APN: nothing to choose, nothing to write
        before = dict(self.apns.remembered)
        self.apns = self.apns.worked(iccid, apn)
        if dict(self.apns.remembered) != before:
            memory = dict(self.apns.remembered)
            self._call("save the APN that worked", lambda: self.sys.save_apn_memory(memory))

    def _start_cleanup(self) -> None:
        """pppd is gone: a worker undoes the link (DNS, on_down) if it was up, then cleans up after
        pppd (its pid file, the relay, the port back in command mode). Posts CLEANED, with the
        module's diagnostics when a dial failed (pppd gone before IP up): read once the port is back
        in command mode, on the worker."""
        info, was_up, up_job = self.info, self.link_is_up, self.up_job
        self.link_is_up, self.up_job = False, None
        diagnose = self.sys.diagnose if self.state is State.DIALING and not was_up else None

        def body() -> dict[str, str] | None:
            if was_up:
                if up_job is not None and not up_job.join(UP_WAIT):
                    log.warning("%s: the link-up actions (DNS, on_up) still run after %g s; undoing anyway",
                                self.p.name, UP_WAIT)
                self._call("run the link-down actions (DNS, on_down)", lambda: self.sys.link_down(info))
            self._call("clean up after pppd", self.sys.after_pppd)
            return self._call("read the module's diagnostics", diagnose) if diagnose else None
        post = self.poster()
        self.cleanup = self._call("start the clean-up after pppd", lambda: self.sys.start_worker(
            "cleanup", body, lambda found: post(Ev.CLEANED, found)))
        if self.cleanup is None:  # no thread: do it here rather than not at all
            post(Ev.CLEANED, body())

    def _restore(self, why: str, then: Callable[[], None]) -> None:
        """Wait in RESTORING for the clean-up, then ``then`` (the policy's decision)."""
        self._start_cleanup()
        self._then = then
        self.switch(State.RESTORING, why, level=logging.DEBUG)

    def _restored(self, diagnostics: dict[str, str] | None) -> None:
        self.cleanup = None
        if diagnostics:  # the failed dial's, kept until the next failure's
            self.diagnostics = dict(diagnostics)
        then, self._then = self._then, None
        if then is not None:
            then()

    def _dial_stuck(self, _data: Any) -> None:
        log.warning("%s: pppd did not bring IP up in time; ending it", self.p.name)
        self.sys.stop_pppd(kill=False)

    def _connected(self, info: LinkInfo) -> None:
        self.info = info
        self._apn_worked()
        self.up_since = self.sys.clock()
        self.dead_reason = ""
        self.link_is_up = True
        self.meter, self.metering, self.metered_at = Meter(), True, self.up_since
        self.usage = self.usage.count(connections=1)  # in the status the switch publishes
        self.up_job = self._call("start the link-up actions", lambda: self.sys.start_worker(
            "link-up", lambda: self._call("run the link-up actions (DNS, on_up)", lambda: self.sys.link_up(info)),
            None))
        self.watch = self._call("start watching the link", lambda: self.sys.start_watch(self.poster(), info))
        self.switch(State.CONNECTED, f"IP up on {info.interface}: {info.local_ip} peer {info.remote_ip}",
                    timer=self.policy.stable_wait)
        self._save_usage()  # after the switch: the write does not delay "connected"

    def _stable(self, _data: Any) -> None:
        if self.ladder.failures or self.ladder.resets:
            self._event_line(logging.INFO, "stable", "%s: link stable for %g s: failure count and reset "
                             "ladder cleared", self.p.name, self.p.recovery.stable_after)
        self.policy.link_stable(self.ladder)
        self.last_error = self.error_class = ""
        self._save()
        self._status()

    def _save(self) -> None:
        self._call("save the recovery state", lambda: self.sys.save_ladder(self.ladder))

    def _link_dead(self, reason: str) -> None:
        """Carrier lost, or the probe says no packets pass: hang pppd up; its exit is the link-down.

        A hangup, not SIGTERM: LCP Terminate-Requests over a dead line only wait for
        timeouts before the redial can start.
        """
        self._event_line(logging.WARNING, "link dead", "%s: %s; hanging up pppd", self.p.name, reason)
        self.dead_reason = reason
        self.sys.hangup_pppd()

    def _ring(self, urcs: list[str] | None) -> None:
        if urcs:
            self._event_line(logging.INFO, "ring", "%s: the module reports %s", self.p.name, "; ".join(urcs))
        else:
            self._event_line(logging.INFO, "ring", "%s: RI pulse: the module has an SMS or a call to report",
                             self.p.name)
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
            self._event_line(logging.INFO, "radio", "%s: radio: %s", self.p.name, summary(self.radio))
        self._status()

    # ----- data usage ------------------------------------------------------------------------

    def _counted(self, **more: float) -> None:
        """A lifetime counter goes up (connections, failures, drops, resets): saved at once."""
        self.usage = self.usage.count(**more)
        self._save_usage()

    def _save_usage(self) -> None:
        usage = self.usage
        self._call("save the data usage", lambda: self.sys.save_usage(usage))

    def _traffic(self, counters: tuple[int, int]) -> None:
        """A reading of the interface's counters: counted, saved when bytes passed, the cap looked at."""
        if self.meter is None or not self.metering:
            return
        moved = self._metered(*counters)
        if moved:
            self._save_usage()
        self._status()

    def _metered(self, received: int, sent: int) -> bool:
        """Count what passed since the last reading (on today's date) and the time connected."""
        assert self.meter is not None
        d_rx, d_tx = self.meter.delta(received, sent)
        now = self.sys.clock()
        self.usage = self.usage.add(d_rx, d_tx, self.sys.wall()).count(
            connected_seconds=max(0.0, now - self.metered_at))
        self.metered_at = now
        self._check_cap()
        return bool(d_rx or d_tx)

    def _metered_end(self) -> None:
        """pppd has ended a link that was up: its last line has the link's final byte counts."""
        if self.meter is None or not self.metering:
            return
        rx, tx = self.info.received_bytes, self.info.sent_bytes
        self._metered(self.meter.received if rx is None else max(rx, self.meter.received),
                      self.meter.sent if tx is None else max(tx, self.meter.sent))
        self.metering = False
        self._save_usage()
        log.info("%s: the link carried %d bytes in, %d out in %.0f s; this month %d bytes", self.p.name,
                 self.meter.received, self.meter.sent, self.sys.clock() - (self.up_since or 0.0),
                 self.usage.month_bytes)

    def _check_cap(self) -> None:
        """network.data_cap: the warning and the cap are each told once a month (log, on_cap); at the
        cap with data_cap_action stop, pppd is ended (SIGTERM: LCP Terminate) and no dial follows."""
        news, self.usage = self.cap.news(self.usage)
        used = f"{self.usage.month_bytes} of {self.cap.limit} bytes in {self.usage.month}"
        if news == "warning":
            self._event_line(logging.WARNING, "cap", "%s: data cap: %s used (warning at %g %%)", self.p.name,
                             used, self.p.network.data_cap_warning)
        elif news == "reached":
            self._event_line(logging.WARNING, "cap", "%s: data cap reached: %s%s", self.p.name, used,
                             "; hanging up, no dialling until the month ends" if self.cap.stop else "")
        if news:
            usage = self.usage
            self._call("run on_cap", lambda: self.sys.cap_hook(news, usage))
            self._save_usage()
        if self.cap.stops(self.usage) and self.state is State.CONNECTED and self.pppd_running \
                and not self.capped:
            self.capped = True
            self.sys.stop_pppd(kill=False)

    def _wait_for_month(self) -> None:
        """The cap is reached and the profile says stop: wait for the next month (looked at again
        hourly: a board's clock may be set late), not counted as a failure."""
        wall = self.sys.wall()
        start = month_start_after(wall)
        self.capped, self.error_class = True, "data_cap"
        self.last_error = f"data cap reached ({self.usage.month_bytes} of {self.cap.limit} bytes in " \
                          f"{self.usage.month})"
        self.switch(State.WAITING, f"{self.last_error}; no dialling until {day_of(start)}",
                    timer=min(CAP_RECHECK, max(1.0, start - wall)))

    def _left_connected(self) -> None:
        """CONNECTED's on-exit action, whichever way the link ends: stop watching it."""
        watch, self.watch = self.watch, None
        if watch is not None:
            self._call("stop watching the link", watch.cancel)

    def _went_down(self) -> None:
        """The machine stops with the link still counted up (pppd abandoned, a crash): undo DNS and
        run on_down here, once; every other link-down does it in the clean-up worker."""
        if self.link_is_up:
            self.link_is_up = False
            self._call("run the link-down actions (DNS, on_down)", lambda: self.sys.link_down(self.info))

    def _link_down(self, code: int) -> None:
        self.pppd_running = False
        self._metered_end()
        if self.capped:
            self._restore("link down: the data cap is reached", self._wait_for_month)
            return
        message = self.dead_reason or describe_exit(code, self.info)
        self.last_error, self.error_class = message, "link_dead" if self.dead_reason else "link_down"
        self._counted(link_drops=1)
        decision = self.policy.link_down(self.ladder, self.sys.clock(), self.up_since or 0.0, message)
        self._restore(f"link down: {message}", lambda: self._decide(decision, message))

    def _decide(self, decision: Decision, cause: str = "") -> None:
        """Act on the policy; the log line says why the attempt failed, not only that it did."""
        now = self.sys.clock()
        if decision.action == "reset":  # counted and saved before it runs: a stop, crash or kill
            self.policy.reset_started(self.ladder, now)  # during it still paces the next run's
            self._counted(resets=1)
        self._save()
        why = f"{decision.reason} ({cause})" if cause else decision.reason
        if decision.action == "reset":
            self._call("run on_reset", self.sys.reset_hook)
            self.switch(State.RESETTING, why + (" (module not answering: no AT reset)" if self.skip_at else ""))
            self.job, self.job_kind = self.sys.start_reset(self.skip_at, self.poster()), "reset"
            return
        self.switch(State.WAITING, f"{why}; next attempt in {max(0.0, decision.at - now):.1f} s",
                    timer=max(0.0, decision.at - now))

    def _port_held(self, why: str) -> None:
        """Another program holds the port: the module is not to blame, and a reset would cut that
        program's link (a power cycle by the reset command). Tried again after growing pauses
        (the ladder's, from retry_wait up to max_retry_pause), with the ladder left as it is."""
        wait = self.policy.pause(self.port_waits)
        self.port_waits += 1
        self.switch(State.WAITING, f"the port is held by another program, which no module reset mends ({why}); "
                                   f"next attempt in {wait:.1f} s", timer=wait, level=logging.WARNING)

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
            self.error_class = "reset_failed"
        self._save()
        if failed:
            self._begin_preflight(f"{decision.reason} ({one_line(result.message)}); the next reset waits its "
                                  "full step all the same", level=logging.WARNING)
        else:
            self._begin_preflight(decision.reason)

    def _stop(self, why: str) -> None:
        self._then = None  # RESTORING's decision: the clean-up runs on, its join is at exit
        if self.job is not None:
            job = self.job
            self._call(f"cancel the {self.job_kind}", job.cancel)  # a cancelled job still reports once
        if self.state in self.ON_EXIT:  # the watchers first: a hangup of theirs must not cross the stop
            getattr(self, self.ON_EXIT[self.state])()
        self.killed = False
        if self.pppd_running:
            self.sys.stop_pppd(kill=False)  # SIGTERM: pppd sends LCP Terminate-Request
        self.switch(State.STOPPING, why or "stop requested", timer=TERMINATE_WAIT)
        self._maybe_stopped()

    def _stopping_pppd_gone(self, _code: int) -> None:
        self.pppd_running = False
        self._metered_end()
        self._start_cleanup()  # joined, bounded, when the loop has ended
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
        self.last_error, self.error_class = message, "stop_stuck"
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
        self._metered_end()
        self._went_down()
        self._save()
        self.switch(State.STOPPED, why)
