"""The pre-flight's radio step: scan settings, bands and PSM/eDRX, in the module's flash.

Each is written only when the module reports otherwise (writing flash on every boot made a
BG95-M5 drop its registration), and a setting this firmware lacks (``AT+QCFG=?``) is skipped
with a note.
"""

from __future__ import annotations

import logging

from bg_pppd.modem import at_replies as atparse
from bg_pppd.modem import radio_settings
from bg_pppd.util.errors import NotResponding

log = logging.getLogger("bg_pppd")

SCAN_CODES = {"catm1": "02", "nbiot": "03", "egprs": "01"}
URC_PORT = "cmux/urcport"

class RadioSteps:
    """Preflight's radio step (a mixin), also run again after ``AT+COPS=0``."""

    def desired_radio(self) -> dict[str, str]:
        techs = list(self.p.network.technologies)
        want: dict[str, str] = {}
        if self.p.modem.multiplex == "cmux":
            want[URC_PORT] = "1"  # the mux's URCs on its AT channel (DLC 1), none on PPP's
        if not techs:
            return want
        lte = [t for t in techs if t != "egprs"]
        if lte:
            want["iotopmode"] = "2" if len(lte) == 2 else ("0" if lte == ["catm1"] else "1")
        want["nwscanseq"] = "".join(SCAN_CODES[t] for t in techs)
        if self.model.has_gsm:
            want["nwscanmode"] = "0" if "egprs" in techs and lte else ("1" if "egprs" in techs else "3")
        return want

    # the settings AT+QCFG=? listed (lower case); None: not asked yet, or the module lists none
    _qcfg_listed: set[str] | None = None
    _qcfg_asked = False

    def _qcfg_has(self, key: str) -> bool:
        """Whether this firmware has ``AT+QCFG="<key>"``: what ``AT+QCFG=?`` lists (asked once per
        module), or where it answers no list, the quirks table's word for nwscanmode."""
        if not self._qcfg_asked:
            self._qcfg_asked = True
            r = self.cmd("AT+QCFG=?", "+QCFG:")
            self._qcfg_listed = atparse.parse_qcfg_list(r.info) if r.ok else None
        if self._qcfg_listed:
            return key.lower() in self._qcfg_listed
        return self.model.has_nwscanmode if key == "nwscanmode" else True

    def apply_radio(self) -> str:
        """Scan settings, bands and PSM/eDRX, each written only when the module reports otherwise
        (they live in its flash); a setting this firmware lacks is skipped with a note. Called by
        the radio step, and again after ``AT+COPS=0``, which resets nwscanmode on some firmware.
        """
        done: list[str] = []
        notes: list[str] = []
        checked = False
        if "egprs" in self.p.network.technologies and not self.model.has_gsm:
            notes.append(f"{self.model.name} has no EGPRS")
        for key, value in self.desired_radio().items():
            if not self._qcfg_has(key):
                notes.append(f"no {key} on this firmware: not set")
                continue
            r = self.cmd(f'AT+QCFG="{key}"', "+QCFG:")
            current = atparse.parse_qcfg(r.first("+QCFG:") or "", key) if r.ok else None
            if current is None:
                notes.append(f"{key} not readable ({r.final if not r.ok else 'no value'}): not set")
                continue
            checked = True
            if current.startswith(value) if key == "nwscanseq" else current == value:
                continue
            effect = "" if key == URC_PORT else ",1"  # <effect>: the scan settings' "at once"
            if not self.cmd(f'AT+QCFG="{key}",{value}{effect}').ok:
                raise NotResponding(f'the module refused AT+QCFG="{key}",{value}')
            done.append(f"{key} {current}->{value}")
        if self.p.network.bands:
            checked = self._apply_bands(done, notes) or checked
        if self.p.network.psm == "off":
            checked = self._psm_off(done, notes) or checked
        for note in notes:
            log.info("%s: radio: %s", self.p.name, note)
        text = ", ".join(done) or ("already set" if checked else "left as is")
        return "; ".join([text, *notes])

    def _apply_bands(self, done: list[str], notes: list[str]) -> bool:
        """network.bands through AT+QCFG="band" (masks: LTE band n = bit n-1; GSM 900/1800/850/1900
        = 1/2/4/8); technologies the profile leaves out keep the module's masks."""
        if not self._qcfg_has("band"):
            notes.append("no band setting on this firmware: bands not set")
            return False
        r = self.cmd('AT+QCFG="band"', "+QCFG:")
        current = atparse.parse_qcfg_band(r.first("+QCFG:") or "") if r.ok else None
        if current is None:
            notes.append(f"bands not readable ({r.final if not r.ok else r.first('+QCFG:')}): not set")
            return False
        write = radio_settings.band_write(current, self.p.network.bands)
        if write is None:
            return True
        command, changes = write
        w = self.cmd(command)
        if not w.ok:
            notes.append(f"the module refused {command} ({w.final}): check network.bands against "
                         f"the bands the {self.model.name or 'module'} has; bands left as they were")
            log.warning("%s: %s", self.p.name, notes[-1])
            return True
        done.extend(changes)
        return True

    def _psm_off(self, done: list[str], notes: list[str]) -> bool:
        """network.psm off: PSM and eDRX switched off (an always-on link does not sleep), each only
        when the module reports it on."""
        checked = False
        r = self.cmd("AT+CPSMS?", "+CPSMS:")
        on = radio_settings.psm_on(r.info) if r.ok else None
        if on is None:
            notes.append(f"no PSM setting (AT+CPSMS?: {r.final if not r.ok else 'no mode'})")
        else:
            checked = True
            if on:
                w = self.cmd("AT+CPSMS=0")
                if w.ok:
                    done.append("PSM on->off")
                else:
                    notes.append(f"the module refused AT+CPSMS=0 ({w.final}): PSM stays on")
                    log.warning("%s: %s", self.p.name, notes[-1])
        r = self.cmd("AT+CEDRXS?", "+CEDRXS:")
        if not r.ok:
            notes.append(f"no eDRX setting (AT+CEDRXS?: {r.final})")
            return checked
        acts = radio_settings.edrx_on(r.info)
        if acts:
            w = self.cmd("AT+CEDRXS=0")
            if w.ok:
                done.append(f"eDRX on (AcT {','.join(map(str, acts))})->off")
            else:
                notes.append(f"the module refused AT+CEDRXS=0 ({w.final}): eDRX stays on")
                log.warning("%s: %s", self.p.name, notes[-1])
        return True

    def step_radio(self) -> str:
        """Scan settings, bands and PSM/eDRX live in the module's flash: written only when they differ."""
        return self.apply_radio()
