"""The profile: what a user writes in YAML, checked and turned into typed values.

Every problem is reported with file, line and key path, all at once, so a
user fixes a profile in one go. Defaults follow the vendor's PPP procedure.
"""

from __future__ import annotations

import dataclasses
import os
import re
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bg_pppd.profile import pppd_options
from bg_pppd.profile import yaml_source as yamlsrc
from bg_pppd.profile.value_kinds import (
    Bands,
    Bool,
    Choice,
    CommandLine,
    DevicePath,
    FilePath,
    Invalid,
    Kind,
    ListOf,
    Number,
    OffOrChoice,
    OneOrList,
    Optional,
    Text,
    key,
)
from bg_pppd.util import safe_files as atomic
from bg_pppd.util.commands import COMMAND_CWD  # where hooks and the reset command run
from bg_pppd.util.errors import Problem, ProfileError

BAUDRATES = (9600, 19200, 38400, 57600, 115200, 230400, 460800, 921600)
NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
# 3GPP TS 23.003: labels of letters, digits and hyphens separated by dots.
# Underscores are seen on some private APNs; nothing else ever is.
APN_RE = r"[A-Za-z0-9]([A-Za-z0-9_.-]{0,98}[A-Za-z0-9])?"
SECRET_RE = r"[ -~]+"  # noqa: S105 - printable ASCII: quoted for pppd, never sent to chat
WEEK = 86400 * 7
# A profile is a few KB and a secret file one line: anything far bigger is a mistake (or
# /dev/zero), refused before it costs a small board its memory.
MAX_PROFILE_BYTES = 64 * 1024
MAX_SECRET_BYTES = 1024
# Floors for the waits that pace a loop: below them a failing module is polled, redialled or
# reset without a pause. Tests scale waits down to these, not below.
RETRY_WAIT = Number(0.5, WEEK, why="failed attempts would follow each other in a busy loop")
STABLE_AFTER = Number(1, WEEK, why="a link that drops at once would count as stable and be "
                                   "redialled at once, in a busy loop")
RESET_WAIT = Number(1, WEEK, why="module resets would follow each other without a pause")
REGISTRATION_TIMEOUT = Number(1, WEEK, why="no module registers that fast: every attempt would fail")

# Keys whose value no message may show (stderr is the journal under systemd); the content
# of pin_file and password_file is never shown either.
SECRET_KEYS = frozenset({("sim", "pin"), ("auth", "password")})

CONFIG_DIR_ENV = "BG_PPPD_CONFIG_DIR"
DEFAULT_CONFIG_DIR = "/etc/bg-pppd"


@dataclass(frozen=True)
class Modem:
    port: str = key(DevicePath(required=True))
    data_port: str = key(DevicePath(), "", "the PPP port; empty = port (main UART)")
    baudrate: int = key(Choice(*BAUDRATES), 115200)
    flow_control: str = key(Choice("none", "rtscts"), "none")
    save_baudrate: bool = key(Bool(), False)
    control_lines: bool = key(Bool(), False, "pppd 'modem' (DCD/DTR wired) instead of 'local'")
    line_backend: str = key(Choice("serial", "emulator"), "serial",
                            "where DTR, DCD and RI are read and set: the port itself (serial), or the "
                            "emulator's control socket PORT.control (emulator; tests and demos)")
    dtr: str = key(Choice("hangup", "command", "ignore"), "hangup", "AT&D2 / AT&D1 / AT&D0")
    dcd: str = key(Choice("carrier", "always"), "carrier", "AT&C1 / AT&C0")
    multiplex: str = key(Choice("none", "cmux"), "none",
                         "cmux: AT and PPP at once on the one UART (AT+CMUX and the kernel's n_gsm; "
                         "DLC 1 = AT, DLC 2 = PPP)")
    # 8..1500: what the kernel's n_gsm accepts as its MRU/MTU; 127 is what BG9x drivers use
    cmux_frame_size: int = key(Number(8, 1500, integer=True), 127,
                               "CMUX N1, the largest frame's information field, in bytes")
    cmux_fallback: str = key(Choice("uart", "exit"), "uart",
                             "no n_gsm in the kernel: run on the plain UART (one warning), or exit "
                             "with the cannot-run-here status")

    @property
    def ppp_port(self) -> str:
        return self.data_port or self.port

    @property
    def separate_at_port(self) -> bool:
        """A USB module: AT commands go to their own port while PPP runs on the modem port."""
        return self.ppp_port != self.port


