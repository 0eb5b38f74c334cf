"""3GPP TS 27.010 basic-option multiplexing, the module's (responder's) side.

What ``AT+CMUX=0,...`` switches the UART to: frames ``F9 addr ctrl len info FCS F9``
carrying DLC 0 (the mux's control channel) and the virtual ports DLC 1..63. This
module has the frame codec (``encode``, ``Decoder``), the control channel's messages
(``encode_message``, ``messages``) and ``Multiplexer``, which answers what the host
(the initiator, e.g. Linux's n_gsm) sends: SABM/DISC with UA or DM, MSC, PN, Test and
the close-down (CLD); the virtual module (mux_ports.py) decides what each DLC is.
Where the spec and the kernel's n_gsm differ, the kernel is followed (tests/test_cmux_uml.py).
Linux 6.1's n_gsm stalls each DLC open for 2 x (N2+1) x T2 (2.8 s at its defaults) whatever the
module answers: on the UA its input queue waits for the answer to its own MSC, which only that
queue could read (n_gsm's debug=1 dump in the UML lab; fixed upstream by 3cf0b3c243e5 "tty: n_gsm:
Dont block input queue by waiting MSC", in the 6.6/6.12 stable series, not in 6.1).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

FLAG = 0xF9
EA, CR, PF = 0x01, 0x02, 0x10
SABM, UA, DM, DISC, UIH, UI = 0x2F, 0x63, 0x0F, 0x43, 0xEF, 0x03
KINDS = {SABM: "SABM", UA: "UA", DM: "DM", DISC: "DISC", UIH: "UIH", UI: "UI"}
# control-channel message types (27.010 5.4.6.3), the 6-bit value before its C/R and EA bits
PN, PSC, CLD, TEST, FCON, FCOFF, MSC, NSC, RPN, RLS, SNC = (
    0x20, 0x10, 0x30, 0x08, 0x28, 0x18, 0x38, 0x04, 0x24, 0x14, 0x34)
MESSAGES = {PN: "PN", PSC: "PSC", CLD: "CLD", TEST: "Test", FCON: "FCon", FCOFF: "FCoff", MSC: "MSC",
            NSC: "NSC", RPN: "RPN", RLS: "RLS", SNC: "SNC"}
# V.24 signals octet of an MSC (5.4.6.3.7), EA in bit 1
V24_FC, V24_RTC, V24_RTR, V24_IC, V24_DV = 0x02, 0x04, 0x08, 0x40, 0x80
MAX_INFO = 32768  # the largest N1 27.010 allows


def _table() -> list[int]:
    """CRC-8 with polynomial x^8+x^2+x+1, bit-reversed (27.010 annex B): 0x07 reflected is 0xE0."""
    out = []
    for i in range(256):
        crc = i
        for _ in range(8):
            crc = (crc >> 1) ^ 0xE0 if crc & 1 else crc >> 1
        out.append(crc)
    return out


_CRC = _table()


def fcs(data: bytes) -> int:
    """The frame check sequence over ``data``: 0xFF minus the CRC, starting from 0xFF."""
    crc = 0xFF
    for byte in data:
        crc = _CRC[crc ^ byte]
    return 0xFF - crc


@dataclass(frozen=True)
class Frame:
    dlci: int
    kind: int              # SABM, UA, DM, DISC, UIH or UI (without the P/F bit)
    cr: bool = False       # the address's C/R bit as sent
    pf: bool = False
    info: bytes = b""

    def __str__(self) -> str:
        return f"{KINDS.get(self.kind, hex(self.kind))}{'(P/F)' if self.pf else ''} DLC {self.dlci}" + (
            f" {len(self.info)} bytes" if self.info else "")


def _length(n: int) -> bytes:
    """A length field: one octet (EA set) up to 127, else two (27.010 5.2.1.5)."""
    return bytes([(n << 1) | EA]) if n < 128 else bytes([(n & 0x7F) << 1, n >> 7])


def encode(frame: Frame) -> bytes:
    """One basic-option frame. The FCS covers address, control and length; for UI also the data."""
    header = bytes([(frame.dlci << 2) | (CR if frame.cr else 0) | EA, frame.kind | (PF if frame.pf else 0)])
    header += _length(len(frame.info))
    checked = header + frame.info if frame.kind == UI else header
    return bytes([FLAG]) + header + frame.info + bytes([fcs(checked), FLAG])


class Decoder:
    """Frames out of a byte stream: bytes outside a frame are skipped, a frame with a bad FCS, a bad
    closing flag or an information field over ``max_info`` is dropped and the search resumes
    just after its opening flag (basic option has no transparency: 0xF9 may be data)."""

    def __init__(self, max_info: int = MAX_INFO):
        self.max_info = max_info
        self.buf = bytearray()
        self.skipped = 0       # bytes outside any frame
        self.dropped = 0       # frames thrown away (FCS, size, flag)

    def feed(self, data: bytes) -> list[Frame]:
        self.buf += data
        out: list[Frame] = []
        buf = self.buf
        while True:
            start = buf.find(FLAG)
            if start < 0:
                self.skipped += len(buf)
                buf.clear()
                return out
            self.skipped += start
            del buf[:start]
            while len(buf) > 1 and buf[1] == FLAG:  # runs of flags: the last one opens
                del buf[:1]
            if len(buf) < 4:
                return out
            address, control, first = buf[1], buf[2], buf[3]
            if not first & EA and len(buf) < 5:
                return out
            size, header = ((first >> 1), 3) if first & EA else ((first >> 1) | (buf[4] << 7), 4)
            if not address & EA or size > self.max_info:
                self._drop()
                continue
            total = 1 + header + size + 2
            if len(buf) < total:
                return out
            info = bytes(buf[1 + header:1 + header + size])
            kind = control & ~PF & 0xFF
            checked = bytes(buf[1:1 + header]) + (info if kind == UI else b"")
            if buf[total - 1] != FLAG or buf[total - 2] != fcs(checked):
                self._drop()
                continue
            out.append(Frame(address >> 2, kind, bool(address & CR), bool(control & PF), info))
            del buf[:total - 1]  # the closing flag may open the next frame

    def _drop(self) -> None:
        self.dropped += 1
        del self.buf[:1]


def encode_message(kind: int, command: bool, value: bytes) -> bytes:
    """A control-channel message: type (with C/R: 1 a command, 0 a response), length, value."""
    return bytes([(kind << 2) | (CR if command else 0) | EA]) + _length(len(value)) + value


def messages(info: bytes) -> list[tuple[int, bool, bytes]] | None:
    """The (type, is a command, value) messages in a DLC 0 frame, or None if it is malformed."""
    out, i = [], 0
    while i < len(info):
        first = info[i]
        if not first & EA or i + 1 >= len(info):
            return None
        size, i = 0, i + 1
        shift = 0
        while True:  # the length field is EA-extended, 7 bits an octet
            if i >= len(info):
                return None
            size |= (info[i] >> 1) << shift
            shift += 7
            i += 1
            if info[i - 1] & EA:
                break
        if i + size > len(info):
            return None
        out.append((first >> 2, bool(first & CR), info[i:i + size]))
        i += size
    return out


def msc_value(dlci: int, signals: int) -> bytes:
    """An MSC's value: the DLCI octet (bit 2 always 1) and the V.24 signals octet."""
    return bytes([(dlci << 2) | 0x02 | EA, signals | EA])


