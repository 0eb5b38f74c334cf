"""Exit statuses and the errors that map to them.

One table, so that the CLI, the systemd unit (RestartPreventExitStatus=) and
the docs agree on what each number means.
"""

from __future__ import annotations

from dataclasses import dataclass

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_PROFILE = 2
EXIT_NOT_RUNNING = 3
EXIT_NO_RESPONSE = 10
EXIT_SIM = 11
EXIT_DENIED = 12
EXIT_NOT_REGISTERED = 13


class BgPppdError(Exception):
    """A failure with a one-line diagnosis and an exit status."""

    exit_code = EXIT_FAILURE


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a profile, located so a user can jump to it."""

    file: str
    line: int | None
    key: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where}: {self.key}: {self.message}" if self.key else f"{where}: {self.message}"


class ProfileError(BgPppdError):
    """The profile cannot be used; carries every problem found, not just the first."""

    exit_code = EXIT_PROFILE

    def __init__(self, problems: list[Problem]):
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


class NotResponding(BgPppdError):
    """The module does not answer (or its port does not exist)."""

    exit_code = EXIT_NO_RESPONSE


class SimProblem(BgPppdError):
    """SIM absent, locked, PIN wrong or missing, PUK, failure.

    ``permanent``: a retry or reset cannot mend it (a rejected PIN, a PUK
    lock); the supervisor stops instead of burning the SIM's last tries.
    """

    exit_code = EXIT_SIM

    def __init__(self, message: str, permanent: bool = False):
        super().__init__(message)
        self.permanent = permanent


class RegistrationDenied(BgPppdError):
    exit_code = EXIT_DENIED


class NotRegistered(BgPppdError):
    exit_code = EXIT_NOT_REGISTERED
