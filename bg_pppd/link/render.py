"""Render a profile into a pppd peer file and chat scripts.

The templates only lay text out; every value is computed and quoted here, so
no template can forget to quote. StrictUndefined turns a misspelt variable
into an error at render time instead of an empty option.
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass
from pathlib import Path

from bg_pppd.link.quoting import chat_string, pppd_word, shell_command
from bg_pppd.profile.model import Profile
from bg_pppd.util import safe_files as atomic
from bg_pppd.util.errors import EXIT_PROFILE, BgPppdError
from bg_pppd.util.package_data import templates_dir
from bg_pppd.util.programs import find

PEER = "peer"
CONNECT = "connect.chat"
DISCONNECT = "disconnect.chat"
STAMP = ".stamp"
MAX_RENDERED_BYTES = 256 * 1024
OUT_FIX = "remove it or choose another directory (bg-pppd creates a missing one, mode 0700)"


class RenderError(BgPppdError):
    """The files cannot be written where asked (a name pppd's files cannot hold)."""

    exit_code = EXIT_PROFILE


@dataclass(frozen=True)
class Rendered:
    directory: Path
    peer: Path
    connect: Path
    disconnect: Path

    @property
    def paths(self) -> tuple[Path, Path, Path]:
        return (self.peer, self.connect, self.disconnect)


def find_chat() -> str:
    return find("chat") or "/usr/sbin/chat"


def _env():
    import jinja2  # heavy: imported only when rendering

    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(templates_dir())),
        undefined=jinja2.StrictUndefined,
        autoescape=False,  # noqa: S701 - pppd/chat files, not HTML; values are quoted in Python
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def pdp_context_command(profile: Profile, cid: int = 1, apn: str | None = None) -> str:
    """The first APN unless told (the daemon sets the context in its pre-flight instead)."""
    net = profile.network
    return f'AT+CGDCONT={cid},"{net.pdp_type}","{net.apn[0] if apn is None else apn}"'


def _chat_seconds(seconds: float) -> int:
    """chat's TIMEOUT is whole seconds; round up and never below 1."""
    return max(1, math.ceil(seconds))


def relay_link(profile: Profile, directory: Path) -> Path:
    return directory / f"pty-{profile.name}"


def peer_options(profile: Profile, directory: Path, chat: str) -> list[str]:
    """The options, one line each, already quoted for pppd."""
    m, a, p = profile.modem, profile.auth, profile.ppp
    chat_argv = [chat, "-s", "-S"] + (["-v"] if p.debug else [])
    lines = [
        # with the relay, pppd's tty is a pty the relay links here (pppd's lock is named after it)
        pppd_word(str(relay_link(profile, directory)) if profile.uses_relay else m.ppp_port),
        str(m.baudrate),
        "crtscts" if m.flow_control == "rtscts" else "nocrtscts",
        "modem" if m.control_lines and not profile.uses_relay else "local",
        "lock",
        "noauth",
        "connect " + pppd_word(shell_command([*chat_argv, "-f", str(directory / CONNECT)])),
        "disconnect " + pppd_word(shell_command([*chat_argv, "-f", str(directory / DISCONNECT)])),
        "noipdefault",
        "ipcp-accept-local",
        "ipcp-accept-remote",
        "linkname " + pppd_word(f"bg-pppd-{profile.name}"),
        "ipparam " + pppd_word(profile.name),
        "maxfail 1",
        "nopersist",
        # one LCP Terminate-Request: a live peer acks it at once, a dead line wastes one timeout
        "lcp-max-terminate 1",
    ]
    if profile.network.pdp_type == "IP":
        lines.append("noipv6")
    elif profile.network.pdp_type == "IPV6":
        lines += ["+ipv6", "noip"]
    else:
        lines.append("+ipv6")
    if p.default_route:
        lines.append("defaultroute")
        if p.route_metric is not None:
            lines.append(f"defaultroute-metric {p.route_metric}")
        if p.replace_default_route:
            lines.append("replacedefaultroute")
    else:
        lines.append("nodefaultroute")
    if p.use_peer_dns:
        lines.append("usepeerdns")
    if p.lcp_echo_interval:
        lines += [f"lcp-echo-interval {int(p.lcp_echo_interval)}",
                  f"lcp-echo-failure {p.lcp_echo_failure}"]
        if p.lcp_echo_adaptive:
            lines.append("lcp-echo-adaptive")
    else:
        lines += ["lcp-echo-interval 0"]
    if a.method != "none":
        lines += ["user " + pppd_word(a.user), "password " + pppd_word(a.password), "hide-password"]
        refused = ("refuse-chap", "refuse-mschap", "refuse-mschap-v2", "refuse-eap") \
            if a.method == "pap" else ("refuse-pap", "refuse-mschap", "refuse-mschap-v2", "refuse-eap")
        lines += refused
    else:
        lines += ["refuse-pap", "refuse-chap", "refuse-mschap", "refuse-mschap-v2", "refuse-eap"]
    if p.debug:
        lines.append("debug")
    lines += [" ".join(words) for words in (e.split() for e in p.extra_options)]
    return lines


