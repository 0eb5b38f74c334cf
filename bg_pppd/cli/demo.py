"""``bg-pppd demo``: the virtual module and the real pre-flight, dial and link, shown live.

A new user sees bg-pppd work without a module, a profile or a second shell. Everything runs
in one temporary directory (the profile, the run and state dirs, the module's pty link and
log), which goes, with every process the demo started, on exit, Ctrl-C or SIGTERM. How far
it goes is what the machine allows: as root with kernel PPP the whole way (``up``, IP,
ping, ``status``, ``down``); otherwise the pre-flight and the dial up to CONNECT.
"""

from __future__ import annotations

import os
import shutil
import signal
import sys
import tempfile
from collections.abc import Callable

from bg_pppd.cli.demo_dial import Clock, dial, preflight, report_text
from bg_pppd.cli.demo_lab import LabUnavailable, run_in_lab
from bg_pppd.cli.demo_link import Daemon, connected, ping, status_text
from bg_pppd.cli.demo_module import ModuleFailed, VirtualModule, scenario_for
from bg_pppd.cli.demo_setup import PROFILE_NAME, Builtin, Waits, profile_text, why_no_link
from bg_pppd.util.errors import EXIT_FAILURE, EXIT_INTERRUPTED, EXIT_OK, EXIT_PPPD_UNUSABLE, printable

CONNECT_TIMEOUT = 60.0  # seconds for up to bring IP up (a hang and its reset take about 15)


class Interrupted(Exception):
    """SIGINT or SIGTERM: the demo ends, cleaning up."""


def _interrupt(signum: int, _frame: object) -> None:
    raise Interrupted(signal.Signals(signum).name)


