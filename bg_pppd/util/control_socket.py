"""The emulator's control socket on the wire: one JSON request, one JSON reply, a line each.

Both sides use it: the daemon's emulator line backend (modem.control_lines) and the
emulator's own command-line client; it lives here so that neither imports the other.
"""

from __future__ import annotations

import json
from typing import Any


def control_call(path: str, op: str, timeout: float = 5.0, **args: Any) -> dict[str, Any]:
    """One request to the emulator's control socket, one reply; OSError when it cannot be had."""
    import socket  # only the emulator's lines are a socket

    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout)
        sock.connect(path)
        sock.sendall(json.dumps({"op": op, **args}).encode() + b"\n")
        buf = b""
        while not buf.endswith(b"\n") and len(buf) < 65536:
            chunk = sock.recv(4096)
            if not chunk:
                break
            buf += chunk
    try:
        reply = json.loads(buf or b"{}")
    except ValueError as exc:
        raise OSError(f"{path}: not the emulator's reply ({exc})") from None
    return reply if isinstance(reply, dict) else {}
