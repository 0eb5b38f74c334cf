"""A virtual Quectel BG95 on a pseudo-terminal, for tests and for trying profiles without hardware."""

from .runtime import Emulator, EmulatorProcess
from .scenario import Scenario

__all__ = ["Emulator", "EmulatorProcess", "Scenario"]