class Demo:
    def __init__(self, scenario: str, write: Callable[[str], None], lab: bool = False):
        self.scenario_name = scenario
        self.lab = lab
        self.clock = Clock(write)
        self.say = self.clock.say
        self.dir = tempfile.mkdtemp(prefix="bg-pppd-demo.")
        self.run_dir = os.path.join(self.dir, "run")
        self.state_dir = os.path.join(self.dir, "state")
        self.profile_path = os.path.join(self.dir, f"{PROFILE_NAME}.yaml")
        self.module: VirtualModule | None = None
        self.daemon: Daemon | None = None

    def run(self) -> int:
        scenario, builtin = scenario_for(self.scenario_name)
        missing = why_no_link()
        if self.lab and missing:
            return run_in_lab(self.dir, self.scenario_name, self.clock)
        if self.lab:
            self.say("--lab: this machine has kernel PPP and runs the demo as root: no lab needed")
        self.module = VirtualModule(self.dir, scenario, with_link=not missing)
        device = self.module.start()
        boot = f"boots in {self.module.boot_time:g} s, like the module" if self.module.boot_time else "already on"
        self.say(f"virtual BG95 started on {self.module.link} -> {device} ({boot})")
        if builtin and self.scenario_name != "normal":
            self.say(f"scenario {self.scenario_name}: {builtin.about}")
        if not missing:
            where = "in a network namespace of its own" if self.module.isolated else "in this network namespace"
            self.say(f"network side: a pppd {where}, peer 10.64.64.1, giving out 10.64.64.2")
        profile = self._profile(builtin.waits if builtin else Waits())
        self.say(f"pre-flight (bg-pppd check {self.profile_path})")
        report, code = preflight(profile, self.state_dir, self.say)
        if code:
            self.say(printable(f"pre-flight failed (exit {code}): {report.error}"))
            return code
        self.clock.block(report_text(profile, self.state_dir, report))
        if missing:
            return self._as_far_as_connect(profile, builtin, missing)
        return self._whole_way(builtin)

    def _profile(self, waits: Waits):
        from bg_pppd.profile import model

        with open(os.open(self.profile_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w") as f:
            f.write(profile_text(self.dir, waits))
        return model.load(self.profile_path)

    def _up(self) -> Daemon:
        self.daemon = Daemon(self.profile_path, PROFILE_NAME, self.run_dir, self.state_dir, self.clock)
        self.say(f"$ bg-pppd up {self.profile_path}   (its log follows)")
        self.daemon.start()
        return self.daemon

    def _inject(self, fault: str) -> None:
        self.say({"hang": "fault: the module stops answering (until a reset)",
                  "drop": "fault: the network drops the call"}[fault])
        self.module.control(fault)

    def _whole_way(self, builtin: Builtin | None) -> int:
        fault = builtin.fault if builtin else ""
        if fault == "hang":
            self._inject("hang")
        daemon = self._up()
        st = daemon.wait_for(connected(), CONNECT_TIMEOUT)
        if st is None:
            return self._up_failed(daemon)
        self.say(f"IP up: {st['interface']} {st['local_ip']}, peer {st['remote_ip']}")
        if not ping(st, self.clock):
            self.say("ping: no reply across the link")
            daemon.stop()
            return EXIT_FAILURE
        if fault == "drop":
            self._inject("drop")
            st = daemon.wait_for(connected(st["pppd_pid"]), CONNECT_TIMEOUT)
            if st is None:
                return self._up_failed(daemon)
            self.say(f"IP up again: {st['interface']} {st['local_ip']}, peer {st['remote_ip']} (redialled)")
            if not ping(st, self.clock):
                daemon.stop()
                return EXIT_FAILURE
        self.say(f"$ bg-pppd status {PROFILE_NAME}")
        self.clock.block(status_text(PROFILE_NAME, self.run_dir))
        self.say(f"$ bg-pppd down {PROFILE_NAME}")
        code = daemon.down()
        if code:
            self.say(f"up exited {code} after down")
            return code
        self.say("done: the link came up, carried a ping and went down cleanly")
        return EXIT_OK

    def _up_failed(self, daemon: Daemon) -> int:
        st = daemon.status()
        code = daemon.exit_code(0.5)
        if code is None:
            self.say(f"no IP within {CONNECT_TIMEOUT:g} s (state {st['state'] if st else '?'}): stopping up")
            daemon.stop()
            return EXIT_FAILURE
        self.say(printable(f"up exited {code}: {st['last_error'] if st else ''}"))
        return code or EXIT_FAILURE

    def _as_far_as_connect(self, profile, builtin: Builtin | None, missing: str) -> int:
        fault = builtin.fault if builtin else ""
        if fault == "hang":  # the recovery ladder is up's: shown up to where pppd cannot start here
            self._inject("hang")
            daemon = self._up()
            code = daemon.exit_code(CONNECT_TIMEOUT)
            if code is None:
                daemon.stop()
            if code != EXIT_PPPD_UNUSABLE:
                self.say(f"up exited {code} (expected {EXIT_PPPD_UNUSABLE} here: pppd cannot run)")
                return code or EXIT_FAILURE
            self.say(f"up recovered the module, then stopped with exit {code}: pppd cannot run here")
        drop = (lambda: self._inject("drop")) if fault == "drop" else None
        if not dial(profile, self.say, drop):
            return EXIT_FAILURE
        self.say(f"stopping at CONNECT: {missing}; on a board, pppd takes over after CONNECT (LCP, IPCP) "
                 "and brings ppp0 up with the network's address (here 10.64.64.2, peer 10.64.64.1)")
        return EXIT_OK

    def close(self) -> None:
        """Every process the demo started, then its directory; whatever happened before."""
        try:
            if self.daemon is not None:
                self.daemon.stop()
        finally:
            try:
                if self.module is not None:
                    self.module.stop()
            finally:
                shutil.rmtree(self.dir, ignore_errors=True)


def run(scenario: str, lab: bool = False) -> int:
    """The demo (``lab``: inside User-Mode Linux where this kernel has no PPP); 0 when it went
    as far as the machine allows."""
    out = sys.stdout  # this one, even while status and down print into a buffer (on our thread)

    def write(line: str) -> None:
        out.write(line + "\n")
        out.flush()
    handlers = {sig: signal.signal(sig, _interrupt) for sig in (signal.SIGINT, signal.SIGTERM)}
    demo = None
    try:
        demo = Demo(scenario, write, lab)
        return demo.run()
    except Interrupted as why:
        if demo is not None:
            demo.say(f"{why}: ending the demo")
        return EXIT_INTERRUPTED
    except (ModuleFailed, LabUnavailable) as exc:
        print(printable(f"bg-pppd demo: {exc}"), file=sys.stderr)
        return exc.exit_code
    finally:
        for sig in handlers:  # the clean-up itself is not cut short by a second Ctrl-C
            signal.signal(sig, signal.SIG_IGN)
        if demo is not None:
            demo.close()
        for sig, handler in handlers.items():
            signal.signal(sig, handler)
