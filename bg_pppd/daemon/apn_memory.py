"""The APN that worked, per SIM, kept across restarts and reboots: STATE_DIR/NAME.apn.json.

The file is only a hint for the order of the profile's own list (an APN not in it is never
set), so a damaged or foreign file costs the order, nothing else: it is read as if it were
not there, with a note, never fatal. It holds no secret (an ICCID is printed on the card):
mode 0644, written atomically like the ladder.
"""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Mapping
from pathlib import Path

from bg_pppd.daemon.apn_order import MAX_SIMS
from bg_pppd.daemon.ladder_store import STATE_DIR_FIX, iso
from bg_pppd.profile.model import APN_RE
from bg_pppd.util import safe_files as atomic

MAX_BYTES = 16 * 1024  # 16 SIMs are about 1.5 kB
ICCID = re.compile(r"[0-9]{18,20}[Ff]?")      # as +QCCID gives it (ITU-T E.118)
APN = re.compile(f"(?:{APN_RE})?")            # what the profile accepts, "" too


class ApnMemory:
    """{ICCID: APN} on disk; ``load`` never raises, ``save`` raises OSError (the caller logs it)."""

    def __init__(self, state_dir: str | os.PathLike, name: str):
        self.path = Path(state_dir) / f"{name}.apn.json"

    def load(self) -> tuple[dict[str, str], str]:
        """What was remembered, oldest first, and a note when the file could not be used."""
        try:
            raw = atomic.read_regular(self.path, MAX_BYTES, follow=False, ours=True)
        except FileNotFoundError:
            return {}, ""
        except OSError as exc:  # UnsafePath too: another user's file is not trusted
            return {}, f"{self.path} not used ({exc.strerror or exc}): the APNs are tried in the profile's order"
        try:
            data = json.loads(raw.decode("utf-8"))
            sims = data["sims"]
            if not isinstance(sims, dict):
                raise ValueError("not a mapping")
            memory = {k: v["apn"] for k, v in sims.items()
                      if isinstance(k, str) and ICCID.fullmatch(k) and isinstance(v, dict)
                      and isinstance(v.get("apn"), str) and APN.fullmatch(v["apn"])}
        except Exception:  # any damage at all: the file is only a hint
            return {}, f"{self.path} was damaged: the APNs are tried in the profile's order"
        dropped = len(sims) - len(memory)
        note = f"{self.path}: {dropped} damaged entr{'y' if dropped == 1 else 'ies'} ignored" if dropped else ""
        return dict(list(memory.items())[-MAX_SIMS:]), note

    def save(self, memory: Mapping[str, str]) -> None:
        atomic.private_dir(self.path.parent, shared_ok=True, fix=STATE_DIR_FIX)
        payload = {"version": 1, "saved": iso(time.time()),
                   "sims": {iccid: {"apn": apn} for iccid, apn in memory.items()}}
        atomic.write(self.path, json.dumps(payload, indent=1) + "\n", mode=0o644)
