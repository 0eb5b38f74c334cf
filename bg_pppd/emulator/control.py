"""Client for the emulator's control socket: the simulated DTR/DCD/RI lines and faults.

Also a tiny command line, so a profile's ``reset_command`` can pulse the
virtual module's reset line in tests: ``python3 -m bg_pppd.emulator.control SOCK reset``.
"""

from __future__ import annotations

import json
import sys
from typing import Any

from bg_pppd.util.control_socket import control_call


def call(path: str, op: str, timeout: float = 5.0, **args: Any) -> dict[str, Any]:
    """One request, one reply: the wire format is in util.control_socket, shared with the
    daemon's emulator line backend (which may not import the emulator)."""
    return control_call(path, op, timeout, **args)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) < 2:
        print("usage: python3 -m bg_pppd.emulator.control SOCKET status|reset|reboot|hang|power_on|drop|"
              "pdp_deact [CID]|ring [KIND]|dtr 0|1|blackhole [0|1]", file=sys.stderr)
        return 2
    path, op, rest = argv[0], argv[1], argv[2:]
    args: dict[str, Any] = {}
    if op in ("dtr", "blackhole"):
        args["value"] = rest[:1] != ["0"] if op == "blackhole" else rest[:1] == ["1"]
    elif op == "ring" and rest:
        args["kind"] = rest[0]
    elif op == "pdp_deact" and rest:
        if not rest[0].isdigit():
            print(f"emulator control: pdp_deact takes a context id (1-15), not {rest[0]!r}", file=sys.stderr)
            return 2
        args["cid"] = int(rest[0])
    try:
        reply = call(path, op, **args)
    except OSError as exc:
        print(f"emulator control {path}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    print(json.dumps(reply))
    return 0 if reply.get("ok") else 1


if __name__ == "__main__":
    raise SystemExit(main())
