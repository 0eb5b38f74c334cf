"""The data usage and lifetime counters kept across restarts and reboots: STATE_DIR/NAME.usage.json.

Written atomically (a power cut leaves the old record or the new one), mode 0644 (no secret
in it). A damaged or foreign file costs the counts, never the daemon: it is read as an empty
record, with a note, and the next save replaces it.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from bg_pppd.daemon.data_usage import Usage
from bg_pppd.daemon.ladder_store import STATE_DIR_FIX, iso
from bg_pppd.util import safe_files as atomic

MAX_BYTES = 16 * 1024  # a record is about 500 bytes


class UsageStore:
    """``load`` never raises; ``save`` raises OSError (the caller logs it)."""

    def __init__(self, state_dir: str | os.PathLike, name: str):
        self.path = Path(state_dir) / f"{name}.usage.json"

    def load(self) -> tuple[Usage, str]:
        """The record, and a note when the file could not be used."""
        try:
            raw = atomic.read_regular(self.path, MAX_BYTES, follow=False, ours=True)
        except FileNotFoundError:
            return Usage(), ""
        except OSError as exc:  # UnsafePath too: another user's file is not trusted
            return Usage(), f"{self.path} not used ({exc.strerror or exc}): data usage counted from 0"
        try:
            data = json.loads(raw.decode("utf-8"))
            if not isinstance(data, dict) or data.get("version") != 1:
                raise ValueError("not a usage record")
        except Exception:  # any damage at all
            return Usage(), f"{self.path} was damaged: data usage counted from 0"
        return Usage.from_dict(data.get("usage")), ""

    def save(self, usage: Usage) -> None:
        atomic.private_dir(self.path.parent, shared_ok=True, fix=STATE_DIR_FIX)
        payload = {"version": 1, "saved": iso(time.time()), "usage": usage.to_dict()}
        atomic.write(self.path, json.dumps(payload, indent=1) + "\n", mode=0o644)