class MuxHost(Protocol):
    """What the multiplexer needs from the module around it."""

    def send(self, data: bytes) -> None: ...                   # raw bytes to the UART
    def event(self, text: str) -> None: ...                    # for the module's log
    def open_dlc(self, dlci: int) -> bool: ...                 # SABM: accept this DLC?
    def closed_dlc(self, dlci: int) -> None: ...               # DISC, or the mux closed
    def data(self, dlci: int, data: bytes) -> None: ...        # UIH data for an open DLC
    def host_signals(self, dlci: int, signals: int) -> None: ...  # the host's MSC for a DLC
    def signals(self, dlci: int) -> int: ...                   # the module's V.24 signals now
    def ended(self) -> None: ...                               # mux mode left: plain AT again


class Multiplexer:
    """The responder: DLC 0 opened by SABM, then each DLC the host opens; ``write`` carries a
    DLC's bytes in UIH frames of at most ``n1`` bytes (the module's frames are commands: C/R 0)."""

    def __init__(self, host: MuxHost, n1: int):
        self.host, self.n1 = host, n1
        self.decoder = Decoder(n1)
        self.control_open = False
        self.open: set[int] = set()
        self.sent_signals: dict[int, int] = {}
        self.ended = False

    def feed(self, data: bytes) -> None:
        before = (self.decoder.skipped, self.decoder.dropped)
        for frame in self.decoder.feed(data):
            if self.ended:
                return
            self._frame(frame)
        skipped, dropped = self.decoder.skipped - before[0], self.decoder.dropped - before[1]
        if skipped or dropped:
            self.host.event(f"mux: ignored {skipped} bytes outside frames, {dropped} bad frames")

    def write(self, dlci: int, data: bytes) -> None:
        """A DLC's bytes to the host; nothing goes to a DLC that is not open."""
        if dlci not in self.open:
            return
        for i in range(0, len(data), self.n1):
            self._send(Frame(dlci, UIH, info=data[i:i + self.n1]))

    def update_signals(self) -> None:
        """Send an MSC for each open DLC whose V.24 signals changed since the last one."""
        for dlci in sorted(self.open):
            signals = self.host.signals(dlci)
            if self.sent_signals.get(dlci) != signals:
                self.sent_signals[dlci] = signals
                self._control(MSC, True, msc_value(dlci, signals))

    def _send(self, frame: Frame) -> None:
        if frame.dlci == 0 or frame.kind not in (UIH, UI):  # not each data frame: a PPP link has many
            self.host.event(f"mux -> {frame}" + (f" {frame.info.hex()}" if frame.info else ""))
        self.host.send(encode(frame))

    def _reply(self, frame: Frame, kind: int) -> None:
        """UA or DM to a command: a response from the responder has C/R 1 (27.010 table 1)."""
        self._send(Frame(frame.dlci, kind, cr=True, pf=frame.pf))

    def _control(self, kind: int, command: bool, value: bytes) -> None:
        self._send(Frame(0, UIH, info=encode_message(kind, command, value)))

    def _frame(self, frame: Frame) -> None:
        dlci, kind = frame.dlci, frame.kind
        if dlci == 0 or kind not in (UIH, UI):
            self.host.event(f"mux <- {frame}")
        if kind == SABM:
            if dlci == 0:
                self.control_open = True
                self._reply(frame, UA)
                self.host.event("mux: control channel open (SABM on DLC 0)")
            elif self.control_open and (dlci in self.open or self.host.open_dlc(dlci)):
                self.open.add(dlci)
                self._reply(frame, UA)
                self.host.event(f"mux: DLC {dlci} open")
                self.sent_signals.pop(dlci, None)
                self.update_signals()
            else:
                self._reply(frame, DM)
        elif kind == DISC:
            if dlci == 0 and self.control_open:
                self._reply(frame, UA)
                self._close_down("DISC on DLC 0")
            elif dlci in self.open:
                self._reply(frame, UA)
                self.open.discard(dlci)
                self.sent_signals.pop(dlci, None)
                self.host.event(f"mux: DLC {dlci} closed (DISC)")
                self.host.closed_dlc(dlci)
            else:
                self._reply(frame, DM)
        elif kind in (UIH, UI):
            if dlci == 0:
                if self.control_open:
                    self._messages(frame.info)
            elif dlci in self.open:
                if frame.info:
                    self.host.data(dlci, frame.info)
            else:
                self.host.event(f"mux: {len(frame.info)} bytes for DLC {dlci}, not open: dropped")

    def _messages(self, info: bytes) -> None:
        found = messages(info)
        if found is None:
            self.host.event("mux: malformed control message dropped")
            return
        for kind, command, value in found:
            name = MESSAGES.get(kind, hex(kind))
            self.host.event(f"mux <- {name} {'command' if command else 'response'} {value.hex()}")
            if not command:
                continue  # the answer to our MSC: nothing to do
            if kind == CLD:
                self._control(CLD, False, b"")
                self._close_down("CLD")
                return
            if kind == MSC and len(value) >= 2:
                self._control(MSC, False, value)
                self.host.host_signals(value[0] >> 2, value[1])
            elif kind == TEST:
                self._control(TEST, False, value)
            elif kind == PN and len(value) == 8:
                self._control(PN, False, self._pn(value))
            elif kind in (FCON, FCOFF, PSC):
                self._control(kind, False, b"")
            else:  # not supported here: Non Supported Command, naming the type octet
                self._control(NSC, False, bytes([(kind << 2) | CR | EA]))

    def _pn(self, value: bytes) -> bytes:
        """PN's answer: UIH frames and convergence layer 1 (all there is), N1 no more than ours."""
        n1 = min(value[4] | (value[5] << 8), self.n1) or self.n1
        return bytes([value[0] & 0x3F, 0, value[2], value[3], n1 & 0xFF, n1 >> 8, value[6], value[7]])

    def _close_down(self, why: str) -> None:
        self.host.event(f"mux: closed down ({why}), plain AT on the UART again")
        self.ended = True
        dlcs, self.open = sorted(self.open), set()
        self.control_open = False
        for dlci in dlcs:
            self.host.closed_dlc(dlci)
        self.host.ended()
