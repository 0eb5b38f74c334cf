"""URCs that say the network (or the module) ended our PDP context: the data call is dead.

The module answers LCP itself, so LCP echo keeps succeeding after the network has
deactivated the context: only these URCs tell at once. Forms (3GPP TS 27.007 10.1.19,
enabled by ``AT+CGEREP``; Quectel's TCP/IP URC, always on):

- ``+CGEV: NW PDN DEACT <cid>[,<WLAN_Offload>]`` / ``+CGEV: ME PDN DEACT <cid>``
- ``+CGEV: NW DEACT <PDP_type>,<PDP_addr>[,<cid>]`` / ``+CGEV: ME DEACT ...`` (the older forms)
- ``+CGEV: NW DETACH`` / ``+CGEV: ME DETACH``: the packet domain is gone, every context with it
- ``+QIURC: "pdpdeact",<contextID>``

A deactivation that names another context (an IMS one, say) is not ours and is ignored.
"""

from __future__ import annotations

import re

# 27.007's default, mode 0, forwards no +CGEV at all. Mode 2: forwarded at once on a port in
# command mode (USB's AT port), held while the port is in data mode and sent when it is back in
# command mode (the main UART). bfr 0: what the module buffered before (an earlier call's end)
# is cleared, never taken for this call's.
ENABLE = "AT+CGEREP=2,0"

_PDN = re.compile(r"^\+CGEV:\s*(NW|ME)\s+PDN\s+DEACT\s+(\d+)")
_OLD = re.compile(r"^\+CGEV:\s*(NW|ME)\s+DEACT\b\s*(.*)$")
_DETACH = re.compile(r"^\+CGEV:\s*(NW|ME)\s+DETACH\b")
_QIURC = re.compile(r'^\+QIURC:\s*"pdpdeact"\s*,\s*(\d+)', re.IGNORECASE)
WHO = {"NW": "the network", "ME": "the module"}


def dial_cid(dial_number: str) -> int:
    """The context a dial string uses: ``*99***3#`` -> 3; ``*99#`` the default one, 1."""
    m = re.fullmatch(r"\*99\*\*\*(\d+)#", dial_number.strip())
    return int(m.group(1)) if m else 1


def ended(line: str, cid: int = 1) -> str | None:
    """Why the data call on context ``cid`` is dead, if ``line`` says so; else None."""
    line = line.strip()
    if m := _PDN.match(line):
        if int(m.group(2)) != cid:
            return None
        return f"{WHO[m.group(1)]} ended the PDP context ({line})"
    if m := _OLD.match(line):
        fields = [f.strip().strip('"') for f in m.group(2).split(",")] if m.group(2) else []
        if len(fields) >= 3 and fields[2].isdigit() and int(fields[2]) != cid:
            return None
        return f"{WHO[m.group(1)]} ended the PDP context ({line})"
    if m := _DETACH.match(line):
        return f"{WHO[m.group(1)]} detached from the packet domain ({line})"
    if m := _QIURC.match(line):
        if int(m.group(1)) != cid:
            return None
        return f"the network ended the PDP context ({line})"
    return None


def first_end(urcs: list[str], cid: int = 1) -> str | None:
    """The first of ``urcs`` that ends the data call, as a reason; None when none does."""
    for line in urcs:
        reason = ended(line, cid)
        if reason:
            return reason
    return None
