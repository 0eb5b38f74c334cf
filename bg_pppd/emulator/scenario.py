"""What the virtual module is like: a YAML scenario with realistic defaults.

Durations are the module's (seconds) and are multiplied by ``time_scale`` so
tests run fast; protocol timings that the host itself must respect (the +++
guard times, the 120 ms RI pulse) are never scaled.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

CHOICES = {"sim": ("ready", "pin", "puk", "absent", "failure"), "rat": ("catm1", "nbiot", "gsm"),
           "network": ("auto", "pppd", "sink"), "port": ("usb", "uart"),
           "stuck_until": ("none", "cops", "cfun")}
BOOT_TIMES = (("BG96", 4.9), ("", 2.5))  # model prefix -> seconds from power-on to RDY; first match wins
SCALED = ("boot_time", "reboot_time", "boot_urc_gap", "sim_busy", "dial_delay", "response_delay",
          "cfun_delay", "noise_interval", "hangup_delay", "usb_drop_delay")


@dataclass
class Scenario:
    time_scale: float = 1.0
    manufacturer: str = "Quectel"
    model: str = "BG95-M3"
    revision: str = "BG95M3LAR02A03"
    imei: str = "866425012345678"
    iccid: str = "89882280666012345678"
    imsi: str = "262011234567890"
    port: str = "usb"                 # usb: the port vanishes while the module reboots; uart: it stays
    at_port: bool = False             # usb: a separate AT port beside the modem (PPP) port; URCs go there
    boot_at_start: bool = True
    # silence after power-on before RDY; null = the model's: its UART is ready about 2.5 s after
    # power-on on a BG95/BG77, 4.9 s on a BG96 (field-notes.md, Particle's Quectel NCP client)
    boot_time: float | None = None
    reboot_time: float = 5.5          # silence after AT+CFUN=1,1 or a reset
    usb_drop_delay: float = 0.3       # a USB module leaves the bus this long after the reset
    boot_urc_gap: float = 0.3
    echo: bool = True
    sim: str = "ready"                # ready | pin | puk | absent | failure
    pin: str = "1234"
    puk: str = "12345678"
    pin_tries: int = 3
    sim_busy: float = 0.0             # after RDY, AT+CPIN? answers +CME ERROR: 14 this long
    rat: str = "catm1"                # catm1 | nbiot | gsm: what the network offers
    registration: list = field(default_factory=lambda: [[0, 2], [2.0, 1]])  # [seconds, stat]
    # a search that stays at stuck_stat (2 searching, 3 denied, 0 not searching), whatever the time,
    # until AT+COPS=0 (cops; the radio off/on mends it too) or AT+CFUN=0/4 then 1 (cfun); the
    # registration timeline plays from that moment. none: the timeline plays from the search's start
    stuck_until: str = "none"
    stuck_stat: int = 2
    # AT+COPS=0 resets nwscanmode to 0 (automatic), as some firmware does (Particle PR 2112);
    # null = the model's: the BG95 family does (where it was seen), others keep it
    cops_resets_scanmode: bool | None = None
    operator: str = "Example"
    mcc_mnc: str = "26202"
    band: str = "LTE BAND 20"
    channel: int = 6300
    rssi: int = 20
    rsrp: int = -93
    sinr: int = 160
    rsrq: int = -10
    dial_delay: float = 0.5
    dial_results: list = field(default_factory=list)  # results of the first dials, then CONNECT
    # APNs the network accepts in context 1 ("" = its default APN, when listed); [] = any. Another
    # one is rejected as a network does it (ESM cause 27): ATD answers NO CARRIER after dial_delay
    apns: list = field(default_factory=list)
    connect_text: str = "CONNECT 150000000"
    hang_after: int | None = None     # stop answering after this many commands, until a reset
    reboot_after: int | None = None   # reboot by itself (once) after this many commands
    response_delay: float = 0.0       # every answer this late (the module still answers in order)
    slow_commands: dict = field(default_factory=dict)  # {command prefix: extra seconds}: a slow SIM, say
    reboot_on: str = ""               # reboot by itself (once), unanswered, on a command with this prefix
    qpinc: bool = True                # False: AT+QPINC unsupported (ERROR), as on some firmware
    replies: dict = field(default_factory=dict)  # {command line: [lines..., final]}: a firmware's quirks
    cfun_delay: float = 0.2
    hangup_delay: float = 0.1
    noise: list = field(default_factory=list)  # URC lines sent between answers
    noise_interval: float = 0.0
    network: str = "auto"             # auto | pppd | sink: the far side of the data call
    network_pppd: list = field(default_factory=lambda: [
        "10.64.64.1:10.64.64.2", "noauth", "local", "passive", "noipv6", "lcp-echo-interval", "0",
        "ms-dns", "10.64.64.53"])
    network_log: str = ""             # pppd's debug log file for the network side
    baudrate: int = 115200            # the rate saved in the module (AT&W)
    iotopmode: int = 2
    nwscanseq: str = "020301"
    nwscanmode: int = 0
    firmware: str = ""                # AT+QGMR, the full firmware id; "" = revision + "_01.200.01.200"
    # the settings AT+QCFG=? lists and AT+QCFG takes, e.g. without "nwscanmode" as on some BG95/BG77
    # firmware (then AT+QCFG="nwscanmode" answers ERROR); [] = the model's (emulator/module_defaults.py)
    qcfg_settings: list = field(default_factory=list)
    band_masks: list = field(default_factory=list)  # AT+QCFG="band" in NV, hex [gsm, emtc, nbiot]; [] = all
    psm: bool | None = None           # PSM requested (AT+CPSMS) in NV; null = the model's (BG77: on)
    edrx: list | None = None          # AcTs with eDRX requested (4 LTE-M, 5 NB-IoT); null = the model's
    csq_on_lte: bool = True           # false: +CSQ: 99,99 on LTE-M/NB-IoT while registered (+QCSQ has it)
    contexts: dict = field(default_factory=lambda: {1: ["IP", ""]})
    no_carrier_on_end: bool = True
    # AT+CMUX accepted (27.010 basic option on the UART: DLC 1 AT port, DLC 2 modem port); false:
    # ERROR, as on firmware without it; null = the model's (emulator/module_defaults.py: all have it)
    cmux: bool | None = None
    powered_down_urc: bool = True

    def __post_init__(self) -> None:
        if self.boot_time is None:
            self.boot_time = next(t for prefix, t in BOOT_TIMES if self.model.startswith(prefix))

    def scaled(self, name: str) -> float:
        return float(getattr(self, name)) * self.time_scale

    def registration_timeline(self) -> list[tuple[float, int]]:
        return sorted((float(t) * self.time_scale, int(s)) for t, s in self.registration)

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> Scenario:
        """The scenario, or ValueError with one line naming the key that is wrong and how."""
        if data is None:
            data = {}
        if not isinstance(data, dict):
            raise ValueError(f"a scenario is a mapping of keys (boot_time: 1, sim: pin, ...), not {_what(data)}")
        data = dict(data)
        fields = {f.name: f for f in dataclasses.fields(cls)}
        unknown = sorted(str(k) for k in data if k not in fields)
        if unknown:
            raise ValueError(f"unknown scenario keys: {', '.join(unknown)}")
        for name, value in data.items():
            wrong = _wrong(name, str(fields[name].type), value)
            if wrong:
                raise ValueError(f"scenario {name}: {wrong}, not {_what(value)}")
        if "contexts" in data:
            data["contexts"] = {int(k): list(v) for k, v in data["contexts"].items()}
        return cls(**data)

    def extra_delay(self, line: str) -> float:
        """The slow_commands delay of a command line (scaled)."""
        up = line.upper()
        return sum(float(v) for k, v in self.slow_commands.items() if up.startswith(k.upper())) * self.time_scale

    @classmethod
    def load(cls, path: str | Path) -> Scenario:
        import yaml

        try:
            text = Path(path).read_bytes().decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ValueError(f"{path}: not UTF-8 text (byte {exc.start})") from None
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f":{mark.line + 1}" if mark is not None else ""
            reason = getattr(exc, "problem", None) or str(exc).splitlines()[0]
            raise ValueError(f"{path}{where}: not valid YAML: {reason}") from None
        except RecursionError:
            raise ValueError(f"{path}: nested too deeply") from None
        try:
            return cls.from_dict(data)
        except ValueError as exc:
            raise ValueError(f"{path}: {exc}") from None


def _what(value: Any) -> str:
    if isinstance(value, bool):
        return f"{str(value).lower()} (a yes/no value)"
    if isinstance(value, (int, float)):
        return f"the number {value!r}"
    if isinstance(value, str):
        return f"the text {value[:40]!r}"
    return {type(None): "nothing", list: "a list", dict: "a mapping"}.get(type(value), type(value).__name__)


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _hex(value: str) -> bool:
    try:
        return int(value, 16) >= 0
    except ValueError:
        return False


def _strings(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) for v in value)


def _wrong(name: str, kind: str, value: Any) -> str | None:
    """What ``value`` must be for the field ``name`` of type ``kind``, or None when it is fine."""
    if name in CHOICES:
        return None if value in CHOICES[name] else f"must be {' | '.join(CHOICES[name])}"
    if name == "time_scale":
        return None if _number(value) and value > 0 else "must be a number above 0"
    if kind == "float":
        return None if _number(value) and value >= 0 else "must be a number of seconds, 0 or more"
    if kind == "float | None":
        ok = value is None or (_number(value) and value >= 0)
        return None if ok else "must be a number of seconds, 0 or more, or null (the model's)"
    if kind == "int | None":
        ok = value is None or (type(value) is int and value >= 0)
        return None if ok else "must be a whole number, 0 or more, or null"
    if name == "stuck_stat":
        return None if type(value) is int and value in (0, 2, 3, 4) else "must be 0, 2, 3 or 4 (not registered)"
    if kind == "int":
        return None if type(value) is int else "must be a whole number"
    if kind == "bool":
        return None if isinstance(value, bool) else "must be true or false"
    if kind == "str":
        return None if isinstance(value, str) else "must be text (in quotes)"
    if name == "registration":
        ok = isinstance(value, list) and all(
            isinstance(v, list) and len(v) == 2 and _number(v[0]) and v[0] >= 0 and type(v[1]) is int
            for v in value)
        return None if ok else "must be a list of [seconds, stat] pairs"
    if name == "band_masks":
        ok = value == [] or (_strings(value) and len(value) == 3 and all(_hex(v) for v in value))
        return None if ok else "must be three hex masks [gsm, emtc, nbiot], e.g. [\"0xf\", \"0x80084\", \"0x80084\"]"
    if kind == "bool | None":
        return None if value is None or isinstance(value, bool) else "must be true, false or null"
    if name == "edrx":
        ok = value is None or (isinstance(value, list) and all(v in (4, 5) for v in value))
        return None if ok else "must be a list of AcT types (4 LTE-M, 5 NB-IoT), or null"
    if kind == "list":
        return None if _strings(value) else "must be a list of text"
    if name == "contexts":
        ok = isinstance(value, dict) and all(
            (type(k) is int or (isinstance(k, str) and k.isdigit())) and _strings(v) and len(v) == 2
            for k, v in value.items())
        return None if ok else "must be {cid: [pdp type, APN]}"
    if name == "slow_commands":
        ok = isinstance(value, dict) and all(isinstance(k, str) and _number(v) and v >= 0
                                             for k, v in value.items())
        return None if ok else "must be {command prefix: seconds}"
    if name == "replies":
        ok = isinstance(value, dict) and all(isinstance(k, str) and _strings(v) and v for k, v in value.items())
        return None if ok else "must be {command line: [lines..., final result]}"
    return None
