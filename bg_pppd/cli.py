"""The ``bg-pppd`` command line.

Start-up time matters on slow ARM boards: only argparse and the standard
library load here; each command imports what it needs when it runs.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence

from . import __version__
from .errors import EXIT_FAILURE, EXIT_PROFILE, BgPppdError

RUN_DIR_ENV, DEFAULT_RUN_DIR = "BG_PPPD_RUN_DIR", "/run/bg-pppd"
STATE_DIR_ENV, DEFAULT_STATE_DIR = "BG_PPPD_STATE_DIR", "/var/lib/bg-pppd"


def _load(args: argparse.Namespace):
    """The profile, its warnings (a world-readable secret) on stderr; errors raise exit 2."""
    from . import profile

    loaded = profile.load(args.profile)
    for warning in loaded.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    return loaded


def _cmd_validate(args: argparse.Namespace) -> int:
    _load(args)
    return 0


def _cmd_render(args: argparse.Namespace) -> int:
    from . import render

    loaded = _load(args)
    out = args.out or os.path.join(args.run_dir, loaded.name)
    for path in render.render(loaded, out).paths:
        print(path)
    return 0


def _cmd_check(args: argparse.Namespace) -> int:
    from . import checkcmd

    return checkcmd.run(_load(args), args.state_dir, args.json)


def _cmd_up(args: argparse.Namespace) -> int:
    from . import updown

    return updown.up(_load(args), args.run_dir, args.state_dir)


def _name(arg: str) -> str:
    """``down``/``status`` need only the name: they work even if the profile was edited badly."""
    from .profile import profile_name, resolve_path

    return profile_name(resolve_path(arg))


def _cmd_down(args: argparse.Namespace) -> int:
    from . import updown

    return updown.down(_name(args.profile), args.run_dir, args.timeout)


def _cmd_status(args: argparse.Namespace) -> int:
    from . import updown

    return updown.status(_name(args.profile), args.run_dir, args.json)


def _cmd_emulate(args: argparse.Namespace) -> int:
    from .emulator import runtime

    try:
        return runtime.main(args.link, args.scenario, args.log, args.control, args.at_link)
    except (ValueError, OSError) as exc:
        print(f"bg-pppd emulate: {exc}", file=sys.stderr)
        return EXIT_PROFILE


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
                "(exit 0 ready, 10 no response, 11 SIM, 12 denied, 13 not registered)")
    p.add_argument("profile", metavar="PROFILE")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p = command("up", _cmd_up, "pre-flight, dial, run and supervise pppd until SIGTERM/SIGINT or down")
    p.add_argument("profile", metavar="PROFILE")
    p = command("down", _cmd_down, "stop the running up for PROFILE cleanly and wait for it")
    p.add_argument("profile", metavar="PROFILE")
    p.add_argument("--timeout", type=float, default=60.0, help="seconds to wait (default 60)")
    p = command("status", _cmd_status, "the supervisor's state (exit 3 when not running)")
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
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except BgPppdError as exc:
        print(f"bg-pppd: {exc}" if exc.exit_code != 2 else str(exc), file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        return 130
    except OSError as exc:
        print(f"bg-pppd: {exc.strerror or exc}: {exc.filename or ''}".rstrip(": "), file=sys.stderr)
        return EXIT_FAILURE
