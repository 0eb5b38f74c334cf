"""What the virtual module keeps in flash about its radio beside the scan settings: the band
masks (``AT+QCFG="band"``), PSM (``AT+CPSMS``) and eDRX (``AT+CEDRXS``). Kept over a reboot,
like ``Network.qcfg``; one record per module, made from the scenario when first asked.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from bg_pppd.emulator import module_defaults

if TYPE_CHECKING:
    from bg_pppd.emulator.modem import Modem
    from bg_pppd.emulator.network import Network

EDRX_DEFAULT = "0101"  # the requested eDRX cycle written at delivery [?]


@dataclass
class RadioNV:
    bands: list[int]                                     # GSM, eMTC, NB-IoT masks
    psm: bool
    edrx: dict[int, str] = field(default_factory=dict)   # AcT type -> requested eDRX value
    other: dict[str, str] = field(default_factory=dict)  # listed settings not modelled further
    writes: int = 0                                      # flash writes of these settings


_RECORDS: weakref.WeakKeyDictionary[Network, RadioNV] = weakref.WeakKeyDictionary()


def of(m: Modem) -> RadioNV:
    """The module's record (its Network lives as long as the module, over reboots)."""
    nv = _RECORDS.get(m.network)
    if nv is None:
        sc = m.sc
        nv = RadioNV(module_defaults.band_masks(sc), module_defaults.psm(sc),
                     dict.fromkeys(sorted(module_defaults.edrx(sc)), EDRX_DEFAULT))
        _RECORDS[m.network] = nv
    return nv
