"""Quoting for the two parsers our files meet: pppd's options files and chat scripts.

The profile is validated first; these functions are the second line of
defence and refuse, rather than mangle, anything they cannot quote exactly.
"""

from __future__ import annotations

import re
import shlex

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
CHAT_KEYWORDS = frozenset({
    "ABORT", "CLR_ABORT", "REPORT", "CLR_REPORT", "TIMEOUT", "ECHO", "HANGUP", "SAY", "EOT", "BREAK",
})


def pppd_word(value: str) -> str:
    """One word for a pppd options file: double-quoted, with \\ and " escaped.

    pppd's reader treats a backslash as quoting the next character and "#"
    inside quotes as text, so the word can hold spaces and quotes but can
    never end early and start a second option.
    """
    if _CONTROL.search(value):
        raise ValueError("control characters cannot be written to a pppd options file")
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def chat_string(value: str) -> str:
    """One string of a chat script, single-quoted.

    chat interprets backslash escapes and ^X control sequences even inside
    quotes, so such characters are refused: nothing from a profile needs them.
    """
    if not value or _CONTROL.search(value) or re.search(r"['\\^]", value):
        raise ValueError(f"{value!r} cannot be written to a chat script")
    if value.upper() in CHAT_KEYWORDS:
        raise ValueError(f"{value!r} is a chat keyword")
    return f"'{value}'"


def shell_command(argv: list[str]) -> str:
    """A command line for /bin/sh -c (pppd runs connect/disconnect through a shell)."""
    return shlex.join(argv)
