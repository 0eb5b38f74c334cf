"""A virtual Quectel BG95 on a pseudo-terminal, for tests and for trying profiles without hardware."""

from bg_pppd.emulator.runtime import Emulator, EmulatorProcess
from bg_pppd.emulator.scenario import Scenario

__all__ = ["Emulator", "EmulatorProcess", "Scenario"]
