"""What the module says about a failure, read when registration or a dial fails.

A person reading why a module does not get online wants the serving cell (searching, or the
cell and its levels: ``AT+QENG="servingcell"``), the cause the network gave for the last end
(``AT+CEER``), the signal (``AT+QCSQ``) and the network (``AT+QNWINFO``). Each query has a
short timeout of its own. What the module refuses (``ERROR``, an unsupported command on some
firmware) is left out: "those the module answers". A module that does not answer one is not
asked the rest: it is not answering, and the failure's own handling goes on without waiting.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

from bg_pppd.modem.at_channel import AtChannel, AtTimeout, PortGone
from bg_pppd.profile.model import Profile

# (command, the prefix of its answer lines): +QCSQ is also a URC prefix, so the answer is named
COMMANDS = (('AT+QENG="servingcell"', "+QENG:"), ("AT+CEER", "+CEER:"), ("AT+QCSQ", "+QCSQ:"),
            ("AT+QNWINFO", "+QNWINFO:"))
QUERY_TIMEOUT = 2.0  # a diagnostic query; the module answers these at once when it answers at all

Command = Callable[[str, str, float], Any]  # (command, answer prefix, timeout) -> at_channel.Response


def capture(command: Command, timeout: float = QUERY_TIMEOUT) -> dict[str, str]:
    """{command: its answer lines, joined by " | "} for the commands the module answered OK."""
    found: dict[str, str] = {}
    for cmd, prefix in COMMANDS:
        try:
            r = command(cmd, prefix, timeout)
        except (AtTimeout, PortGone):
            break
        if not r.ok:
            continue
        text = " | ".join(line for line in r.info if line)
        if text:
            found[cmd] = text
    return found


def one_line(found: dict[str, str]) -> str:
    """``AT+CEER: +CEER: ...; AT+QCSQ: ...``: the capture in one log line."""
    return "; ".join(f"{cmd}: {answer}" for cmd, answer in found.items())


def capture_on_port(profile: Profile, port: str | None = None, opener: Callable[..., Any] | None = None,
                    timeout: float = QUERY_TIMEOUT) -> dict[str, str]:
    """The capture on ``port`` (default: the AT port), opened shared, in command mode already
    (after pppd: command_mode.restore_after_pppd). {} when the port cannot be opened."""
    from bg_pppd.modem.serial_port import open_port

    try:
        ser = (opener or open_port)(profile, port or profile.modem.port, exclusive=False)
    except (OSError, ValueError):
        return {}
    try:
        at = AtChannel(ser, timeout=timeout)
        return capture(lambda c, prefix, t: at.command(c, timeout=t, info_prefix=prefix), timeout)
    except OSError:
        return {}
    finally:
        with contextlib.suppress(OSError):
            ser.close()
