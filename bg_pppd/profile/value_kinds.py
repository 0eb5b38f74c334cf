"""Value kinds for profile keys: each converts a YAML value or says why not.

Kinds are small objects so that the profile's dataclasses can carry their own
validation in field metadata: one place names a key, its default and its rules.
"""

from __future__ import annotations

import math
import re
import shlex
from collections.abc import Sequence
from dataclasses import MISSING, field
from typing import Any


class Invalid(ValueError):
    """A value is wrong; the message is written for the user."""


class Kind:
    what = "a value"

    def convert(self, value: Any) -> Any:
        raise NotImplementedError


def _typename(value: Any, secret: bool = False) -> str:
    """What ``value`` is, for a message; ``secret``: its type only, never the value or a part of it."""
    if value is None:
        return "nothing"
    if isinstance(value, bool):
        return "a yes/no value" if secret else f"{str(value).lower()} (a yes/no value)"
    if isinstance(value, (int, float)):
        return "a number" if secret else f"the number {value!r}"
    if isinstance(value, str):
        return "other text" if secret else f"the text {value[:40]!r}"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return type(value).__name__


def _num(value: float) -> str:
    """A limit as the user would write it: integers exactly (2147483647, not 2.14748e+09)."""
    if isinstance(value, int) or (isinstance(value, float) and value.is_integer() and abs(value) < 2**53):
        return str(int(value))
    return f"{value:g}"


class Bool(Kind):
    what = "true or false"

    def convert(self, value: Any) -> bool:
        if isinstance(value, bool):
            return value
        raise Invalid(f"must be true or false, not {_typename(value)}")


class Number(Kind):
    """Seconds and counts; fractions allowed unless ``integer``.

    ``why``: what a value below ``lo`` would do (e.g. a loop that never pauses);
    ``off``: a value that is allowed below ``lo`` because it turns the thing off (0).
    """

    def __init__(self, lo: float | None = None, hi: float | None = None, integer: bool = False,
                 why: str = "", off: float | None = None):
        self.lo, self.hi, self.integer, self.why, self.off = lo, hi, integer, why, off
        self.what = "a whole number" if integer else "a number"

    def convert(self, value: Any) -> float | int:
        ok = isinstance(value, int) if self.integer else isinstance(value, (int, float))
        if isinstance(value, bool) or not ok or (isinstance(value, float) and not math.isfinite(value)):
            raise Invalid(f"must be {self.what}, not {_typename(value)}")
        if self.off is not None and value == self.off:
            return value
        if self.lo is not None and value < self.lo:
            off = f" (or {_num(self.off)} for off)" if self.off is not None else ""
            why = f": {self.why}" if self.why else ""
            raise Invalid(f"must be at least {_num(self.lo)}{off}, not {value!r}{why}")
        if self.hi is not None and value > self.hi:
            raise Invalid(f"must be at most {_num(self.hi)}, not {value!r}")
        return value


class Choice(Kind):
    def __init__(self, *choices: Any):
        self.choices = choices
        self.what = " | ".join(str(c) for c in choices)

    def convert(self, value: Any) -> Any:
        # the type too: 115200.0 == 115200, but pppd reads "115200.0" as an unknown option
        if not any(type(value) is type(choice) and value == choice for choice in self.choices):
            raise Invalid(f"must be one of {self.what}, not {_typename(value)}")
        return value


_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class Text(Kind):
    """A string; ``pattern`` (full match) is the safety net for values that reach pppd or chat.

    ``secret`` (a PIN, a password): no message shows the value, a part of it or its length,
    since errors go to stderr, that is the journal under systemd.
    """

    def __init__(self, pattern: str | None = None, hint: str = "", max_len: int = 255,
                 allow_empty: bool = True, secret: bool = False):
        self.pattern = re.compile(pattern) if pattern else None
        self.hint, self.max_len, self.allow_empty, self.secret = hint, max_len, allow_empty, secret
        self.what = "text"

    def convert(self, value: Any) -> str:
        if value is None:
            if self.allow_empty:
                return ""
            raise Invalid("is required")
        if not isinstance(value, str):
            raise Invalid(f"must be text (in quotes), not {_typename(value, self.secret)}")
        if not value and not self.allow_empty:
            raise Invalid("must not be empty")
        if len(value) > self.max_len:
            size = "is too long" if self.secret else f"is {len(value)} characters long"
            raise Invalid(f"{size}; at most {self.max_len} are allowed")
        if _CONTROL.search(value):
            raise Invalid("must not contain control characters (newline, tab, NUL, ...)")
        if value and self.pattern and not self.pattern.fullmatch(value):
            shown = "the value given" if self.secret else repr(value[:60])
            raise Invalid(f"{shown} is not allowed: {self.hint}")
        return value


