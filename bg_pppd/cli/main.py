"""The ``bg-pppd`` command line.

Start-up time matters on slow ARM boards: only argparse and the standard
library load here; each command imports what it needs when it runs.
"""

from __future__ import annotations

import argparse
import errno
import os
import sys
from collections.abc import Callable, Sequence

from bg_pppd import __version__
from bg_pppd.util.errors import (
    EXIT_BROKEN_PIPE,
    EXIT_DENIED,
    EXIT_FAILURE,
    EXIT_INTERRUPTED,
    EXIT_NO_RESPONSE,
    EXIT_NOT_REGISTERED,
    EXIT_NOT_RUNNING,
    EXIT_OK,
    EXIT_PROFILE,
    EXIT_SIM,
    EXIT_UNKNOWN,
    BgPppdError,
    ProfileError,
    printable,
)

RUN_DIR_ENV, DEFAULT_RUN_DIR = "BG_PPPD_RUN_DIR", "/run/bg-pppd"
STATE_DIR_ENV, DEFAULT_STATE_DIR = "BG_PPPD_STATE_DIR", "/var/lib/bg-pppd"


def _load(args: argparse.Namespace):
    """The profile, its warnings (a world-readable secret) on stderr; errors raise exit 2."""
    from bg_pppd.profile import model as profile

    loaded = profile.load(args.profile)
    for warning in loaded.warnings:
        print(printable(f"warning: {warning}"), file=sys.stderr)
    return loaded


def _cmd_validate(args: argparse.Namespace) -> int:
    _load(args)
    return 0


def _cmd_render(args: argparse.Namespace) -> int:
    from bg_pppd.link import render

    loaded = _load(args)
    out = args.out or os.path.join(args.run_dir, loaded.name)
    for path in render.render(loaded, out).paths:
        print(printable(path))
    return 0


def _cmd_check(args: argparse.Namespace) -> int:
    from bg_pppd.cli import check as checkcmd

    return checkcmd.run(_load(args), args.state_dir, args.json, args.run_dir)


def _cmd_up(args: argparse.Namespace) -> int:
    from bg_pppd.daemon import main as updown

    return updown.up(_load(args), args.run_dir, args.state_dir)


def _name(arg: str) -> str:
    """``down``/``status`` need only the name: they work even if the profile was edited badly."""
    from bg_pppd.profile.model import profile_name, resolve_path

    return profile_name(resolve_path(arg))


def _cmd_down(args: argparse.Namespace) -> int:
    from bg_pppd.daemon import main as updown

    return updown.down(_name(args.profile), args.run_dir, args.timeout)


def _cmd_status(args: argparse.Namespace) -> int:
    from bg_pppd.daemon import main as updown

    try:
        name = _name(args.profile)
    except ProfileError as exc:  # no profile has that name: its state is unknown (LSB status 4)
        _say(str(exc))
        return EXIT_UNKNOWN
    return updown.status(name, args.run_dir, args.json)


def _cmd_emulate(args: argparse.Namespace) -> int:
    if args.list_commands:  # the AT commands the emulator answers, one line each
        from bg_pppd.emulator import commands

        for line in commands.listing():
            print(line)
        return 0
    from bg_pppd.emulator import runtime

    try:
        return runtime.main(args.link, args.scenario, args.log, args.control, args.at_link)
    except OSError as exc:
        where = f"{exc.filename}: " if exc.filename else ""
        _say(printable(f"bg-pppd emulate: {where}{exc.strerror or exc}"))
        return EXIT_PROFILE
    except ValueError as exc:  # the scenario's problems, one line each
        _say(printable(f"bg-pppd emulate: {exc}"))
        return EXIT_PROFILE


def _cmd_demo(args: argparse.Namespace) -> int:
    from bg_pppd.cli import demo

    return demo.run(args.scenario, args.lab)


class UsageError(BgPppdError):
    exit_code = EXIT_PROFILE


