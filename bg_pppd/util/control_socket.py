"""The emulator's control socket on the wire: one JSON request, one JSON reply, a line each.

Both sides use it: the daemon's emulator line backend (modem.control_lines) and the
emulator's own command-line client; it lives here so that neither imports the other.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator
from typing import Any

# sun_path holds 108 bytes with its NUL: a longer path (a deep TMPDIR, say) cannot be bound or
# connected to as it is
SUN_PATH_MAX = 107


@contextlib.contextmanager
def socket_address(path: str) -> Iterator[str]:
    """An address for bind() or connect() that names ``path``, however long: the path itself when
    it fits, else the same file through its directory's descriptor (/proc/self/fd/N/NAME)."""
    if len(os.fsencode(path)) <= SUN_PATH_MAX:
        yield path
        return
    directory, name = os.path.split(path)
    fd = os.open(directory or ".", os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        yield f"/proc/self/fd/{fd}/{name}"
    finally:
        os.close(fd)


def control_call(path: str, op: str, timeout: float = 5.0, **args: Any) -> dict[str, Any]:
    """One request to the emulator's control socket, one reply; OSError when it cannot be had."""
    import socket  # only the emulator's lines are a socket

    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout)
        with socket_address(path) as address:
            sock.connect(address)
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