@dataclass(frozen=True)
class Sim:
    pin: str = key(Text(r"[0-9]{4,8}", "a PIN is 4 to 8 digits, in quotes", secret=True), "")
    pin_file: str = key(FilePath(secret=True), "")


@dataclass(frozen=True)
class Network:
    apn: tuple[str, ...] = key(
        OneOrList(Text(APN_RE, "an APN is letters, digits, dots, hyphens and underscores", max_len=100)),
        ("",), "one APN or a list tried in order (\"\" lets the network pick); the one that worked "
               "is remembered per SIM (ICCID) and tried first")
    pdp_type: str = key(Choice("IP", "IPV6", "IPV4V6"), "IP")
    registration_timeout: float = key(REGISTRATION_TIMEOUT, 180)
    reselect_after: float | None = key(Optional(Number(1, WEEK)), None,
                                       "seconds still searching (or denied) before AT+COPS=0; "
                                       "null = half of registration_timeout")
    bands: tuple[tuple[str, tuple[int, ...]], ...] = key(
        Bands(), (), "per technology, written with AT+QCFG=\"band\" only when different")
    psm: str = key(OffOrChoice("off", "keep"), "off",
                   "off: PSM and eDRX switched off (AT+CPSMS=0, AT+CEDRXS=0); keep: the module's setting")
    poll_interval: float = key(Number(0.05, 600), 2, "how often registration is polled")
    technologies: tuple[str, ...] = key(
        ListOf(Choice("catm1", "nbiot", "egprs"), max_len=3, unique=True), (),
        "allowed radio access in scan order; empty = leave the module's setting")
    dial_number: str = key(Text(r"\*99(\*\*\*[0-9]{1,2})?#", "use *99# or *99***<cid>#"), "*99#")
    data_cap: int = key(Number(0, 2**50, integer=True), 0,
                        "bytes a calendar month (both directions, the probe's too); 0 = no cap")
    data_cap_warning: float = key(Number(1, 100), 80,
                                  "percent of data_cap at which to warn (logged once, hooks.on_cap)")
    data_cap_action: str = key(Choice("warn", "stop"), "warn",
                               "at the cap: warn (logged once, hooks.on_cap), or stop too (hang up, "
                               "no dialling until the month ends)")

    @property
    def reselect_wait(self) -> float:
        """Seconds of searching before the first intervention (AT+COPS=0)."""
        return self.registration_timeout / 2 if self.reselect_after is None else self.reselect_after


@dataclass(frozen=True)
class Auth:
    method: str = key(Choice("none", "pap", "chap"), "none")
    user: str = key(Text(SECRET_RE, "printable ASCII characters only"), "")
    password: str = key(Text(SECRET_RE, "printable ASCII characters only", secret=True), "")
    password_file: str = key(FilePath(secret=True), "")


@dataclass(frozen=True)
class Ppp:
    default_route: bool = key(Bool(), True)
    route_metric: int | None = key(Optional(Number(0, 2**31 - 1, integer=True)), None)
    replace_default_route: bool = key(Bool(), False)
    use_peer_dns: bool = key(Bool(), True)
    dns: str = key(Choice("pppd", "resolvconf", "resolved", "file", "none"), "pppd",
                   "where the network's DNS servers go: pppd's /etc/ppp/resolv.conf, resolvconf, "
                   "systemd-resolved (per link), a file, or nowhere")
    dns_file: str = key(FilePath(), "/etc/resolv.conf", "the file for dns: file")
    lcp_echo_interval: float = key(Number(0, 3600, integer=True), 30)
    lcp_echo_failure: int = key(Number(1, 100, integer=True), 4)
    lcp_echo_adaptive: bool = key(Bool(), True)
    extra_options: tuple[str, ...] = key(ListOf(Text(max_len=100, allow_empty=False)), ())
    debug: bool = key(Bool(), False)