def _check_dirs(args: argparse.Namespace) -> None:
    """Directory names end up in pppd's and chat's files, and in one-line messages: no control
    characters (a newline would start a new option, or forge a line of output)."""
    for option in ("run_dir", "state_dir", "out"):
        value = getattr(args, option, None)
        if value and printable(value) != value:
            raise UsageError(f"bg-pppd: --{option.replace('_', '-')}: {value!r} holds a "
                             "control character (newline, tab, ...) or a format character (a bidi override, "
                             "...): choose another directory name")


def _timeout(text: str) -> float:
    """``down --timeout``: a number of seconds, finite and not negative (nan would never end)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not 0 <= value < float("inf"):
        raise argparse.ArgumentTypeError(f"must be 0 or more seconds, and finite: {text!r}")
    return value


def _columns() -> int:
    """The terminal's width, as shutil.get_terminal_size() finds it, without importing shutil."""
    try:
        columns = int(os.environ.get("COLUMNS", ""))
    except ValueError:
        columns = 0
    if columns <= 0:
        try:
            columns = os.get_terminal_size(sys.__stdout__.fileno()).columns
        except (AttributeError, ValueError, OSError):
            columns = 0
    return columns or 80


class _Formatter(argparse.HelpFormatter):
    """argparse's own, told the width: left alone it imports shutil (and bz2 and lzma with it)
    on every add_argument, which `up` would pay for before it dials."""

    def __init__(self, prog: str) -> None:
        super().__init__(prog, width=_columns() - 2)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="bg-pppd",
        formatter_class=_Formatter,
        description="Bring a Quectel BG95/BG77/BG600L online over PPP and keep it online.",
        epilog="PROFILE is a YAML file, or a name looked up as /etc/bg-pppd/NAME.yaml.",
    )
    parser.add_argument("--version", action="version", version=f"bg-pppd {__version__}")
    parser.add_argument("--run-dir", default=os.environ.get(RUN_DIR_ENV, DEFAULT_RUN_DIR),
                        help=f"rendered files, pid and lock files (${RUN_DIR_ENV}, "
                             f"default {DEFAULT_RUN_DIR})")
    parser.add_argument("--state-dir", default=os.environ.get(STATE_DIR_ENV, DEFAULT_STATE_DIR),
                        help=f"persisted recovery state (${STATE_DIR_ENV}, "
                             f"default {DEFAULT_STATE_DIR})")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    def command(name: str, func: Callable[[argparse.Namespace], int], help: str):
        p = sub.add_parser(name, help=help, description=help, formatter_class=_Formatter)
        p.set_defaults(func=func)
        return p

    p = command("validate", _cmd_validate, "check a profile; print nothing but errors (exit 2)")
    p.add_argument("profile", metavar="PROFILE")
    p = command("render", _cmd_render, "write the pppd peer file and chat scripts; print their paths")
    p.add_argument("profile", metavar="PROFILE")
    p.add_argument("--out", metavar="DIR", help="output directory (default RUN_DIR/<profile>)")
    p = command("check", _cmd_check, "pre-flight only: sync, SIM, PDP context, registration; report "
                f"(exit {EXIT_OK} ready, {EXIT_FAILURE} up runs it or other, {EXIT_PROFILE} profile, "
                f"{EXIT_NO_RESPONSE} no response, {EXIT_SIM} SIM, {EXIT_DENIED} denied, "
                f"{EXIT_NOT_REGISTERED} not registered)")
    p.add_argument("profile", metavar="PROFILE")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p = command("up", _cmd_up, "pre-flight, dial, run and supervise pppd until SIGTERM/SIGINT or down")
    p.add_argument("profile", metavar="PROFILE")
    p = command("down", _cmd_down, "stop the running up for PROFILE cleanly and wait for it")
    p.add_argument("profile", metavar="PROFILE")
    p.add_argument("--timeout", type=_timeout, default=60.0, help="seconds to wait (default 60)")
    p = command("status", _cmd_status, f"the supervisor's state (exit {EXIT_NOT_RUNNING} when not running, "
                f"{EXIT_UNKNOWN} when it cannot be read)")
    p.add_argument("profile", metavar="PROFILE")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p = command("emulate", _cmd_emulate, "run a virtual BG95 on a pseudo-terminal until killed")
    p.add_argument("--link", metavar="PATH", help="symlink to the pty (e.g. /tmp/bg95)")
    p.add_argument("--at-link", metavar="PATH",
                   help="a USB module's separate AT port, symlinked at PATH (--link is then the PPP port)")
    p.add_argument("--scenario", metavar="FILE", help="YAML scenario (boot time, SIM, registration...)")
    p.add_argument("--log", metavar="FILE", help="append every command and event, with timestamps")
    p.add_argument("--control", metavar="SOCKET",
                   help="Unix socket for DTR/RI/faults (default PATH.control with --link)")
    p.add_argument("--list-commands", action="store_true",
                   help="print the AT commands the emulator answers, each with a line on what it does, and exit")
    p = command("demo", _cmd_demo, "the virtual module and the real pre-flight, dial and (as root with "
                "kernel PPP) link, shown live, in a temporary directory that goes on exit")
    p.add_argument("--scenario", metavar="NAME|FILE", default="normal",
                   help="normal (default), hang, drop, no-carrier, or a scenario file as emulate takes it")
    p.add_argument("--lab", action="store_true",
                   help="where this kernel has no PPP: the whole way inside User-Mode Linux (user-mode-linux, root)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = None
    try:
        try:
            args = build_parser().parse_args(argv)
        except SystemExit:
            sys.stdout.flush()  # --help, --version: their output (or its broken pipe), then their exit
            raise
        _check_dirs(args)
        code = args.func(args)
        sys.stdout.flush()
        return code
    except BrokenPipeError:  # `status | head -3`: the reader has gone, which is not an error to print
        _quiet_stdout()
        return EXIT_BROKEN_PIPE
    except BgPppdError as exc:
        # a profile's problems are escaped one by one (each is a line); the rest is one line
        text = str(exc) if isinstance(exc, ProfileError) else printable(exc)
        _say(text if exc.exit_code == EXIT_PROFILE else f"bg-pppd: {text}")
        return exc.exit_code
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except OSError as exc:
        return _os_error(exc, args)


# a directory the user named that cannot hold bg-pppd's files: a usage error, which no
# restart mends (ENOSPC, EIO and the like may pass, and stay failures)
_UNUSABLE = frozenset({errno.ENOTDIR, errno.ENAMETOOLONG, errno.ELOOP, errno.EISDIR, errno.EACCES,
                       errno.EPERM, errno.EROFS, errno.ENOENT, errno.EEXIST})


def _os_error(exc: OSError, args: argparse.Namespace | None) -> int:
    """One line; status 2 (4 for status) when a --run-dir, --state-dir or --out cannot be used."""
    where = os.fspath(exc.filename) if exc.filename is not None else ""
    text = f"bg-pppd: {where}: {exc.strerror or exc}" if where else f"bg-pppd: {exc.strerror or exc}"
    for option in ("run_dir", "state_dir", "out"):
        directory = getattr(args, option, None)
        if directory and where and exc.errno in _UNUSABLE and _within(where, directory):
            flag = f"--{option.replace('_', '-')}"
            _say(printable(f"{text} ({flag} {directory} cannot be used: choose another {flag})"))
            return EXIT_UNKNOWN if getattr(args, "command", None) == "status" else EXIT_PROFILE
    _say(printable(text))
    return EXIT_FAILURE


def _within(path: str, directory: str) -> bool:
    path, directory = os.path.abspath(path), os.path.abspath(directory)
    return path == directory or path.startswith(directory.rstrip("/") + "/")


def _say(text: str) -> None:
    try:
        print(text, file=sys.stderr)
    except BrokenPipeError:
        pass


def _quiet_stdout() -> None:
    """Point stdout at /dev/null: the interpreter's final flush would report the pipe again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError):
        pass
