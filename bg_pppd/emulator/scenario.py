"""What the virtual module is like: a YAML scenario with realistic defaults.

Durations are the module's (seconds) and are multiplied by ``time_scale`` so
tests run fast; protocol timings that the host itself must respect (the +++
guard times, the 120 ms RI pulse) are never scaled.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

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
    boot_time: float = 5.5            # silence after power-on before RDY
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
    contexts: dict = field(default_factory=lambda: {1: ["IP", ""]})
    no_carrier_on_end: bool = True
    powered_down_urc: bool = True

    def scaled(self, name: str) -> float:
        return float(getattr(self, name)) * self.time_scale

    def registration_timeline(self) -> list[tuple[float, int]]:
        return sorted((float(t) * self.time_scale, int(s)) for t, s in self.registration)

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> Scenario:
        data = dict(data or {})
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise ValueError(f"unknown scenario keys: {', '.join(unknown)}")
        if "contexts" in data:
            data["contexts"] = {int(k): list(v) for k, v in data["contexts"].items()}
        sc = cls(**data)
        if sc.sim not in ("ready", "pin", "puk", "absent", "failure"):
            raise ValueError(f"scenario sim: {sc.sim!r} is not ready | pin | puk | absent | failure")
        if sc.rat not in ("catm1", "nbiot", "gsm"):
            raise ValueError(f"scenario rat: {sc.rat!r} is not catm1 | nbiot | gsm")
        if sc.network not in ("auto", "pppd", "sink"):
            raise ValueError(f"scenario network: {sc.network!r} is not auto | pppd | sink")
        if not all(isinstance(k, str) and isinstance(v, (int, float)) and v >= 0
                   for k, v in sc.slow_commands.items()):
            raise ValueError("scenario slow_commands: {command prefix: seconds}")
        if not all(isinstance(k, str) and isinstance(v, list) and v and all(isinstance(x, str) for x in v)
                   for k, v in sc.replies.items()):
            raise ValueError("scenario replies: {command line: [lines..., final result]}")
        return sc

    def extra_delay(self, line: str) -> float:
        """The slow_commands delay of a command line (scaled)."""
        up = line.upper()
        return sum(float(v) for k, v in self.slow_commands.items() if up.startswith(k.upper())) * self.time_scale

    @classmethod
    def load(cls, path: str | Path) -> Scenario:
        import yaml

        return cls.from_dict(yaml.safe_load(Path(path).read_text()) or {})
