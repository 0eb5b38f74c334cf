"""What each model of the family answers when the scenario does not say: its firmware id, the
settings ``AT+QCFG=?`` lists, its band masks, PSM/eDRX at delivery and its technology names.

Forms from real modules (field-notes.md, bg95-at-reference.md): a BG95-M3's ``AT+QCFG=?``
(cwd outputs, a BG95 driver's notes), a BG96's (its AT manual's listing in a driver's
docs). Values no source confirmed are marked [?]; the scenario can set each of them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from bg_pppd.emulator.network import NWINFO, SYSMODE

if TYPE_CHECKING:
    from bg_pppd.emulator.scenario import Scenario

# the test form of each setting (AT+QCFG=? lists `+QCFG: "<name>",<form>`); band's is made from the masks
FORMS = {
    "nwscanmode": "(0,1,3),(0,1)",
    "servicedomain": "(1,2),(0,1)",
    "nwscanseq": "(00-010203),(0,1)",
    "band": "",
    "bandrestore": "",
    "iotopmode": "(0-2),(0,1)",
    "celevel": "(0-2)",
    "roamservice": "(1,2,255),(0,1)",
    "ledmode": "(0,1,3)",
    "psm/enter": "(0,1)",
    "psm/urc": "(0,1)",
    "urc/delay": "(0,1)",
    "apready": "(0,1),(0,1),(100-3000)",
    "cmux/urcport": "(0-4)",
}
BG95 = ("nwscanmode", "servicedomain", "nwscanseq", "band", "bandrestore", "iotopmode", "celevel",
        "ledmode", "psm/enter", "psm/urc", "urc/delay", "cmux/urcport", "apready")
NO_GSM = tuple(s for s in BG95 if s != "nwscanmode")  # Cat-M1/NB-IoT only: no scan mode to choose
BG96 = ("nwscanmode", "nwscanseq", "servicedomain", "roamservice", "band", "celevel", "iotopmode",
        "ledmode", "psm/urc", "urc/delay", "apready")

# every band the model has, as AT+QCFG="band" reports them: GSM, eMTC, NB-IoT masks
BG95_M3_BANDS = (0xF, 0x100002000000000F0E189F, 0x10004200000000090E189F)
NO_GSM_BANDS = (0x0, 0x100002000000000F0E189F, 0x10004200000000090E189F)  # a BG77's answer
BG96_BANDS = (0xF, 0x400A0E189F, 0xA0E189F)  # [?] the BG96 manual's "any band" values

# model prefix -> (settings, bands, PSM at delivery, AcTs with eDRX at delivery); first match wins
MODELS: tuple[tuple[str, tuple[str, ...], tuple[int, int, int], bool, tuple[int, ...]], ...] = (
    ("BG77", NO_GSM, NO_GSM_BANDS, True, (4,)),  # [?] a low-power part delivered with PSM and eDRX on
    ("BG95-M1", NO_GSM, NO_GSM_BANDS, False, ()),
    ("BG95-M2", NO_GSM, NO_GSM_BANDS, False, ()),
    ("BG96", BG96, BG96_BANDS, False, ()),
    ("", BG95, BG95_M3_BANDS, False, ()),
)

# technology names, +QCSQ's sysmode and +QNWINFO's <Act> by the scenario's rat: the BG96's where
# they differ from the BG95's (network.SYSMODE, network.NWINFO) [FreeRTOS-Cellular-Interface PR 25]
SYSMODE_BG96 = {"catm1": "CAT-M1", "nbiot": "CAT-NB1", "gsm": "GSM"}
NWINFO_BG96 = {"catm1": "CAT-M1", "nbiot": "CAT-NB1", "gsm": "GPRS"}


def _model(sc: Scenario) -> tuple[str, tuple[str, ...], tuple[int, int, int], bool, tuple[int, ...]]:
    name = sc.model.upper()
    return next(row for row in MODELS if name.startswith(row[0]))


def firmware(sc: Scenario) -> str:
    """``AT+QGMR``: the full id, e.g. ``BG95M3LAR02A03_01.200.01.200``."""
    return sc.firmware or f"{sc.revision}_01.200.01.200"


def qcfg_settings(sc: Scenario) -> tuple[str, ...]:
    """The settings this firmware has, in the order ``AT+QCFG=?`` lists them."""
    return tuple(s.lower() for s in sc.qcfg_settings) if sc.qcfg_settings else _model(sc)[1]


def band_masks(sc: Scenario) -> list[int]:
    return [int(v, 16) for v in sc.band_masks] if sc.band_masks else list(_model(sc)[2])


def all_bands(sc: Scenario) -> tuple[int, int, int]:
    """What the model can have: a write with bits outside these is refused."""
    return _model(sc)[2]


def psm(sc: Scenario) -> bool:
    return _model(sc)[3] if sc.psm is None else bool(sc.psm)


def edrx(sc: Scenario) -> set[int]:
    return set(_model(sc)[4] if sc.edrx is None else sc.edrx)


def sysmode(sc: Scenario, rat: str) -> str:
    return (SYSMODE_BG96 if sc.model.upper().startswith("BG96") else SYSMODE)[rat]


def nwinfo(sc: Scenario, rat: str) -> str:
    return (NWINFO_BG96 if sc.model.upper().startswith("BG96") else NWINFO)[rat]


def cmux(sc: Scenario) -> bool:
    """``AT+CMUX`` accepted: every model emulated here has it (BG95, BG77, BG600L: the family's
    manuals; BG96: used in CMUX mode by esp-modem users, esp-protocols issues 33, 103, 767)."""
    return True if sc.cmux is None else bool(sc.cmux)