class DevicePath(Text):
    def __init__(self, required: bool = False) -> None:
        super().__init__(r"/[A-Za-z0-9._+:@=,/-]+",
                         "a device path is absolute and uses only letters, digits and . _ + : @ = , / -",
                         max_len=200, allow_empty=not required)

    def convert(self, value: Any) -> str:
        path = super().convert(value)
        if path and ("/../" in path + "/" or path.endswith("/")):
            raise Invalid(f"{path!r} is not a device path")
        return path


class FilePath(Text):
    """``secret``: the file holds a secret; a value that is no path may be the secret itself."""

    def __init__(self, secret: bool = False) -> None:
        super().__init__(r"/[^\s]*", "an absolute path without spaces", max_len=400, secret=secret)


class CommandLine(Kind):
    """A command run without a shell: split like a shell would, never given to one."""

    what = "a command line"

    def convert(self, value: Any) -> tuple[str, ...]:
        if value is None or value == "":
            return ()
        if isinstance(value, list):
            words = [Text(max_len=1000, allow_empty=False).convert(v) for v in value]
        else:
            text = Text(max_len=4000).convert(value)
            try:
                words = shlex.split(text)
            except ValueError as exc:
                raise Invalid(f"cannot be split into words: {exc}") from None
        if words and not words[0].startswith("/"):
            raise Invalid(f"the program {words[0]!r} must be an absolute path "
                          "(commands run without a shell and without a search path)")
        return tuple(words)


class ListOf(Kind):
    def __init__(self, item: Kind, min_len: int = 0, max_len: int = 64, unique: bool = False):
        self.item, self.min_len, self.max_len, self.unique = item, min_len, max_len, unique
        self.what = f"a list of {item.what}"

    def convert(self, value: Any) -> tuple[Any, ...]:
        if value is None:
            value = []
        if not isinstance(value, list):
            raise Invalid(f"must be a list (e.g. [a, b]), not {_typename(value)}")
        if not self.min_len <= len(value) <= self.max_len:
            raise Invalid(f"must have {self.min_len} to {self.max_len} entries, not {len(value)}")
        out = []
        for index, item in enumerate(value):
            try:
                out.append(self.item.convert(item))
            except Invalid as exc:
                raise Invalid(f"entry {index + 1}: {exc}") from None
        if self.unique and len(set(out)) != len(out):
            raise Invalid("lists an entry twice")
        return tuple(out)


class OneOrList(ListOf):
    """One value or a list of them (``apn: internet`` or ``apn: [internet, ""]``): always a tuple."""

    def __init__(self, item: Kind, max_len: int = 16, unique: bool = True):
        super().__init__(item, min_len=1, max_len=max_len, unique=unique)
        self.what = f"{item.what} or a list of them"

    def convert(self, value: Any) -> tuple[Any, ...]:
        return super().convert(value if isinstance(value, list) else [value])


class OffOrChoice(Choice):
    """A choice whose first word is ``off``: YAML 1.1 reads an unquoted ``off`` as false."""

    def convert(self, value: Any) -> Any:
        return super().convert(self.choices[0] if value is False else value)


class Bands(Kind):
    """Bands per technology: ``{catm1: [3, 20], nbiot: [8, 20], egprs: [900, 1800]}``.

    LTE bands by number (3GPP TS 36.101), GSM bands by their MHz name; technologies left
    out are left as the module has them.
    """

    LTE = range(1, 86)
    GSM = (850, 900, 1800, 1900)
    what = "a mapping of technology (catm1, nbiot, egprs) to a list of band numbers"

    def convert(self, value: Any) -> tuple[tuple[str, tuple[int, ...]], ...]:
        if value is None:
            return ()
        if not isinstance(value, dict):
            raise Invalid(f"must be {self.what}, not {_typename(value)}")
        out = []
        for tech, bands in value.items():
            if tech not in ("catm1", "nbiot", "egprs"):
                raise Invalid(f"{tech!r} is not a technology: use catm1, nbiot or egprs")
            allowed = self.GSM if tech == "egprs" else self.LTE
            hint = "850, 900, 1800 or 1900" if tech == "egprs" else "LTE band numbers 1 to 85"
            numbers = ListOf(Number(integer=True), min_len=1, unique=True).convert(bands)
            wrong = [b for b in numbers if b not in allowed]
            if wrong:
                raise Invalid(f"{tech}: band {wrong[0]} is not one of {hint}")
            out.append((tech, tuple(sorted(numbers))))
        return tuple(sorted(out))


class Optional(Kind):
    def __init__(self, inner: Kind):
        self.inner = inner
        self.what = f"{inner.what} or null"

    def convert(self, value: Any) -> Any:
        return None if value is None else self.inner.convert(value)


def key(kind: Kind, default: Any = MISSING, doc: str = "") -> Any:
    """A profile key: its kind and default live with the dataclass field."""
    if isinstance(default, (list, Sequence)) and not isinstance(default, (str, tuple)):
        default = tuple(default)
    return field(default=default, metadata={"kind": kind, "doc": doc})
