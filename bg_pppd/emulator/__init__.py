"""A virtual Quectel BG95 on a pseudo-terminal, for tests and for trying profiles without hardware."""

from bg_pppd.emulator.runtime import Emulator
from bg_pppd.emulator.scenario import Scenario

__all__ = ["Emulator", "Scenario"]
