"""Split an AT command line the way the module does: ``ATE0&D2+CMEE=2;+CPIN?``."""

from __future__ import annotations

import re

_BASIC = re.compile(r"(&[A-Za-z]|[A-Za-z])([0-9]*)")


def split_commands(line: str) -> list[str] | None:
    """Commands after the ``AT`` prefix, or None when the line cannot be parsed (ERROR)."""
    if line[:2].upper() != "AT":
        return None
    rest, out, i = line[2:], [], 0
    while i < len(rest):
        c = rest[i]
        if c in " ;":
            i += 1
        elif c in "+$":
            j, quoted = i + 1, False
            while j < len(rest) and (quoted or rest[j] != ";"):
                quoted ^= rest[j] == '"'
                j += 1
            out.append(rest[i:j])
            i = j
        elif c in "Dd":
            out.append("D" + rest[i + 1:])
            break
        else:
            m = _BASIC.match(rest, i)
            if not m:
                return None
            out.append(m.group(1).upper() + m.group(2))
            i = m.end()
    return out


def split_extended(cmd: str) -> tuple[str, str, list[str]]:
    """``+CPIN="1234"`` -> (``+CPIN``, ``=``, [``1234``]); forms: '' exec, '?' read, '=?' test, '=' set."""
    m = re.match(r"([+$][A-Za-z0-9&]+)(=\?|\?|=)?(.*)", cmd)
    if not m:
        return cmd.upper(), "", []
    name, form, rest = m.group(1).upper(), m.group(2) or "", m.group(3)
    return name, form, parse_args(rest) if form == "=" else []


def parse_args(text: str) -> list[str]:
    args, cur, quoted = [], "", False
    for c in text:
        if c == '"':
            quoted = not quoted
            cur += c
        elif c == "," and not quoted:
            args.append(cur)
            cur = ""
        else:
            cur += c
    args.append(cur)
    return [_unquote(a.strip()) for a in args]


def _unquote(arg: str) -> str:
    return arg[1:-1] if len(arg) >= 2 and arg[0] == arg[-1] == '"' else arg
