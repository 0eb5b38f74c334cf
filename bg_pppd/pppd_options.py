"""Which extra pppd options a profile may add, and why the others are refused.

pppd runs as root and several of its options run programs or load code, so
extra options are an allowlist: a name, how many arguments, and their form.
"""

from __future__ import annotations

import re

_INT = r"[0-9]{1,6}"
_HEX = r"(0x)?[0-9A-Fa-f]{1,8}"

# option -> argument patterns (empty: a flag)
ALLOWED: dict[str, tuple[str, ...]] = {
    **{name: () for name in (
        "novj", "novjccomp", "noccp", "nobsdcomp", "nodeflate", "nopredictor1", "nopcomp",
        "noaccomp", "noendpoint", "debug", "default-asyncmap", "noipdefault",
        "ipcp-accept-local", "ipcp-accept-remote", "ipcp-no-addresses", "ipcp-no-address",
        "noremoteip", "nodefaultroute6", "defaultroute6", "ipv6cp-use-ipaddr",
        "ipv6cp-use-persistent", "show-password", "nomp",
    )},
    **{name: (_INT,) for name in (
        "mtu", "mru", "kdebug", "lcp-max-configure", "lcp-max-failure", "lcp-max-terminate",
        "lcp-restart", "ipcp-max-configure", "ipcp-max-failure", "ipcp-max-terminate",
        "ipcp-restart", "ipv6cp-max-configure", "ipv6cp-max-failure", "ipv6cp-max-terminate",
        "ipv6cp-restart", "pap-max-authreq", "pap-restart", "pap-timeout", "chap-max-challenge",
        "chap-restart", "chap-interval", "connect-delay", "idle", "maxconnect",
    )},
    "asyncmap": (_HEX,),
    "ifname": (r"[A-Za-z][A-Za-z0-9_-]{0,14}",),
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
    if name not in ALLOWED:
        raise ValueError(
            f"{name!r} is not an allowed pppd option (pppd runs as root; options that run "
            "programs, load plugins, read files or change the device are never accepted)")
    patterns = ALLOWED[name]
    if len(args) != len(patterns):
        raise ValueError(f"{name!r} takes {len(patterns)} argument(s), not {len(args)}")
    for arg, pattern in zip(args, patterns):
        if not re.fullmatch(pattern, arg):
            raise ValueError(f"{name!r}: {arg!r} is not a valid argument")
    return tuple(words)
