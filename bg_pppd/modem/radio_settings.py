"""The radio settings kept in the module's flash: bands and PSM/eDRX, from what the module reports.

Pure: each function reads the module's answer lines and the profile's wish and returns
the command to send, or None when the module already has it. A write to flash on every
boot made a BG95-M5 drop registration (field-notes.md), so nothing is ever written that
is already set.
"""

from __future__ import annotations

from collections.abc import Sequence

from bg_pppd.modem import at_replies as atparse

# AT+QCFG="band",<gsmbandval>,<emtcbandval>,<nbiotbandval>[,<effect>]: the technologies in that order
BAND_FIELDS = ("egprs", "catm1", "nbiot")
GSM_BITS = {900: 0x1, 1800: 0x2, 850: 0x4, 1900: 0x8}  # GSM bands by MHz; LTE band n is bit n-1

Bands = Sequence[tuple[str, Sequence[int]]]  # the profile's network.bands


def band_mask(tech: str, bands: Sequence[int]) -> int:
    """The mask ``AT+QCFG="band"`` takes for these bands of ``tech``: LTE band n = bit n-1."""
    mask = 0
    for band in bands:
        mask |= GSM_BITS[band] if tech == "egprs" else 1 << (band - 1)
    return mask


def mask_bands(tech: str, mask: int) -> list[int]:
    """The bands a mask holds (for the log): the inverse of ``band_mask``."""
    if tech == "egprs":
        return sorted(mhz for mhz, bit in GSM_BITS.items() if mask & bit)
    return [n + 1 for n in range(mask.bit_length()) if mask >> n & 1]


def band_write(current: tuple[int, int, int], wanted: Bands) -> tuple[str, list[str]] | None:
    """The ``AT+QCFG="band"`` write that gives the profile's bands, or None when the module has them.

    A technology the profile leaves out keeps the module's mask (written back as it is, not
    as 0, which some firmware takes as "no change" and some as nothing at all). Returns the
    command and what changes, one ``catm1 3,8,20 -> 20`` entry per technology.
    """
    masks = list(current)
    changes = []
    for tech, bands in wanted:
        i = BAND_FIELDS.index(tech)
        mask = band_mask(tech, bands)
        if mask != masks[i]:
            old = ",".join(map(str, mask_bands(tech, masks[i]))) or "none"
            changes.append(f"{tech} bands {old} -> {','.join(map(str, bands))}")
            masks[i] = mask
    if not changes:
        return None
    return 'AT+QCFG="band",{:X},{:X},{:X},1'.format(*masks), changes


def psm_on(lines: Sequence[str]) -> bool | None:
    """Whether ``AT+CPSMS?`` says PSM is requested; None when its answer has no mode."""
    mode = next((m for m in (atparse.parse_cpsms(line) for line in lines) if m is not None), None)
    return None if mode is None else mode != 0


def edrx_on(lines: Sequence[str]) -> list[int]:
    """The AcTs ``AT+CEDRXS?`` lists with eDRX requested (one line each; none = off)."""
    return [found[0] for found in (atparse.parse_cedrxs(line) for line in lines) if found]
