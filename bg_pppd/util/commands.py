"""The one runner for short external commands: hooks, the DNS tools, the reset command, ping.

``sh`` runs them (pppd, the one long-lived child, is a ``subprocess.Popen`` of
its own: link/pppd.py). Only the part of sh's API that behaves the same in
sh 1.14 (Debian 12's python3-sh) and sh 2.x is used: ``sh.Command(path)``,
``_timeout``, ``_env``, ``_in``, ``_cwd``, ``_ok_code``, ``_decode_errors``,
and the exceptions ErrorReturnCode (SignalException), TimeoutException,
CommandNotFound and ForkException. ``_tty_out`` and ``_new_session`` are given
explicitly because their defaults differ: stdout a pipe, never a terminal (a
tool must not page or colour), and no session of its own (2.x's default; 1.14
would start one), as under ``subprocess.run`` before.

Never a shell: the profile's words are argv, as they are. Nothing here raises
for a command that fails: the caller gets an Outcome and words its own log line.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

# Hooks and the reset command run here (not in the daemon's cwd, which nobody chose): a
# relative path among their arguments names a file under it, and the profile check checks it as such.
COMMAND_CWD = "/"


@dataclass(frozen=True)
class Outcome:
    """How a command ended. ``exit_code`` is None when it did not run or did not finish."""

    program: str
    exit_code: int | None = None  # negative: killed by that signal
    stdout: str = ""
    stderr: str = ""
    error: str = ""  # why it did not run or finish ('' when it ran to its end)
    timed_out: bool = False
    missing: bool = False  # no such program (or not executable)

    @property
    def ok(self) -> bool:
        return self.exit_code == 0

    def last_line(self) -> str:
        """The last line of its stderr, else of its stdout: what a log line quotes."""
        lines = (self.stderr or self.stdout).strip().splitlines()
        return lines[-1] if lines else ""


def _text(data: bytes | str | None) -> str:
    if isinstance(data, bytes):
        return data.decode("utf-8", "replace")
    return data or ""


def _fork_error(exc: Exception) -> str:
    """The child's own exception (exec failed: a bad interpreter, a NUL in a word), one line."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return lines[-1] if lines else type(exc).__name__


def run(argv: Sequence[str], timeout: float, env: Mapping[str, str] | None = None, stdin: str = "",
        cwd: str = COMMAND_CWD) -> Outcome:
    """Run ``argv`` (no shell) to its end, at most ``timeout`` seconds (then SIGKILL)."""
    import sh  # only when a command runs: not on the way to the first dial

    program = str(argv[0]) if argv else ""
    if not program:
        return Outcome(program, error="no command", missing=True)
    try:
        command = sh.Command(program)
    except sh.CommandNotFound:
        return Outcome(program, error="not found, or not executable", missing=True)
    options = {"_timeout": timeout, "_in": stdin, "_cwd": cwd, "_ok_code": [0],
               "_tty_out": False, "_new_session": False, "_decode_errors": "replace"}
    if env is not None:
        options["_env"] = dict(env)
    try:  # any other status raises ErrorReturnCode, which carries it in both versions
        # 1.14 returns its RunningCommand, 2.x the output as text: str() is stdout in both
        out = command(*[str(word) for word in argv[1:]], **options)
    except sh.TimeoutException:
        return Outcome(program, error=f"timed out after {timeout:g} s", timed_out=True)
    except sh.ErrorReturnCode as exc:  # SignalException too: exit_code is minus the signal
        return Outcome(program, exc.exit_code, _text(exc.stdout), _text(exc.stderr))
    except sh.ForkException as exc:
        return Outcome(program, error=f"cannot run: {_fork_error(exc)}")
    except (OSError, ValueError) as exc:  # no fork, no pipe; a word sh cannot pass
        return Outcome(program, error=f"cannot run: {getattr(exc, 'strerror', None) or exc}")
    return Outcome(program, 0, str(out))  # _ok_code [0]: 2.x's text says no more than that
