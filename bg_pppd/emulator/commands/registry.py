"""The AT commands the virtual module knows, each registered where its topic is written.

``@command("+CPIN", summary=...)`` registers an extended command, called as
``handler(modem, form, args)`` (form: '' execute, '?' read, '=?' test, '=' set);
``@command("E", ...)`` a basic one, ``handler(modem, value)`` with the digits after
the letter (0 when none); ``@command("D", ...)`` the dial, ``handler(modem, rest)``.
Everything not registered is ``ERROR``, as on the module.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass
class Reply:
    """An answer: information lines, the final result, how late, and what happens once it is out."""

    info: list[str] = field(default_factory=list)
    final: str = "OK"
    delay: float = 0.0
    then: Callable[[], None] | None = None


class CmeError(Exception):
    """A ``+CME ERROR: <code>`` (or ``ERROR`` under ``AT+CMEE=0``)."""

    def __init__(self, code: int):
        self.code = code


@dataclass(frozen=True)
class Command:
    names: tuple[str, ...]           # without "AT": "+CPIN", "E", "&D", "D"
    summary: str
    topic: str
    handler: Callable[..., Reply]

    @property
    def kind(self) -> str:
        first = self.names[0]
        return "extended" if first[0] in "+$" else "dial" if first == "D" else "basic"


TOPICS = ("basic", "sim", "radio", "data", "mux")  # the order they are listed in
COMMANDS: dict[str, Command] = {}    # by name, upper case, aliases included
_ORDER: list[Command] = []


def command(*names: str, summary: str) -> Callable[[Callable[..., Reply]], Callable[..., Reply]]:
    """Register the decorated handler under ``names`` (the first is the one the vendor documents)."""

    def register(handler: Callable[..., Reply]) -> Callable[..., Reply]:
        topic = handler.__module__.rsplit(".", 1)[-1]
        entry = Command(tuple(n.upper() for n in names), summary, topic, handler)
        for name in entry.names:
            if name in COMMANDS:
                raise ValueError(f"AT{name} registered twice")
            COMMANDS[name] = entry
        _ORDER.append(entry)
        return handler
    return register


def lookup(name: str) -> Command | None:
    return COMMANDS.get(name.upper())


def registered() -> list[Command]:
    """Every command once, by topic, in the order its topic file registers them."""
    return sorted(_ORDER, key=lambda c: TOPICS.index(c.topic) if c.topic in TOPICS else len(TOPICS))


def listing() -> list[str]:
    """One line a command: its names and what the emulator does with it."""
    rows = [(", ".join("AT" + n for n in c.names), c.summary) for c in registered()]
    width = max(len(names) for names, _ in rows)
    return [f"{names.ljust(width)}  {summary}" for names, summary in rows]
