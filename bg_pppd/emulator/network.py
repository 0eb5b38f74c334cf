"""The radio side of the virtual module: functionality (``AT+CFUN``), scan configuration,
and registration over the scenario's timeline, with the ``+CEREG``/``+CGREG``/``+CREG`` URCs.

Registration is a function of time since the last network search began (boot with the SIM
ready, the PIN entered, ``AT+CFUN=1``, a scan configuration written, ``AT+COPS=0``), so any
moment's state can be asked without stepping through it. A scenario's ``stuck_until`` holds
the module at ``stuck_stat`` (searching, or denied) whatever the time, until the intervention
it names (``AT+COPS=0``, or the radio off and on); the timeline then starts from that moment.
"""

from __future__ import annotations

from collections.abc import Callable

from bg_pppd.emulator.scenario import Scenario

ACT = {"catm1": 8, "nbiot": 9, "gsm": 3}
SYSMODE = {"catm1": "eMTC", "nbiot": "NBIoT", "gsm": "GSM"}
NWINFO = {"catm1": "CAT-M1", "nbiot": "CAT-NB1", "gsm": "EGPRS"}
REGISTRATIONS = ("+CEREG", "+CGREG", "+CREG")


class Network:
    """Registration state and its URCs. ``can_search`` says whether the SIM lets the module
    search (ready); ``powered`` whether it is on at all; ``later`` runs after a delay unless the
    module lost power meanwhile; ``urc`` sends an unsolicited line."""

    def __init__(self, scenario: Scenario, clock: Callable[[], float],
                 later: Callable[[float, Callable[[], None]], None], urc: Callable[[str], None],
                 can_search: Callable[[], bool], powered: Callable[[], bool]):
        self.sc, self.clock, self.later, self.urc = scenario, clock, later, urc
        self.can_search, self.powered = can_search, powered
        self.qcfg = {"iotopmode": scenario.iotopmode, "nwscanseq": scenario.nwscanseq,
                     "nwscanmode": scenario.nwscanmode}  # in NV: kept over a reboot
        # held at stuck_stat until the intervention stuck_until names (not cleared by a reboot:
        # what the scenario says only that intervention mends)
        self.stuck = scenario.stuck_until != "none"
        self.reset()

    def reset(self) -> None:
        """Power on or loss: full functionality, no search yet, URCs off."""
        self.cfun = 1
        self.reg_n = dict.fromkeys(REGISTRATIONS, 0)
        self.reg_reported: dict[str, int] = {}
        self.attach_at: float | None = None

    def attach(self, at: float | None = None) -> None:
        """(Re)start the network search; each registration change may raise a URC."""
        if self.cfun != 1 or not self.can_search():
            self.attach_at = None
            return
        self.attach_at = self.clock() if at is None else at
        for t in sorted({0.0, *(t for t, _stat in self.sc.registration_timeline())}):
            delay = self.attach_at + t - self.clock()
            self.later(max(0.0, delay) + 0.001, self._report)

    def set_cfun(self, fun: int) -> None:
        """``AT+CFUN=<fun>``: 1 starts a search; off (0, 4) and on again also ends a stuck search."""
        was, self.cfun = self.cfun, fun
        if fun == 1 and was in (0, 4):
            self.stuck = False
        self.attach()

    def reselect(self) -> str:
        """``AT+COPS=0`` (automatic selection): a module not registered searches again from now;
        firmware that does so resets nwscanmode to its default (0, automatic). Returns what
        happened, for the emulator's log."""
        done, registered = [], self.registered()
        if self._cops_resets_scanmode() and self.qcfg.get("nwscanmode") != 0:
            done.append(f"nwscanmode {self.qcfg['nwscanmode']}->0")
            self.qcfg["nwscanmode"] = 0
        if self.stuck and self.sc.stuck_until == "cops":
            self.stuck = False
            done.append("no longer stuck")
        if not registered:
            self.attach()
            done.append("search restarted")
        return ", ".join(done) or "registered: nothing changes"

    def _cops_resets_scanmode(self) -> bool:
        """The scenario's cops_resets_scanmode; unset: the BG95 family does, where it was seen
        (Particle PR 2112), and the others keep nwscanmode."""
        says = self.sc.cops_resets_scanmode
        return self.sc.model.upper().startswith("BG95") if says is None else says

    def _rat_allowed(self) -> bool:
        mode, scan = int(self.qcfg["iotopmode"]), int(self.qcfg["nwscanmode"])
        if self.sc.rat == "gsm":
            return scan != 3
        return scan != 1 and mode in ((0, 2) if self.sc.rat == "catm1" else (1, 2))

    def stat(self) -> int:
        """The 3GPP registration status now: 0 not searching, 1 home, 2 searching, 3 denied, 5 roaming."""
        if not self.powered() or self.attach_at is None or self.cfun != 1 or not self.can_search():
            return 0
        elapsed = self.clock() - self.attach_at
        if elapsed < 0:
            return 0
        if self.stuck:
            return self.sc.stuck_stat
        stat = 0
        for t, s in self.sc.registration_timeline():
            if elapsed >= t:
                stat = s
        if not self._rat_allowed() and stat in (1, 5):
            return 2  # the network's RAT is not in the scan: searching for ever
        return stat

    def registered(self) -> bool:
        return self.stat() in (1, 5)

    def reg_stat(self, name: str) -> int:
        """What ``name`` reports: LTE registers on +CEREG, GSM on +CGREG; +CREG shows either."""
        stat = self.stat()
        lte = self.sc.rat != "gsm"
        if (name == "+CEREG" and not lte) or (name == "+CGREG" and lte):
            if name == "+CEREG" and stat in (1, 5) and self.sc.model.upper().startswith("BG600L"):
                return 4  # a BG600L-M3 on EGPRS: +CGREG 1 while +CEREG 4 (field notes)
            return 2 if stat == 2 else 0
        return stat

    def reg_fields(self, name: str, stat: int, n: int) -> str:
        text = f"{stat}"
        if n >= 2 and stat in (1, 5):
            act = ACT[self.sc.rat] if name != "+CGREG" else 3
            text += f',"1A2B","01A2D001",{act}'
        return text

    def set_reporting(self, name: str, n: int) -> None:
        """``AT+CEREG=n``: URCs from now on report changes from the state as it is now."""
        self.reg_n[name] = n
        self.reg_reported[name] = self.reg_stat(name)

    def _report(self) -> None:
        for name, n in self.reg_n.items():
            stat = self.reg_stat(name)
            if n and self.reg_reported.get(name) != stat:
                self.reg_reported[name] = stat
                self.urc(f"{name}: {self.reg_fields(name, stat, n)}")