@dataclass(frozen=True)
class Recovery:
    at_timeout: float = key(Number(0.01, 600), 60)
    dial_timeout: float = key(Number(1, 600), 180)
    dial_attempts: int = key(Number(1, 100, integer=True), 3)
    retry_wait: float = key(RETRY_WAIT, 10)
    stable_after: float = key(STABLE_AFTER, 60)
    reset_waits: tuple[float, ...] = key(ListOf(RESET_WAIT, min_len=1), (600, 1800, 3600))
    reset: tuple[str, ...] = key(ListOf(Choice("at", "command"), min_len=1, unique=True), ("at",))
    reset_command: tuple[str, ...] = key(CommandLine(), ())
    boot_timeout: float = key(Number(0.1, 600), 60, "how long a module may take to answer after a reset")




def named_paths(word: str) -> list[str]:
    """The paths a command's argument may name: the word itself, and a path joined to an option
    (-f/abs, -fscript, --opt=/abs, opt=/abs, file:/abs). A relative one is under COMMAND_CWD."""
    found = [word]
    found += [word.split("=", n)[n] for n in range(1, word.count("=") + 1)]
    if word.startswith("-") and not word.startswith("--"):
        found.append(word[2:])  # a one-letter option's value, joined to it
    if word.startswith("-") and "/" in word:
        found.append(word[word.index("/"):])
    found += [word[i:] for i in range(1, len(word)) if word[i] == "/" and word[i - 1] in ":,;@"]
    return [path for path in dict.fromkeys(found) if path]


@dataclass(frozen=True)
class Hooks:
    on_up: tuple[str, ...] = key(CommandLine(), ())
    on_down: tuple[str, ...] = key(CommandLine(), ())
    on_reset: tuple[str, ...] = key(CommandLine(), ())
    on_ring: tuple[str, ...] = key(CommandLine(), ())
    on_cap: tuple[str, ...] = key(CommandLine(), (), "network.data_cap's warning, and the cap reached")
    timeout: float = key(Number(0.1, 3600), 30)


@dataclass(frozen=True)
class Probe:
    # never a leading "-": ping would take the target for an option
    target: str = key(Text(r"[A-Za-z0-9.:\[\]][A-Za-z0-9.:\[\]-]*",
                           "an IP address or host name, optionally :port (never starting with '-')"), "")
    interval: float = key(Number(0.1, 86400), 60)
    failures: int = key(Number(1, 100, integer=True), 3)
    timeout: float = key(Number(0.1, 60), 5, "seconds one probe may take")
    budget: int = key(Number(0, 2**40, integer=True), 0,
                      "bytes a day the probes may use (the interval is stretched to fit); 0 = no limit")
    when_idle: bool = key(Bool(), True, "probe only when nothing was received since the last look")


@dataclass(frozen=True)
class Monitor:
    interval: float = key(Number(0.5, 86400, off=0, why="the queries would keep the AT port busy"), 60,
                          "seconds between radio queries while connected; 0 = off")
    escape: bool = key(Bool(), False, "main UART: leave data mode with +++ for the queries, then ATO")
    read_urcs: bool = key(Bool(), False, "main UART: after an RI pulse, leave data mode to read the "
                                          "pending URCs for on_ring")


@dataclass(frozen=True)
class Metrics:
    textfile: str = key(FilePath(), "", "the link's metrics for node_exporter's textfile collector "
                                        "(a .prom file, written atomically); empty = none")
    interval: float = key(Number(1, 86400), 60, "seconds between readings of the link's byte counters "
                                                "while connected (data usage, status, the metrics file)")


SECTIONS: dict[str, type] = {
    "modem": Modem, "sim": Sim, "network": Network, "auth": Auth, "ppp": Ppp,
    "recovery": Recovery, "hooks": Hooks, "probe": Probe, "monitor": Monitor, "metrics": Metrics,
}


@dataclass(frozen=True)
class Profile:
    name: str
    source: str
    modem: Modem
    sim: Sim
    network: Network
    auth: Auth
    ppp: Ppp
    recovery: Recovery
    hooks: Hooks
    probe: Probe
    monitor: Monitor
    metrics: Metrics = Metrics()
    warnings: tuple[str, ...] = ()

    @property
    def uses_relay(self) -> bool:
        """Main UART with queries or URC reading while connected: pppd runs on our relay's pty."""
        return not self.modem.separate_at_port and (self.monitor.escape or self.monitor.read_urcs)

    @property
    def has_secrets(self) -> bool:
        return bool(self.sim.pin or self.auth.password)


