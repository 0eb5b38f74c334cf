"""Which extra pppd options a profile may add, and why the others are refused.

pppd runs as root and several of its options run programs or load code, so
extra options are an allowlist: a name, how many arguments, and their form.
"""

from __future__ import annotations

import re

_HEX = r"(0x)?[0-9A-Fa-f]{1,8}"
# pppd reads numbers with strtoul(..., 0): "010" is 8 and "08" is 0, so no leading zeros
_UINT = re.compile(r"0|[1-9][0-9]{0,9}")

FLAGS = (
    "novj", "novjccomp", "noccp", "nobsdcomp", "nodeflate", "nopredictor1", "nopcomp",
    "noaccomp", "noendpoint", "debug", "default-asyncmap", "noipdefault",
    "ipcp-accept-local", "ipcp-accept-remote", "ipcp-no-addresses", "ipcp-no-address",
    "noremoteip", "nodefaultroute6", "defaultroute6", "ipv6cp-use-ipaddr",
    "ipv6cp-use-persistent", "nomp",
)

# option -> (lowest, highest): pppd's own limits where it has them (mtu: OPT_LIMITS 128..16384 in
# lcp.c; mru: 128..16384 in pppd(8)), else a range that keeps the option meaningful: pppd takes
# any int for the counts and timers, and 0 would make a retransmission timer fire at once.
NUMERIC: dict[str, tuple[int, int]] = {
    "mtu": (128, 16384), "mru": (128, 16384),
    # pppd(8): bits 2 and 4 print the packets' contents, a PAP password with them
    "kdebug": (0, 1),
    **{f"{proto}-max-{what}": (1, 1000) for proto in ("lcp", "ipcp", "ipv6cp")
       for what in ("configure", "failure", "terminate")},
    **{f"{proto}-restart": (1, 3600) for proto in ("lcp", "ipcp", "ipv6cp", "pap", "chap")},
    "pap-max-authreq": (1, 1000), "chap-max-challenge": (1, 1000),
    "pap-timeout": (0, 3600),        # 0: no limit
    "chap-interval": (0, 86400),     # 0: never rechallenge
    "connect-delay": (0, 600000),    # milliseconds
    "idle": (0, 10**9),              # seconds; 0: never
    "maxconnect": (0, 10**9),        # seconds; 0: no limit
}

# option -> argument patterns (empty: a flag), for the options that are neither flags nor numbers
WORDS: dict[str, tuple[str, ...]] = {
    "asyncmap": (_HEX,),
    "ifname": (r"[A-Za-z][A-Za-z0-9_-]{0,14}",),
}

ALLOWED: dict[str, tuple[str, ...]] = {
    **{name: () for name in FLAGS}, **{name: ("number",) for name in NUMERIC}, **WORDS,
}

# Pairs pppd refuses together: the "no" option disables the other ("defaultroute6 option is disabled").
EXCLUSIVE: tuple[tuple[str, str], ...] = (("defaultroute6", "nodefaultroute6"),)

# Options refused with a reason of their own, beyond "not allowed".
REFUSED: dict[str, str] = {
    "show-password": "it writes the PAP/CHAP password into the log (the journal, with debug)",
    "hide-password": "the password is always hidden",
}

# Options the profile already controls: point to the key instead.
MANAGED: dict[str, str] = {
    "lcp-echo-interval": "ppp.lcp_echo_interval", "lcp-echo-failure": "ppp.lcp_echo_failure",
    "lcp-echo-adaptive": "ppp.lcp_echo_adaptive",
    "defaultroute": "ppp.default_route", "nodefaultroute": "ppp.default_route",
    "defaultroute-metric": "ppp.route_metric", "replacedefaultroute": "ppp.replace_default_route",
    "usepeerdns": "ppp.use_peer_dns", "user": "auth.user", "password": "auth.password",
    "name": "auth.user", "crtscts": "modem.flow_control", "nocrtscts": "modem.flow_control",
    "local": "modem.control_lines", "modem": "modem.control_lines",
    "noipv6": "network.pdp_type", "+ipv6": "network.pdp_type", "noip": "network.pdp_type",
    "refuse-pap": "auth.method", "refuse-chap": "auth.method", "require-pap": "auth.method",
    "require-chap": "auth.method",
}


def check(entry: str) -> tuple[str, ...]:
    """Split one extra option into words, or raise ValueError saying why it is refused."""
    words = entry.split()
    if not words:
        raise ValueError("is empty")
    name, args = words[0], words[1:]
    if name in MANAGED:
        raise ValueError(f"{name!r} is set by the profile key {MANAGED[name]}; use that instead")
    if name in REFUSED:
        raise ValueError(f"{name!r} is refused: {REFUSED[name]}")
    if name not in ALLOWED:
        raise ValueError(
            f"{name!r} is not an allowed pppd option (pppd runs as root; options that run "
            "programs, load plugins, read files or change the device are never accepted)")
    patterns = ALLOWED[name]
    if len(args) != len(patterns):
        raise ValueError(f"{name!r} takes {len(patterns)} argument(s), not {len(args)}")
    if name in NUMERIC:
        lo, hi = NUMERIC[name]
        if not (_UINT.fullmatch(args[0]) and lo <= int(args[0]) <= hi):
            raise ValueError(f"{name!r} takes a whole number from {lo} to {hi} (no leading zeros), "
                             f"not {args[0]!r}")
        return tuple(words)
    for arg, pattern in zip(args, patterns):
        if not re.fullmatch(pattern, arg):
            raise ValueError(f"{name!r}: {arg!r} is not a valid argument")
    return tuple(words)
