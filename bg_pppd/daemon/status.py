"""The daemon's status: one record, published at every change, kept in status.json.

The supervisor makes it, the effects write it (and tell systemd), ``bg-pppd status``
reads it back; its fields, their order and their JSON form are defined here only.
The file's JSON is an interface (README): the keys below, times as ISO 8601 local time.

Reading is tolerant: the file may be damaged, written by an older daemon, or not ours
at all, so each field is used only in the shape the daemon writes it and is dropped
(None, or an empty list or mapping) otherwise; reading never raises.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, fields, replace
from typing import Any, Union

from bg_pppd.daemon.ladder_store import iso, to_wall
from bg_pppd.util import safe_files as atomic

# supervisor.State's values (a test holds them equal): `status` reads the file without loading
# the supervisor and all it imports
STATES = ("preflight", "dialing", "connected", "waiting", "resetting", "restoring", "stopping", "stopped")
MAX_STATUS_BYTES = 1024 * 1024  # a status is a few KB
_MAX_ITEMS = 16                 # of dns and of signal, when read back

# A time: seconds on the daemon's clock (boottime()) in the record the supervisor makes;
# ISO 8601 local time in the file, and so in a record read back from it.
Time = Union[float, str, None]


def _kind(kind: str) -> dict[str, str]:
    """A field's shape: text, count, time, list (of text), mapping (of scalars) or records
    (a list of mappings of scalars)."""
    return {"kind": kind}


@dataclass(frozen=True)
class Status(Mapping):
    """What the daemon is doing, for people (``status``), scripts (``--json``) and systemd.

    Read by key too, like its JSON object (``status["state"]``): a fake System in the
    tests records it so, and the key is the name the docs and the file use.
    """

    profile: str = field(default="", metadata=_kind("text"))
    state: str = field(default="preflight", metadata=_kind("text"))
    since: Time = field(default=None, metadata=_kind("time"))
    pid: int | None = field(default=None, metadata=_kind("count"))
    pppd_pid: int | None = field(default=None, metadata=_kind("count"))
    interface: str | None = field(default=None, metadata=_kind("text"))
    local_ip: str | None = field(default=None, metadata=_kind("text"))
    remote_ip: str | None = field(default=None, metadata=_kind("text"))
    dns: list = field(default_factory=list, metadata=_kind("list"))
    consecutive_failures: int | None = field(default=None, metadata=_kind("count"))
    resets: int | None = field(default=None, metadata=_kind("count"))
    next_reset_not_before: Time = field(default=None, metadata=_kind("time"))
    last_error: str | None = field(default=None, metadata=_kind("text"))
    registration: str | None = field(default=None, metadata=_kind("text"))
    operator: str | None = field(default=None, metadata=_kind("text"))
    access_technology: str | None = field(default=None, metadata=_kind("text"))
    band: str | None = field(default=None, metadata=_kind("text"))
    signal: dict | None = field(default=None, metadata=_kind("mapping"))
    radio_at: Time = field(default=None, metadata=_kind("time"))
    firmware: str | None = field(default=None, metadata=_kind("text"))
    apn: str | None = field(default=None, metadata=_kind("text"))
    interventions: list = field(default_factory=list, metadata=_kind("records"))
    last_diagnostics: dict = field(default_factory=dict, metadata=_kind("mapping"))
    bytes_today: dict = field(default_factory=dict, metadata=_kind("mapping"))  # received, sent
    bytes_month: dict = field(default_factory=dict, metadata=_kind("mapping"))  # this calendar month's
    data_usage: dict = field(default_factory=dict, metadata=_kind("mapping"))   # daemon/data_usage.py
    lifetime: dict = field(default_factory=dict, metadata=_kind("mapping"))    # counters, kept across runs
    last_error_class: str | None = field(default=None, metadata=_kind("text"))  # supervisor.error_class

    # ----- read by key -----------------------------------------------------------------------

    def __getitem__(self, key: str) -> Any:
        if key not in _KINDS:
            raise KeyError(key)
        return getattr(self, key)

    def __iter__(self) -> Iterator[str]:
        return iter(_KINDS)

    def __len__(self) -> int:
        return len(_KINDS)

    @classmethod
    def of(cls, status: Mapping[str, Any], **changes: Any) -> Status:
        """The record, or one made from a mapping of its keys (others are ignored), with
        ``changes`` (the record is frozen: it crosses threads)."""
        if not isinstance(status, Status):
            status = cls(**{key: status[key] for key in _KINDS if key in status})
        return replace(status, **changes) if changes else status

    # ----- JSON ------------------------------------------------------------------------------

    def to_json(self, now: float | None = None) -> dict[str, Any]:
        """The file's JSON object: every key, in order; a time on the daemon's clock becomes
        ISO 8601 local time (``now``: the clock's reading; a time no calendar can show, None)."""
        out: dict[str, Any] = {}
        for key, kind in _KINDS.items():
            value = getattr(self, key)
            if kind == "time" and not (value is None or isinstance(value, str)):
                try:
                    value = iso(to_wall(value, now))
                except (TypeError, ValueError, OverflowError, OSError):  # a damaged time must not
                    value = None                                         # cost the status
            elif kind == "list":
                value = list(value or ())
            elif kind == "records":
                value = [dict(v) for v in value or ()]
            elif kind == "mapping" and value is not None:
                value = dict(value)
            out[key] = value
        return out

    def headline(self) -> str:
        """systemd's STATUS= line: ``connected 10.64.0.2``, ``waiting (why the attempt failed)``."""
        text = self.state + (f" {self.local_ip}" if self.local_ip else "")
        if self.last_error and self.state != "connected":
            text += f" ({self.last_error})"
        return text

    @classmethod
    def from_json(cls, data: object) -> Status:
        """A record from the file's JSON (parsed), of any shape: what is not of the daemon's
        shape is dropped; a missing or unknown state reads as ``preflight``, where every daemon
        starts (it writes its state at each change)."""
        data = data if isinstance(data, dict) else {}
        values = {key: _READ[kind](data.get(key)) for key, kind in _KINDS.items()}
        if values["state"] not in STATES:
            values["state"] = "preflight"
        return cls(**values)


def _scalar(value: Any) -> Any:
    """A JSON scalar that prints and re-encodes cleanly; anything else is dropped (None)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    return value if value is None or isinstance(value, (str, int)) else None


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _count(value: Any) -> int | None:
    return value if type(value) is int and value >= 0 else None


def _list(value: Any) -> list[str]:
    return [v for v in value if isinstance(v, str)][:_MAX_ITEMS] if isinstance(value, list) else []


def _records(value: Any) -> list[dict[str, Any]]:
    """A list of small mappings (the interventions): each read as a mapping, the newest kept."""
    if not isinstance(value, list):
        return []
    return [_mapping(v) for v in value if isinstance(v, dict)][-_MAX_ITEMS:]


def _mapping(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        return {}
    return {str(k): _scalar(v) for k, v in list(value.items())[:_MAX_ITEMS] if _scalar(v) is not None}


_READ = {"text": _text, "time": _text, "count": _count, "list": _list, "mapping": _mapping,
         "records": _records}
_KINDS: dict[str, str] = {f.name: f.metadata["kind"] for f in fields(Status)}
FIELDS = tuple(_KINDS)  # the keys, in the order the file and ``status`` show them


def write_status(path: str | os.PathLike, status: Status, now: float | None = None) -> None:
    """Write status.json atomically, readable by all (``status`` needs no root for the file)."""
    atomic.write(path, json.dumps(status.to_json(now), indent=1) + "\n", mode=0o644)


def read_status(path: str | os.PathLike) -> Status | None:
    """The status file's record; None when it is missing, unreadable or not a JSON object."""
    try:
        data = json.loads(atomic.read_regular(path, MAX_STATUS_BYTES, follow=False))
    except (OSError, ValueError, RecursionError):
        return None
    return Status.from_json(data) if isinstance(data, dict) else None