def resolve_path(arg: str) -> Path:
    """A profile argument is a path, or a bare name looked up in /etc/bg-pppd."""
    path = Path(arg)
    # os.path.exists, not Path.exists: a name too long for the kernel is simply not there
    if os.path.exists(arg) or "/" in arg or arg.endswith((".yaml", ".yml")):
        return path
    return Path(os.environ.get(CONFIG_DIR_ENV, DEFAULT_CONFIG_DIR)) / f"{arg}.yaml"


def profile_name(path: Path) -> str:
    """The name used for run files, locks and the systemd instance: the file's stem."""
    name = path.stem
    if not NAME_RE.fullmatch(name):
        raise ProfileError([Problem(str(path), None, "", f"the file name {name!r} cannot name a "
                            "profile: use letters, digits, '.', '_' and '-' (at most 64)")])
    return name


def load(arg: str | os.PathLike[str]) -> Profile:
    """Read, check and resolve a profile (secrets from files included)."""
    path = resolve_path(os.fspath(arg))
    filename = str(path)
    name = profile_name(path)
    try:
        raw = atomic.read_regular(path, MAX_PROFILE_BYTES)
    except OSError as exc:
        raise ProfileError([Problem(filename, None, "", f"cannot read: {exc.strerror}")]) from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ProfileError([Problem(filename, None, "", f"not UTF-8 text (byte {exc.start})")]) from None
    data, lines = yamlsrc.load(text, filename, SECRET_KEYS)
    return _Checker(filename, name, data, lines, path).run()


