"""The virtual module's AT commands, one file a topic; importing this registers them all.

``bg-pppd emulate --list-commands`` prints ``listing()``.
"""

from bg_pppd.emulator.commands import basic, data, diagnostics, mux, radio, sim  # noqa: F401  (they register)
from bg_pppd.emulator.commands.registry import CmeError, Command, Reply, listing, lookup, registered

__all__ = ["CmeError", "Command", "Reply", "listing", "lookup", "registered"]
