"""The journal fields of the daemon's event lines: one MESSAGE_ID per kind of event.

Under systemd (util/journal.py) each state change and each event the supervisor logs carries
``MESSAGE_ID`` (fixed here, so that ``journalctl MESSAGE_ID=...`` and fleet log pipelines
select "link up" or "module reset" across versions), ``BG_PPPD_EVENT`` (what happened),
``BG_PPPD_STATE`` (the state after it) and ``BG_PPPD_PROFILE``. Never change an ID; add new ones.
"""

from __future__ import annotations

# a switch into the state, by the state's name; then the events that change no state
MESSAGE_IDS = {
    "preflight": "4e42408fc25146fab4335ccd71e6267b",
    "dialing": "d22855bb9f2142759614b694a5e4309b",
    "connected": "d6cbe792f1ff4473989e8f2fef3a5534",
    "waiting": "4cd025618a14459285992e5348055939",
    "resetting": "1abf68eeedfd45269c66cf05c433b998",
    "restoring": "1db2dfd8719a4bd69f8615e454b460a3",
    "stopping": "a2c256fd37e04585ac105be27ba80324",
    "stopped": "83fcaff6dff947dea655ae1bffe11360",
    "ring": "6ba29e0191604c64b7c75f831fdaed12",
    "radio": "6af75ef84f6c4387b9d2f25d8258f17f",
    "cap": "b6209cbfd79d4cdcbb03552751852ae7",
    "link dead": "c496b83eecdf40b19c1e8d89a7ab5282",
    "stable": "83ae8f640e4040b098a27cb4a8e3ae2b",
}


def fields(profile: str, event: str, state: str, kind: str | None = None) -> dict[str, dict[str, str]]:
    """``extra=`` for a log call: the record's journal fields. ``kind``: the MESSAGE_ID's key
    (default: the state switched into)."""
    return {"journal": {"MESSAGE_ID": MESSAGE_IDS[kind or state], "BG_PPPD_EVENT": event,
                        "BG_PPPD_STATE": state, "BG_PPPD_PROFILE": profile}}
