"""A probe target as the profile writes it: a host to ping, or host:port to connect to.

The profile checks it when it loads; the link's prober uses the same parse.
"""

from __future__ import annotations


def parse_target(target: str) -> tuple[str, int | None]:
    """``10.0.0.1`` -> ping; ``host:443`` or ``[2001:db8::1]:443`` -> TCP connect."""
    if target.startswith("["):
        host, _, rest = target[1:].partition("]")
        if rest and not rest.startswith(":"):
            raise ValueError(f"{target!r}: write [IPv6]:port")
        port = rest[1:] or None
    elif target.count(":") == 1:
        host, port = target.split(":")
    else:
        host, port = target, None
    if not host:
        raise ValueError(f"{target!r} has no host")
    if host.startswith("-"):
        raise ValueError(f"{target!r}: a host cannot start with '-' (ping would read it as an option)")
    if port is None:
        return host, None
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"{target!r}: the port must be 1 to 65535")
    return host, int(port)
