"""The pre-flight's registration step: the URCs, the polls, and the interventions short of a reset.

When each intervention is due is ``registration_plan``'s (pure, over a clock); here is the I/O.
"""

from __future__ import annotations

import logging
from typing import NoReturn

from bg_pppd.modem import at_replies as atparse
from bg_pppd.modem import radio
from bg_pppd.modem.at_channel import AtTimeout
from bg_pppd.modem.registration_plan import CFUN, COPS, GIVE_UP, WAIT, Done, RegistrationPlan
from bg_pppd.util.errors import NotRegistered, RegistrationDenied

log = logging.getLogger("bg_pppd")


class RegistrationSteps:
    """Preflight's registration step (a mixin: the pre-flight's channel, report and clock)."""

    def step_registration(self) -> str:
        """Registered the moment the module says so, in any domain (a BG600L on EGPRS answers
        ``+CGREG: 0,1`` while ``+CEREG: 0,4``).

        One poll first (a module that is registered already costs nothing more); then the
        registration URCs (``AT+CEREG=2``, ``AT+CGREG=2`` where EGPRS is allowed) end the wait
        the moment one says home or roaming, and a poll every ``poll_interval`` stays the
        fallback. A registration that does not come gets ``AT+COPS=0``, then the radio off/on,
        as ``registration_plan`` schedules them, before the attempt fails.

        The URC mode is left at 2, not restored: it only makes the module report (held back in
        data mode like every URC, read as URCs by the channel and by the radio monitor on an AT
        port), and turning it off again would be one more command between registered and ATD.
        """
        net = self.p.network
        at = self.at
        assert at is not None
        names = radio.registration_commands(self.p.network.technologies, self.model.has_gsm)
        plan = RegistrationPlan(net.reselect_wait, net.registration_timeout)
        began = self.clock()
        last: dict[str, atparse.Registration] = {}
        done: list[Done] = []
        polls, seen = 0, len(at.urcs)
        next_poll, urcs_on = began, False
        prefixes = tuple(f"{name}:" for name in names)

        def registration_urc(line: str) -> bool:
            return line.startswith(prefixes)

        while True:
            if self.clock() >= next_poll:
                polls += 1
                found = self._poll_registration(names, last)
                if found:
                    return self._registered(found, last[found], f"after {polls} poll(s)", done)
                next_poll = self.clock() + net.poll_interval
                if not urcs_on:
                    urcs_on = True
                    for name in names:
                        self.cmd(f"AT{name}=2")  # refused: the polls still see it
                    next_poll = self.clock()  # a change before the URCs were on: seen by a poll now
                    continue
            if len(at.urcs) < seen:
                seen = 0  # the queue was taken meanwhile
            found, seen = self._registration_urcs(names, last, at.urcs[seen:]), len(at.urcs)
            if found:
                return self._registered(found, last[found], f"from its URC after {polls} poll(s)", done)
            elapsed = self.clock() - began
            states = ", ".join(f"{n[1:]} {r.word}" for n, r in last.items()) or "no answer"
            step = plan.next(elapsed, states, done)
            if step.action == GIVE_UP:
                self._not_registered(last, done, elapsed)
            if step.action != WAIT:
                done.append(Done(step.action, elapsed, step.why))
                self._intervene(done[-1])
                next_poll = self.clock()  # where the module stands after it
                continue
            at.wait_urc(registration_urc, max(0.0, min(next_poll, began + step.at) - self.clock()))

    def _poll_registration(self, names: list[str], last: dict[str, atparse.Registration]) -> str | None:
        """Ask each domain; the first that says registered, else None (``last`` keeps each answer)."""
        for name in names:
            r = self.cmd(f"AT{name}?", f"{name}:")
            reg = atparse.parse_reg(r.first(f"{name}:") or "", name) if r.ok else None
            if reg is not None:
                last[name] = reg
                if reg.registered:
                    return name
        return None

    def _registration_urcs(self, names: list[str], last: dict[str, atparse.Registration],
                           urcs: list[str]) -> str | None:
        """The registration URCs among ``urcs`` (``+CEREG: <stat>[,<tac>,<ci>,<AcT>]``), in order:
        the domain of the first that says registered, else None."""
        for line in urcs:
            for name in names:
                reg = atparse.parse_reg(line, name) if line.startswith(f"{name}:") else None
                if reg is not None:
                    last[name] = reg
                    if reg.registered:
                        return name
        return None

    def _registered(self, name: str, reg: atparse.Registration, how: str, done: list[Done]) -> str:
        self.report.registration = reg.word
        # mode 2's <AcT> names the technology for free: no query between registered and ATD
        self.report.access_technology = atparse.technology_of_act(reg.act) or self.report.access_technology
        after = f", after {' and '.join(d.action for d in done)}" if done else ""
        return f"{reg.text} via {name[1:]} {how}{after}"

    def _intervene(self, what: Done) -> None:
        """One intervention short of a reset, logged and kept in the report (status shows it)."""
        net = self.p.network
        self.report.interventions.append(what.record())
        if what.action == COPS:
            log.info("%s: registration %s: AT+COPS=0 (automatic network selection), then the scan "
                     "settings again", self.p.name, what.why)
            # the module may answer only once the network has: give it the time until the next stage
            wait = min(180.0, max(self.p.recovery.at_timeout, net.registration_timeout - what.after))
            try:
                r = self.cmd("AT+COPS=0", timeout=wait)
                if not r.ok:
                    log.warning("%s: AT+COPS=0 answered %s: going on", self.p.name, r.final)
            except AtTimeout as exc:  # the channel resynchronises at the next command
                log.warning("%s: %s: going on", self.p.name, exc)
            self.step_radio()  # AT+COPS=0 resets nwscanmode on some firmware
            return
        log.info("%s: registration %s: radio off and on (AT+CFUN=0, AT+CFUN=1), not a reset",
                 self.p.name, what.why)
        off = self.cmd("AT+CFUN=0")  # the channel's at_timeout: ~0.3 s is usual, 15 s allowed
        if not off.ok:
            log.warning("%s: AT+CFUN=0 answered %s: going on", self.p.name, off.final)
            return
        on = self.cmd("AT+CFUN=1")
        if not on.ok:
            self.report.registration = atparse.NOT_REGISTERED
            raise NotRegistered(f"the module refused AT+CFUN=1 ({on.final}) after AT+CFUN=0: its radio "
                                "may be off until a reset")
        # AT+CFUN=0 powers the SIM down too: a SIM with its PIN enabled asks for it again, and the
        # search waits for it (the same PIN the SIM took minutes ago: step_sim's rules still hold)
        self.step_sim()

    def _not_registered(self, last: dict[str, atparse.Registration], done: list[Done], elapsed: float) -> NoReturn:
        """The attempt fails: a denial stays a denial, and the message says what was tried."""
        names = {COPS: "AT+COPS=0", CFUN: "the radio off/on"}
        tried = " and ".join(f"{names.get(d.action, d.action)} at {round(d.after, 1):g} s" for d in done)
        if any(reg.denied for reg in last.values()):
            self.report.registration = atparse.DENIED
            raise RegistrationDenied(f"the network denied registration (stat 3), also after {tried}: "
                                     "check the SIM's subscription and the allowed technologies")
        states = ", ".join(f"{n[1:]} {r.text}" for n, r in last.items()) or "no answer"
        self.report.registration = atparse.NOT_REGISTERED
        raise NotRegistered(f"not registered after {elapsed:.0f} s ({states}; {tried} did not help)")
