"""What differs between the modules and firmware we support: one table, keyed on model and firmware.

The generic steps ask ``lookup(model, firmware)`` (the model ATI names, the firmware id
``AT+QGMR`` gives) instead of testing names themselves. What the module says about itself
wins over the table where it can say it (``AT+QCFG=?`` lists the settings this firmware
has); the table is what we know when it cannot, and the facts no command tells
(which names ``+QCSQ`` uses, what ``AT+COPS=0`` resets). Unknown models get the defaults,
and the generic code tolerates an ERROR where a feature is absent.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Model:
    """One module and firmware's differences from the BG95-M3 the defaults describe."""

    name: str
    firmware: str = ""
    has_gsm: bool = True                  # EGPRS fallback (AT+QCFG="nwscanmode"; AT+CGREG)
    has_nwscanmode: bool = True           # AT+QCFG="nwscanmode" exists, when AT+QCFG=? cannot tell
    lte_names: str = "eMTC/NBIoT"         # +QCSQ's sysmode names for Cat-M1/NB-IoT
    cops_resets_nwscanmode: bool = False  # AT+COPS=0 puts nwscanmode back to 0 (automatic)
    uart_ready_after: float = 2.5         # seconds from power-on to the first answered AT

    @property
    def sysmodes(self) -> tuple[str, str]:
        """+QCSQ's names for (Cat-M1, NB-IoT) on this module."""
        catm1, nbiot = self.lte_names.split("/")
        return catm1, nbiot


# (model prefix, firmware prefix, what differs). "" matches any; every matching row applies, in
# order, so a firmware row below its model's row refines it. Sources in brackets (field-notes.md).
TABLE: tuple[tuple[str, str, dict[str, Any]], ...] = (
    # Cat-M1/NB-IoT only: no GSM, so no nwscanmode either [Particle PRs 2367, 2781]
    ("BG77", "", {"has_gsm": False, "has_nwscanmode": False}),
    ("BG95-M1", "", {"has_gsm": False, "has_nwscanmode": False}),
    ("BG95-M2", "", {"has_gsm": False, "has_nwscanmode": False}),
    # "CAT-M1"/"CAT-NB1" in +QCSQ [FreeRTOS-Cellular-Interface PR 25]; AT+COPS=0 resets nwscanmode
    # [Particle PR 2112]; UART ready ~4.9 s after power-on [Particle Quectel NCP client]
    ("BG96", "", {"lte_names": "CAT-M1/CAT-NB1", "cops_resets_nwscanmode": True, "uart_ready_after": 4.9}),
)


def lookup(model: str, firmware: str = "", table: Sequence[tuple[str, str, dict[str, Any]]] = TABLE) -> Model:
    """The differences of ``model`` (ATI's name) running ``firmware`` (AT+QGMR's id)."""
    name, fw = model.strip(), firmware.strip()
    found = Model(name, fw)
    for model_prefix, firmware_prefix, differs in table:
        if name.upper().startswith(model_prefix.upper()) and fw.upper().startswith(firmware_prefix.upper()):
            found = dataclasses.replace(found, **differs)
    return found
