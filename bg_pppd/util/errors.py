"""Exit statuses and the errors that map to them.

One table, so that the CLI, the systemd unit (RestartPreventExitStatus=) and
the docs agree on what each number means.
"""

from __future__ import annotations

import errno
from dataclasses import dataclass

EXIT_OK = 0
EXIT_FAILURE = 1             # also: another bg-pppd holds the profile or a port (up, check)
EXIT_PROFILE = 2             # a profile error, an unsafe file or directory, a usage error
EXIT_NOT_RUNNING = 3         # status: not running
EXIT_UNKNOWN = 4             # status: the state cannot be read (LSB: "program status unknown")
EXIT_NO_RESPONSE = 10
EXIT_SIM = 11
EXIT_DENIED = 12
EXIT_NOT_REGISTERED = 13
EXIT_PPPD_UNUSABLE = 20      # up: pppd cannot run here (no kernel PPP support, not root)
EXIT_INTERRUPTED = 130       # 128 + SIGINT: Ctrl-C, as a shell reports it
EXIT_BROKEN_PIPE = 141       # 128 + SIGPIPE: what a shell reports for a C program in the same place


@dataclass(frozen=True)
class ExitStatus:
    """One exit status: what it means, and whether starting the daemon again can mend it."""

    code: int
    meaning: str
    restart: bool = True  # False: the unit's RestartPreventExitStatus= lists it


EXIT_STATUSES = (
    ExitStatus(EXIT_OK, "done; check: ready; status: running"),
    ExitStatus(EXIT_FAILURE, "a failure; another bg-pppd holds the profile or a port"),
    ExitStatus(EXIT_PROFILE, "a profile or pppd option error, an unsafe file or directory, a usage error",
               restart=False),
    ExitStatus(EXIT_NOT_RUNNING, "status: not running"),
    ExitStatus(EXIT_UNKNOWN, "status: the state cannot be read"),
    ExitStatus(EXIT_NO_RESPONSE, "the module does not respond"),
    ExitStatus(EXIT_SIM, "the SIM is not ready; up: its PIN was rejected or it is PUK-locked (retrying "
                         "would lock it)", restart=False),
    ExitStatus(EXIT_DENIED, "the network denied registration"),
    ExitStatus(EXIT_NOT_REGISTERED, "not registered before the timeout"),
    ExitStatus(EXIT_PPPD_UNUSABLE, "pppd cannot run here (no kernel PPP support, not root)", restart=False),
    ExitStatus(EXIT_INTERRUPTED, "interrupted (SIGINT)"),
    ExitStatus(EXIT_BROKEN_PIPE, "the output's reader has gone (a closed pipe)"),
)
NO_RESTART = tuple(s.code for s in EXIT_STATUSES if not s.restart)  # RestartPreventExitStatus=

def printable(text: object) -> str:
    """``text`` for one line of output: a newline in a file name cannot forge another line.

    Every character that str.isprintable() refuses is escaped as repr() would: C0 and C1
    controls, DEL, the line separators, the surrogates that stand for undecodable bytes, and
    the format characters (bidi overrides and isolates, zero-width), which could end a line,
    garble a terminal or show a path in another order than it is.
    """
    text = str(text)
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else ascii(c)[1:-1] for c in text)


class BgPppdError(Exception):
    """A failure with a one-line diagnosis and an exit status."""

    exit_code = EXIT_FAILURE
    # the host's, not the module's: another program holds the port. No module reset mends that,
    # and one would cut that program's link: the recovery ladder does not count it
    port_held = False


class UnsafePath(BgPppdError, OSError):
    """A file or directory that another user could change, where root would trust it.

    An OSError too, so that code which survives a failing write (status, ladder)
    survives this the same way.
    """

    exit_code = EXIT_PROFILE

    def __init__(self, path: object, message: str):
        OSError.__init__(self, errno.EPERM, message, str(path))

    def __str__(self) -> str:
        return printable(f"{self.filename}: {self.strerror}")


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a profile, located so a user can jump to it."""

    file: str
    line: int | None
    key: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        text = f"{where}: {self.key}: {self.message}" if self.key else f"{where}: {self.message}"
        return printable(text)


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
