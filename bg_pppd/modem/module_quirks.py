"""What differs between the modules we support, as small overrides of the generic steps.

Keyed on the model name ATI reports. Unknown models get the permissive
defaults, and the generic code tolerates an ERROR where a feature is absent.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Model:
    name: str
    has_gsm: bool = True  # EGPRS fallback (AT+QCFG="nwscanmode"; AT+CGREG)


_NO_GSM = ("BG77", "BG95-M1", "BG95-M2")


def lookup(model: str) -> Model:
    name = model.strip().upper()
    return Model(model.strip(), has_gsm=not name.startswith(_NO_GSM))
