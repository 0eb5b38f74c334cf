"""The daemon's workers: every thread it starts is a util.worker.Worker, started here or by the
link-layer watcher it belongs to (probe, monitor, DCD/RI watch, relay, hooks).

Here: the pre-flight and the reset (their results posted once, on the attempt's ``post``),
a generic job for slow effects (the link-up actions, the clean-up after pppd), and which
watchers run for a profile, decided in one place.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from typing import Any

from bg_pppd.daemon.mux_session import MuxSession
from bg_pppd.daemon.run_dir import RunDir
from bg_pppd.daemon.supervisor import Ev, Failure, Post, failure_of
from bg_pppd.modem.multiplexer import MuxUnavailable
from bg_pppd.modem.preflight import Preflight
from bg_pppd.modem.reset import Resetter
from bg_pppd.profile.model import Profile
from bg_pppd.util.cancel import Cancellable
from bg_pppd.util.worker import Worker

log = logging.getLogger("bg_pppd")

CANCELLED = Failure("cancelled")


def watchers(profile: Profile, has_relay: bool) -> frozenset[str]:
    """Which watchers run while connected: 'carrier' (DCD/RI, but on a mux channel), 'radio monitor' (the
    separate AT port), 'escape monitor' (+++ rounds on the relayed main UART), 'probe'.

    The radio monitor runs on every separate AT port, also with monitor.interval 0 (then it
    queries nothing and only reads URCs): a network-side end of the PDP context is told there
    and nowhere else (LCP echo never notices: the module answers it)."""
    # the mux's channels (a cmux profile with a data port is only ever daemon/mux_session.py's view)
    # have no line changes to wait for (no TIOCMIWAIT); their URCs are the AT channel's
    channels = profile.modem.multiplex == "cmux" and profile.modem.separate_at_port
    found = set() if channels else {"carrier"}
    if profile.modem.separate_at_port:
        found.add("radio monitor")
    elif has_relay:
        found.add("escape monitor")
    if profile.probe.target:
        found.add("probe")
    return frozenset(found)


def job(name: str, body: Callable[[], Any], done: Callable[[Any], None] | None) -> Worker:
    """Slow work off the supervisor's thread; ``done`` gets its result once (not after cancel)."""
    def failed(exc: Exception) -> None:
        log.error("%s crashed", name, exc_info=exc)  # still reported: what waits for it goes on
    return Worker(name, lambda _w: body(), done, on_error=failed)


def preflight(profile: Profile, run: RunDir, state_dir: str, post: Post,
              choose_apn: Callable[[str | None], str] | None = None, maybe_in_call: bool = False,
              synced: Callable[[], None] | None = None, mux: MuxSession | None = None,
              multiplexed: Callable[[Profile], None] | None = None) -> Worker:
    """The pre-flight; PREFLIGHT_OK with its report or PREFLIGHT_FAILED with a Failure, once.
    ``choose_apn``: the APN to set given the SIM's ICCID (the supervisor's APN rotation).
    ``maybe_in_call``: a call of ours may still be up (see RealSystem.maybe_in_call): the sync
    tries the data-mode escapes at once; ``synced`` is told when the module answered AT.
    ``mux`` (modem.multiplex: cmux): the kernel checked once a run, a mux left open closed
    before the pre-flight, the mux brought up after it (the attempt's last step, so a stop or a
    failure ends it like the others); ``multiplexed`` gets the profile the link then runs on."""
    made: list[Preflight] = []  # the failure carries what the pre-flight learnt (diagnostics...)

    def body(worker: Worker) -> tuple[Ev, Any]:
        cancellable = Cancellable(worker.cancelled)
        if mux is not None:
            mux.close()  # an attempt that never started pppd left it open: it holds the raw UART
            mux.reclaim_port()  # a killed run's n_gsm still on the raw UART
            mux.check_kernel()

        def step(name: str, status: str, elapsed: float) -> None:
            if status:
                log.info("%s: pre-flight %s: %s", profile.name, name, status)
            if name == "sync" and status and status != "failed" and synced is not None:
                synced()
        pre = Preflight(profile, state_dir=state_dir, on_step=step, clock=cancellable.clock,
                        sleep=cancellable.sleep, choose_apn=choose_apn, for_dial=True,
                        maybe_in_call=maybe_in_call)
        made.append(pre)
        run.lock_current(profile.modem.port)  # what the port leads to now: nobody else's
        report = pre.run()
        if mux is not None and mux.wanted:
            link = mux.open(cancellable.clock, cancellable.sleep, worker.cancelled)
            if multiplexed is not None:
                multiplexed(link)
        return Ev.PREFLIGHT_OK, report

    def failed(exc: Exception) -> tuple[Ev, Any]:
        if isinstance(exc, MuxUnavailable):  # the host, not the module: no retry mends it
            return Ev.PREFLIGHT_FAILED, Failure(str(exc), exc.exit_code, permanent=True)
        failure = failure_of(exc, "pre-flight")
        if failure.message.startswith("pre-flight error"):  # not one of ours: a bug, with its traceback
            log.error("%s: pre-flight crashed", profile.name, exc_info=exc)
        if made:
            failure = dataclasses.replace(failure, report=made[0].report)
        return Ev.PREFLIGHT_FAILED, failure
    # a cancelled pre-flight still says so once: the stop waits for that
    return Worker("preflight", body, lambda result: post(*result), on_cancel=(Ev.PREFLIGHT_FAILED, CANCELLED),
                  on_error=failed)


def reset(profile: Profile, run: RunDir, skip_at: bool, post: Post, mux: MuxSession | None = None) -> Worker:
    """The module reset; RESET_DONE with the method, or with a Failure, once. A mux still up
    (``mux``) is closed first: the reset talks AT on the raw UART."""
    def body(worker: Worker) -> str:
        if mux is not None:
            mux.close()
            mux.reclaim_port()
        run.lock_current(profile.modem.port)  # never another profile's module
        method = Resetter(profile, worker.cancelled).run(skip_at)
        log.info("%s: module reset by %s; it answers again", profile.name, method)
        return method

    def failed(exc: Exception) -> Failure:
        failure = failure_of(exc, "reset")
        return failure if failure.message == "cancelled" else Failure(str(exc))
    return Worker("reset", body, lambda result: post(Ev.RESET_DONE, result), on_cancel=CANCELLED, on_error=failed)
