"""The scenario's faults: a firmware that hangs or reboots after so many commands, crashes on
one, answers late or with a fixed quirk, or sends URC noise between answers.

Each fault fires at most once per emulator (a boot loop is not what the field shows), except
the delays, quirks and noise, which are the firmware's manner.
"""

from __future__ import annotations

from collections.abc import Callable

from bg_pppd.emulator.scenario import Scenario


class Faults:
    def __init__(self, scenario: Scenario):
        self.sc = scenario
        self.commands = 0             # commands read since the last boot
        self._hung_once = False
        self._crashed_once = False
        self._rebooted_once = False
        self._noise_index = 0

    def booted(self) -> None:
        self.commands = 0

    def on_command(self, line: str) -> str | None:
        """A command line was read: "hang" (no more answers until a reset), "crash" (a reboot,
        unanswered) or None (answer it)."""
        self.commands += 1
        sc = self.sc
        if sc.hang_after is not None and self.commands > sc.hang_after and not self._hung_once:
            self._hung_once = True
            return "hang"
        if sc.reboot_on and line.upper().startswith(sc.reboot_on.upper()) and not self._crashed_once:
            self._crashed_once = True
            return "crash"
        return None

    def quirk(self, line: str) -> tuple[list[str], str] | None:
        """The scenario's fixed answer to this exact line: (information lines, final result)."""
        lines = self.sc.replies.get(line)
        return (list(lines[:-1]), lines[-1]) if lines else None

    def answer_delay(self, own: float, line: str) -> float:
        """When the answer to ``line`` goes out: the command's ``own`` time, then the firmware's
        slowness (both scaled)."""
        return own + self.sc.scaled("response_delay") + self.sc.extra_delay(line)

    def reboot_due(self) -> bool:
        """After an answer: the one-off reboot of ``reboot_after`` is now."""
        if self.sc.reboot_after is not None and self.commands == self.sc.reboot_after \
                and not self._rebooted_once:
            self._rebooted_once = True
            return True
        return False

    def start_noise(self, later: Callable[[float, Callable[[], None]], None], quiet: Callable[[], bool],
                    urc: Callable[[str], None]) -> None:
        """URC noise every ``noise_interval``, only while the URC port is idle (``quiet``)."""
        if not self.sc.noise or self.sc.noise_interval <= 0:
            return

        def tick() -> None:
            if quiet():
                urc(self.sc.noise[self._noise_index % len(self.sc.noise)])
                self._noise_index += 1
            later(self.sc.scaled("noise_interval"), tick)
        later(self.sc.scaled("noise_interval"), tick)