class _Checker:
    def __init__(self, filename: str, name: str, data: Any, lines: dict, path: Path):
        self.filename, self.name, self.data, self.lines, self.path = filename, name, data, lines, path
        self.problems: list[Problem] = []
        self.warnings: list[str] = []

    def problem(self, path: tuple[str, ...], message: str) -> None:
        line = None
        for n in range(len(path), -1, -1):
            if path[:n] in self.lines:
                line = self.lines[path[:n]]
                break
        self.problems.append(Problem(self.filename, line, yamlsrc.dotted(path), message))

    def run(self) -> Profile:
        data = self.data
        if not isinstance(data, dict):
            self.problem((), "a profile is a mapping of sections (modem:, network:, ...)")
            raise ProfileError(self.problems)
        self.unknown(data, SECTIONS, ())
        sections = {name: self.section(name, cls, data.get(name)) for name, cls in SECTIONS.items()}
        self.check_trusted(self.path)
        if not self.problems:
            self.cross_check(sections)
            self.check_programs(sections)
        if self.problems:
            raise ProfileError(self.problems)
        if sections["sim"].pin or sections["auth"].password:
            self.check_private(self.path, ())
        return Profile(self.name, self.filename, warnings=tuple(self.warnings), **sections)

    def unknown(self, data: dict, known: Any, path: tuple[str, ...]) -> None:
        for k in data:
            if k not in known:
                import difflib  # only a misspelt key needs it

                near = difflib.get_close_matches(k, list(known), n=3, cutoff=0.6)
                # a typo seldom changes the first letter: apm is apn, not psm
                near = [n for n in near if str(k)[:1] == n[:1]] or near
                hint = f"; did you mean {near[0]!r}?" if near else f"; known keys: {', '.join(known)}"
                self.problem((*path, k), f"unknown key{hint}")

    def section(self, name: str, cls: type, value: Any) -> Any:
        if value is None:
            value = {}
        if not isinstance(value, dict):
            self.problem((name,), f"must be a mapping of keys, not {type(value).__name__}")
            value = {}
        fields = {f.name: f for f in dataclasses.fields(cls)}
        self.unknown(value, fields, (name,))
        out = {}
        for fname, f in fields.items():
            kind: Kind = f.metadata["kind"]
            if fname not in value:
                if f.default is dataclasses.MISSING:
                    self.problem((name, fname), "is required")
                    out[fname] = None
                continue
            try:
                out[fname] = kind.convert(value[fname])
            except Invalid as exc:
                self.problem((name, fname), str(exc))
                out[fname] = None
        try:
            return cls(**out)
        except TypeError:
            return None

    def cross_check(self, s: dict[str, Any]) -> None:
        modem, sim, auth, ppp, rec = s["modem"], s["sim"], s["auth"], s["ppp"], s["recovery"]
        if modem.save_baudrate and modem.data_port and modem.data_port != modem.port:
            self.problem(("modem", "save_baudrate"), "applies to the main UART only; this profile "
                         "has a separate data_port (USB), so leave save_baudrate false")
        if modem.multiplex == "cmux" and modem.separate_at_port:
            self.problem(("modem", "multiplex"), "cmux multiplexes the main UART; this profile has a "
                         "separate data_port (USB), which needs none: leave multiplex none")
        if sim.pin and sim.pin_file:
            self.problem(("sim", "pin_file"), "give either pin or pin_file, not both")
        if auth.password and auth.password_file:
            self.problem(("auth", "password_file"), "give either password or password_file, not both")
        if sim.pin_file:
            pin = self.read_secret(("sim", "pin_file"), sim.pin_file)
            if pin is not None:
                if re.fullmatch(r"[0-9]{4,8}", pin):
                    s["sim"] = dataclasses.replace(sim, pin=pin)
                else:
                    self.problem(("sim", "pin_file"), "the file must hold a PIN of 4 to 8 digits")
        if auth.password_file:
            password = self.read_secret(("auth", "password_file"), auth.password_file)
            if password is not None:
                if re.fullmatch(SECRET_RE, password) and len(password) <= 255:
                    s["auth"] = dataclasses.replace(auth, password=password)
                else:
                    self.problem(("auth", "password_file"),
                                 "the file must hold one line of printable ASCII characters (at most 255)")
        if auth.method != "none" and not auth.user:
            self.problem(("auth", "user"), f"is required with method {auth.method}")
        if auth.method == "none" and (auth.user or auth.password or auth.password_file):
            self.problem(("auth", "method"), "is none, but a user or password is given: "
                         "set method to pap or chap, or remove them")
        net = s["network"]
        if net.reselect_after is not None and net.reselect_after >= net.registration_timeout:
            self.problem(("network", "reselect_after"), f"must be less than registration_timeout "
                         f"({net.registration_timeout:g} s): AT+COPS=0 comes before the radio off/on")
        if "command" in rec.reset and not rec.reset_command:
            self.problem(("recovery", "reset_command"), "is required when reset lists 'command'")
        if s["probe"].target:
            from bg_pppd.profile.probe_target import parse_target

            try:
                parse_target(s["probe"].target)
            except ValueError as exc:
                self.problem(("probe", "target"), str(exc))
        mon = s["monitor"]
        main_uart = not modem.separate_at_port
        if main_uart and mon.escape and 0 < mon.interval < 10:
            self.problem(("monitor", "interval"), "each +++/ATO round holds the link about 3 s: "
                         "with escape, query every 10 s or more")
        if main_uart and (mon.escape or mon.read_urcs) and ppp.lcp_echo_interval and \
                ppp.lcp_echo_interval * ppp.lcp_echo_failure < 10:
            self.problem(("ppp", "lcp_echo_failure"), "a +++/ATO round holds the link about 3 s; "
                         "with monitor escape or read_urcs, LCP echo must allow 10 s or more "
                         "(lcp_echo_interval x lcp_echo_failure)")
        textfile = s["metrics"].textfile
        if textfile and (not textfile.endswith(".prom") or textfile.endswith("/.prom")):
            self.problem(("metrics", "textfile"), "must name a .prom file: node_exporter's textfile "
                         "collector reads only those")
        if ppp.replace_default_route and not ppp.default_route:
            self.problem(("ppp", "replace_default_route"), "needs default_route: true")
        seen: set[str] = set()
        for index, entry in enumerate(ppp.extra_options):
            try:
                words = pppd_options.check(entry)
            except ValueError as exc:
                self.problem(("ppp", "extra_options", str(index)), str(exc))
                continue
            if words[0] in seen:
                self.problem(("ppp", "extra_options", str(index)), f"{words[0]!r} is given twice")
            seen.add(words[0])
            if words[0] in ("mtu", "mru") and s["network"].pdp_type != "IP" and int(words[1]) < 1280:
                self.problem(("ppp", "extra_options", str(index)), f"IPv6 needs {words[0]} 1280 or more "
                             f"(pdp_type {s['network'].pdp_type})")
        for pair in pppd_options.EXCLUSIVE:
            if set(pair) <= seen:
                self.problem(("ppp", "extra_options"), f"give {pair[0]!r} or {pair[1]!r}, not both "
                             "(pppd refuses the pair)")

    def check_trusted(self, path: Path) -> None:
        """Root acts on the profile (its hooks run as root): only root may be able to change it."""
        try:
            reason = atomic.distrust(path)
        except OSError as exc:
            reason = f"cannot check who can change it: {exc.strerror}"
        if reason:
            self.problems.append(Problem(self.filename, None, "", f"{reason}: whoever can change the "
                                         "profile can make root run their commands; make it and its "
                                         "directories root's alone (chown root, chmod go-w)"))

    def check_programs(self, s: dict[str, Any]) -> None:
        """Hooks and the reset command run as root: a program, or a file or directory an argument
        names (a script given to an interpreter, -f/x.awk, --config=x, a relative path), that
        another user can change, or put in place, is a root shell for them. Refused."""
        commands = {("hooks", name): getattr(s["hooks"], name) for name in ("on_up", "on_down", "on_reset",
                                                                              "on_ring", "on_cap")}
        commands[("recovery", "reset_command")] = s["recovery"].reset_command
        for where, words in commands.items():
            for index, word in enumerate(words):
                problem = self._untrusted_program(word) if index == 0 else self._untrusted_argument(word)
                if problem:
                    self.problem(where, problem)
                    break

    @staticmethod
    def _untrusted_program(word: str) -> str | None:
        try:
            reason = atomic.distrust(word)
        except OSError:  # not ours to see (a non-root validate): root's up checks it
            return None
        return reason and (f"{reason}, and root runs it: make {word} and its directories root's alone "
                           "(chown root, chmod go-w)")

    @staticmethod
    def _untrusted_argument(word: str) -> str | None:
        for part in named_paths(word):
            path = os.path.join(COMMAND_CWD, part)
            try:
                st = os.stat(path)
            except (FileNotFoundError, NotADirectoryError):
                st = None  # missing: who could put it there?
            except OSError:  # not ours to see (a non-root validate), or no path at all (too long)
                continue
            if st is not None and not (stat.S_ISREG(st.st_mode) or stat.S_ISDIR(st.st_mode)):
                continue  # a device (/dev/null): no program or script comes from it
            try:
                # a sticky directory (/tmp) is fine: others add files there, but change none of root's
                reason = atomic.distrust(path, shared_ok=True)
            except OSError:
                continue
            if reason:
                if part != path:
                    named = f"{word} (naming {path}: commands run in {COMMAND_CWD})"
                else:
                    named = word if part == word else f"{word} (naming {path})"
                return (f"{reason}, and root runs it with {named}: make {path} and its directories "
                        "root's alone (chown root, chmod go-w)")
        return None

    def read_secret(self, where: tuple[str, ...], path: str) -> str | None:
        try:
            text = atomic.read_regular(path, MAX_SECRET_BYTES).decode("utf-8")
        except UnicodeDecodeError:
            self.problem(where, f"cannot read {path}: not UTF-8 text")
            return None
        except OSError as exc:
            self.problem(where, f"cannot read {path}: {exc.strerror}")
            return None
        self.check_private(Path(path), where)
        try:
            reason = atomic.distrust(path)
        except OSError:
            reason = None
        if reason:
            self.warnings.append(f"{self.filename}: {yamlsrc.dotted(where)}: {reason}: another user can "
                                 f"change the secret; make {path} root's alone (chown root, chmod 600)")
        return text.strip("\r\n")

    def check_private(self, path: Path, where: tuple[str, ...]) -> None:
        try:
            mode = path.stat().st_mode
        except OSError:
            return
        if mode & stat.S_IRWXO:
            label = f"{yamlsrc.dotted(where)}: " if where else ""
            self.warnings.append(f"{self.filename}: {label}{path} holds a secret but is readable by "
                                 f"every user (mode {stat.S_IMODE(mode):04o}); run: chmod 600 {path}")
