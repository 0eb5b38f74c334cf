"""``AT+CMUX``: the UART switches to 27.010 multiplexing once the OK is out (mux_ports.py).

Quectel's form: ``AT+CMUX=<mode>[,<subset>[,<port_speed>[,<N1>[,<T1>[,<N2>[,<T2>[,<T3>[,<k>]]]]]]]]``,
mode 0 (basic option) and subset 0 (UIH frames) only; N1 is the largest information field
either side sends. The port speed is taken but the UART stays at its AT+IPR rate (the vendor:
the mux runs at the current baud rate).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from bg_pppd.emulator import module_defaults
from bg_pppd.emulator.commands.basic import BAUDRATES
from bg_pppd.emulator.commands.registry import Reply, command

if TYPE_CHECKING:
    from bg_pppd.emulator.modem import Modem

# (lowest, highest, default) of mode, subset, port_speed, N1, T1, N2, T2, T3, k (27.007 5.7;
# N1's default there is 31 for the basic option) [?: the BG95's own ranges are not confirmed]
LIMITS = ((0, 0, 0), (0, 0, 0), (1, 8, 5), (1, 32768, 31), (1, 255, 10), (0, 100, 3), (2, 255, 30),
          (1, 255, 10), (1, 7, 2))


def _speed_code(m: Modem) -> int:
    """27.007's port_speed code of the UART's rate now (1 = 9600 ... 8 = 921600)."""
    return BAUDRATES.index(m.ipr) + 1 if m.ipr in BAUDRATES else 5


@command("+CMUX", summary="27.010 multiplexing on the UART: =0[,0[,speed[,N1...]]] then frames only "
                          "(DLC 1 AT, DLC 2 modem); ERROR with scenario cmux: false")
def cmux(m: Modem, form: str, args: list[str]) -> Reply:
    if not module_defaults.cmux(m.sc):
        return Reply(final="ERROR")
    if form == "=?":
        return Reply(["+CMUX: " + ",".join(f"({lo})" if lo == hi else f"({lo}-{hi})" for lo, hi, _ in LIMITS)])
    saved = getattr(m, "cmux_settings", None) or [d for _, _, d in LIMITS]
    if form == "?":
        return Reply(["+CMUX: " + ",".join(map(str, [*saved[:2], _speed_code(m), *saved[3:]]))])
    if form != "=" or m.mux is not None or m.ch is not m.data_ch or len(args) > len(LIMITS):
        return Reply(final="ERROR")  # only the UART's own port switches, and only once
    values = []
    for arg, (lo, hi, default) in zip(args + [""] * (len(LIMITS) - len(args)), LIMITS):
        if arg == "":
            values.append(default)
        elif arg.isdigit() and lo <= int(arg) <= hi:
            values.append(int(arg))
        else:
            return Reply(final="ERROR")
    m.cmux_settings = values
    n1 = values[3]
    return Reply(then=lambda: m.start_mux(n1))
