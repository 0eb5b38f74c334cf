"""What a UART at one baud rate reads from bytes sent at another: the wire, bit by bit.

The sender puts each byte on the line as 8N1 (a start bit 0, eight data bits LSB
first, a stop bit 1), back to back, the line idle (1) before and after. The
receiver waits for a falling edge, samples the middle of each of its own bit
times, and delivers a NUL where the stop bit reads 0 (a framing error: Linux's
n_tty does so without IGNPAR/PARMRK). So a module at 9600 baud hears a host at
115200 as a few bytes of mostly ones, and the host hears its echo as NULs and
shreds: garbage both ways, never a clean ``AT``, as with a real wrong rate.
"""

from __future__ import annotations

# the rates a host may set (termios), beyond the module's own list (AT+IPR=?)
RATES = (1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200, 230400, 460800, 921600, 1000000,
         2000000, 3000000, 4000000)


def _bits(data: bytes) -> list[int]:
    bits: list[int] = []
    for byte in data:
        bits += [0, *((byte >> i) & 1 for i in range(8)), 1]
    return bits


def resample(data: bytes, sent: int, heard: int) -> bytes:
    """``data`` sent at ``sent`` baud, as a receiver at ``heard`` baud decodes it."""
    if sent == heard or not data:
        return data
    bits = _bits(data)
    span = 1.0 / sent  # seconds per sent bit
    step = 1.0 / heard  # seconds per received bit

    def level(t: float) -> int:
        i = int(t / span)
        return bits[i] if 0 <= i < len(bits) else 1

    def next_low(t: float) -> float | None:
        """The first moment at or after ``t`` that the line is low."""
        i = int(t / span)
        if i < len(bits) and bits[i] == 0:
            return t
        j = next((k for k in range(i + 1, len(bits)) if bits[k] == 0), None)
        return None if j is None else j * span

    def next_high(t: float) -> float:
        i = int(t / span)
        while i < len(bits) and bits[i] == 0:
            i += 1
        return max(t, i * span)

    out = bytearray()
    t = 0.0
    while (start := next_low(t)) is not None:
        byte = sum(level(start + (k + 1.5) * step) << k for k in range(8))
        stop = start + 9.5 * step
        out.append(byte if level(stop) else 0)
        t = next_high(stop)  # a line still low after the stop bit is a break: wait for it to end
    return bytes(out)