def render(profile: Profile, directory: str | os.PathLike[str], *, set_context: bool = True,
           chat: str | None = None) -> Rendered:
    """Write the three files atomically, mode 0600 (the peer file may hold a password).

    ``set_context``: the connect script sets the APN itself, so the files work
    with a plain ``pppd file``; ``up`` turns it off because its pre-flight has
    already set the context (and writes it only when it differs). Only a script
    that sends the APN turns echo off first: the APN's echo could hold an ABORT
    word, while the echoes of AT and ATD*99# cannot, so ``up``'s script saves
    that exchange (a USB module's modem port keeps its own echo setting anyway).
    """
    out = Path(directory)
    chat = chat or find_chat()
    rec = profile.recovery
    try:  # before anything is created: a name pppd's or chat's files cannot hold is refused
        context = {
            "profile": profile.name,
            "source": re.sub(r"[\x00-\x1f\x7f]", "?", profile.source),
            "options": peer_options(profile, out, chat),
            "at_timeout": _chat_seconds(rec.at_timeout),
            "dial_timeout": _chat_seconds(rec.dial_timeout),
            "context_command": chat_string(pdp_context_command(profile)) if set_context else "",
            "dial_command": chat_string("ATD" + profile.network.dial_number),
        }
    except ValueError as exc:
        raise RenderError(f"cannot render into {out}: {exc}") from None
    atomic.private_dir(out, fix=OUT_FIX)
    paths = Rendered(out, out / PEER, out / CONNECT, out / DISCONNECT)
    source = _rendered_from(context)
    if _unchanged(out, source):
        return paths  # unchanged: no need to load Jinja2 (start-up time and memory on small boards)
    env = _env()
    files = {name: env.get_template(f"{name}.j2").render(**context) for name in (PEER, CONNECT, DISCONNECT)}
    for name, text in files.items():
        atomic.write(out / name, text, mode=0o600)
    import json

    atomic.write(out / STAMP, json.dumps({"source": source, "files": files}), mode=0o600)
    return paths


def _unchanged(out: Path, source: str) -> bool:
    """The stamp says the files were rendered from ``source``, and they are still exactly that:
    regular files of ours, mode 0600, with the content the stamp recorded. Anything else (a file
    swapped, edited, chmodded or replaced by a symlink) is rendered again."""
    import json

    try:
        stamp = json.loads(atomic.read_regular(out / STAMP, 4 * MAX_RENDERED_BYTES, follow=False, mode=0o600))
        if stamp["source"] != source:
            return False
        for name in (PEER, CONNECT, DISCONNECT):
            data = atomic.read_regular(out / name, MAX_RENDERED_BYTES, follow=False, mode=0o600)
            if data != stamp["files"][name].encode("utf-8"):
                return False
    except (OSError, ValueError, KeyError, TypeError, AttributeError, RecursionError):
        return False
    return True


def _rendered_from(context: dict) -> str:
    """What the files are rendered from, kept whole in the stamp (0600, beside the peer file with
    the same secrets) with the files as rendered: comparing needs no hash, and hashlib's OpenSSL
    load costs start-up time."""
    import json

    parts = [json.dumps(context, sort_keys=True)]
    parts += [(templates_dir() / f"{name}.j2").read_text(encoding="utf-8") for name in (PEER, CONNECT, DISCONNECT)]
    return "\n".join(parts)
