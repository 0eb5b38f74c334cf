"""The virtual module in CMUX mode: DLC 1 its AT port, DLC 2 its modem (PPP) port, on one UART.

After ``AT+CMUX``'s OK the UART carries only 27.010 frames (cmux.py); bytes that are not
frames, an ``AT`` from a host that thinks the module is in command mode, say, are ignored.
DLC 2 is the port that answered ``AT+CMUX`` (its mode and call carried on), DLC 1 a fresh AT
port with the saved settings. Each open DLC gets the module's MSC with its V.24 signals:
DV is DCD on DLC 2 (AT&C) and always on for DLC 1, IC is RI, RTC and RTR are on; the host's
MSC on DLC 2 carries its DTR (RTC), which acts as the DTR line does (AT&D).
URCs go where ``AT+QCFG="cmux/urcport"`` says (a BG95-M3 lists it as ``(0-4)``): 1-4 that DLC
(drivers set 1 to get them on the first channel, e.g. MuditaOS's Quectel driver), 0 (taken
as the value at delivery) every open DLC [?: what 0 means no source confirmed]. A reboot or
power loss leaves mux mode.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from bg_pppd.emulator import module_defaults, radio_nv
from bg_pppd.emulator.cmux import V24_DV, V24_IC, V24_RTC, V24_RTR, Multiplexer

if TYPE_CHECKING:
    from bg_pppd.emulator.channel import Channel
    from bg_pppd.emulator.modem import Modem

PORTS = {1: "dlc1", 2: "modem"}   # DLC -> the module's channel (modem.channels)
URCPORT = "cmux/urcport"


class MuxPorts:
    """The mux's DLCs as the module's channels (the ``MuxHost`` of cmux.Multiplexer)."""

    def __init__(self, modem: Modem, n1: int):
        self.m = modem
        self.n1 = n1
        self.host_dtr = True      # DLC 2's DTR as the host's last MSC said (on until it says)
        self.mux = Multiplexer(self, n1)
        at = modem.make_channel(PORTS[1])
        modem.channels[at.name] = at
        modem.urc_ch = at

    def channel(self, dlci: int) -> Channel | None:
        return self.m.channels.get(PORTS.get(dlci, ""))

    def dlci(self, port: str) -> int | None:
        return next((d for d, name in PORTS.items() if name == port), None)

    def urc_targets(self) -> list[Channel]:
        """The channels a URC goes to now, by ``AT+QCFG="cmux/urcport"`` (0: every open DLC)."""
        value = "0"
        if URCPORT in module_defaults.qcfg_settings(self.m.sc):
            value = radio_nv.of(self.m).other.get(URCPORT, "0").strip()
        port = int(value) if value.isdigit() else 0
        dlcs = sorted(self.mux.open) if port == 0 else [port] if port in self.mux.open else []
        return [ch for d in dlcs if (ch := self.channel(d)) is not None]

    def write(self, port: str, data: bytes) -> None:
        dlci = self.dlci(port)
        if dlci is not None:
            self.mux.write(dlci, data)

    def leave(self) -> None:
        """Back to one plain port: the AT channel of DLC 1 is gone, URCs go to the UART again."""
        self.m.channels.pop(PORTS[1], None)
        self.m.urc_ch = self.m.channels.get("at", self.m.data_ch)

    # ----- MuxHost ---------------------------------------------------------------------------

    def send(self, data: bytes) -> None:
        self.m.io.write(data, "modem")

    def event(self, text: str) -> None:
        self.m.io.log("mux", text)

    def open_dlc(self, dlci: int) -> bool:
        return dlci in PORTS

    def closed_dlc(self, dlci: int) -> None:
        """A DLC closed (DISC, or the whole mux): a call it held ends, its typing and the URCs
        it held back are dropped."""
        ch = self.channel(dlci)
        if ch is None:
            return
        if self.m.session and self.m.call_ch is ch:
            self.m.end_session(f"mux DLC {dlci} closed", result=None)
        ch.mode = "command"
        ch.line.clear()
        ch.queue.clear()
        ch.pending_urcs.clear()

    def data(self, dlci: int, data: bytes) -> None:
        ch = self.channel(dlci)
        if ch is not None:
            self.m.receive_on(ch, data)

    def host_signals(self, dlci: int, signals: int) -> None:
        if dlci != 2:
            return
        dtr = bool(signals & V24_RTC)
        if dtr != self.host_dtr:
            self.host_dtr = dtr
            self.m.mux_dtr(dtr)

    def signals(self, dlci: int) -> int:
        carrier = self.m.dcd if dlci == 2 else True
        return V24_RTC | V24_RTR | (V24_DV if carrier else 0) | (V24_IC if self.m.ri else 0)

    def ended(self) -> None:
        self.m.mux_ended()
