"""CMUX (3GPP TS 27.010) on the main UART through the kernel's n_gsm line discipline.

AT and PPP run at once on one UART: the module is asked for the basic option with
``AT+CMUX``, then the kernel multiplexes the tty and makes one device per DLC
(``/dev/gsmttyN``): DLC 1 carries AT, DLC 2 PPP. The raw UART's fd stays open for
the mux's whole life, since its last close ends the mux.

The kernel (6.1) sends nothing when the line discipline is taken away from it, so the
close-down (CLD on DLC 0) is written here, in basic framing, on the raw port: a module
left multiplexing answers a plain ``AT`` with frames or not at all. Only the frames
that close the mux are built here; the kernel makes all the others.
"""

from __future__ import annotations

import errno
import os
import struct
import termios
import time
from collections.abc import Callable
from typing import Any

from bg_pppd.modem.at_channel import AtChannel, AtTimeout, PortGone
from bg_pppd.modem.serial_port import N_GSM0710, N_TTY, open_port
from bg_pppd.profile.model import Profile
from bg_pppd.util import commands
from bg_pppd.util.errors import EXIT_PPPD_UNUSABLE, BgPppdError

AT_DLC, DATA_DLC = 1, 2

# 27.007 +CMUX <port_speed>: 1..6 are the standard's; 7 and 8 are what modules with the
# faster rates use (RT-Thread's cmux for SIMCom/Luat, Motorola G24 for 7)
SPEED_CODES = {9600: 1, 19200: 2, 38400: 3, 57600: 4, 115200: 5, 230400: 6, 460800: 7, 921600: 8}

# <linux/gsmmux.h>: struct gsm_config is 19 unsigned ints on 6.1; only the fields set here
# are touched, the rest (and any longer layout's tail) is written back as the kernel gave it
_CONFIG = struct.Struct("=19I")
_ENCAPSULATION, _INITIATOR, _T2, _MRU, _MTU = 1, 2, 4, 7, 8
# T2, the control channel's response timer, in 10 ms: 6.1's n_gsm waits for an MSC answer in its
# own receive path when a DLC opens, so every answer it could read only comes once T2 x (N2 + 1)
# ran out, twice per DLC (fixed upstream by "tty: n_gsm: Dont block input queue by waiting MSC",
# 2025; 6.1 has no backport). At its default 340 ms that is 2.8 s per channel; a module answers an
# MSC within a few ms even at 9600 baud, so 100 ms still leaves it ample time
CONTROL_T2 = 10


def _ioc(direction: int, nr: int, size: int) -> int:
    return (direction << 30) | (size << 16) | (ord("G") << 8) | nr


_READ, _WRITE = 2, 1
GSMIOC_GETCONF = _ioc(_READ, 0, _CONFIG.size)
GSMIOC_SETCONF = _ioc(_WRITE, 1, _CONFIG.size)
GSMIOC_GETFIRST = _ioc(_READ, 4, 4)

FLAG = 0xF9  # basic option's opening and closing flag
_UIH, _DISC, _PF = 0xEF, 0x43, 0x10
_CLD = 0xC1  # multiplexer close-down, a DLC 0 control message type (EA set)
CHECK_TIMEOUT = 2.0  # for plain AT's OK after the close-down


class MuxUnavailable(BgPppdError):
    """The kernel has no n_gsm: the multiplexer cannot run here (not an attempt failure)."""

    exit_code = EXIT_PPPD_UNUSABLE


class MuxFailed(BgPppdError):
    """AT+CMUX refused, the DLC devices did not appear, the mux did not answer: an attempt failure."""


# ----- pure builders -------------------------------------------------------------------------

def cmux_command(baudrate: int, frame_size: int) -> str:
    """``AT+CMUX=0,0,<speed>,<N1>``: basic option, UIH frames only, the port's rate, ``frame_size``."""
    if baudrate not in SPEED_CODES:
        raise ValueError(f"no CMUX port speed code for {baudrate} baud")
    return f"AT+CMUX=0,0,{SPEED_CODES[baudrate]},{int(frame_size)}"


def fcs(data: bytes) -> int:
    """27.010's frame check sequence: CRC-8 (x^8+x^2+x+1, reflected), from 0xFF, complemented."""
    crc = 0xFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0xE0 if crc & 1 else crc >> 1
    return 0xFF - crc


def basic_frame(dlci: int, control: int, info: bytes = b"") -> bytes:
    """One basic-option frame from the initiator (C/R set); the FCS covers the header only (UIH
    and the others alike, since only short frames are built here). ``info`` up to 127 bytes."""
    if len(info) > 127:
        raise ValueError("only a one-byte length field is built here")
    header = bytes(((dlci << 2) | 0x02 | 0x01, control, (len(info) << 1) | 0x01))
    return bytes((FLAG,)) + header + info + bytes((fcs(header), FLAG))


def close_down_frame() -> bytes:
    """CLD (multiplexer close-down) as a command on DLC 0: f9 03 ef 05 c3 01 <fcs> f9."""
    return basic_frame(0, _UIH, bytes((_CLD | 0x02, 0x01)))


def disconnect_frame(dlci: int = 0) -> bytes:
    """DISC with P set: on DLC 0 it ends the whole mux, for a module that ignores a CLD."""
    return basic_frame(dlci, _DISC | _PF)


def looks_like_mux(data: bytes) -> bool:
    """Whether what the module answered is basic-option frames (a module left multiplexing):
    a flag, an address byte with EA set, then another flag further on."""
    start = data.find(bytes((FLAG,)))
    while 0 <= start < len(data) - 1:
        if data[start + 1] & 0x01 and data.find(bytes((FLAG,)), start + 2) > 0:
            return True
        start = data.find(bytes((FLAG,)), start + 1)
    return False


# ----- the kernel ------------------------------------------------------------------------------

def kernel_support(devices: str = "/proc/devices",
                   run: Callable[..., commands.Outcome] = commands.run) -> str | None:
    """None if n_gsm is there (``gsmtty`` registered) or ``modprobe n_gsm`` loads it; else why not."""
    if _has_gsmtty(devices):
        return None
    outcome = run(["modprobe", "n_gsm"], timeout=10)
    if outcome.ok and _has_gsmtty(devices):
        return None
    why = outcome.last_line() or outcome.error or f"exit status {outcome.exit_code}"
    return (f"the kernel has no CMUX line discipline n_gsm (CONFIG_N_GSM; modprobe n_gsm: {why}); "
            "build it in or as a module, or set modem.multiplex: none")


def _has_gsmtty(devices: str) -> bool:
    try:
        with open(devices, encoding="ascii", errors="replace") as f:
            return any(line.split()[1:2] == ["gsmtty"] for line in f)
    except OSError:
        return False


def _ioctl(fd: int, request: int, arg: Any) -> Any:
    import fcntl

    return fcntl.ioctl(fd, request, arg)


def _set_discipline(fd: int, discipline: int) -> None:
    _ioctl(fd, termios.TIOCSETD, struct.pack("i", discipline))


def configure(fd: int, frame_size: int) -> int:
    """Attach n_gsm to ``fd`` as the initiator in basic mode; returns the minor of DLC 1's gsmtty.

    The kernel sends SABM on DLC 0 at once, and opens DLC 1 and 2 as their devices are opened.
    """
    _set_discipline(fd, N_GSM0710)
    raw = bytearray(_ioctl(fd, GSMIOC_GETCONF, bytes(_CONFIG.size)))
    fields = list(_CONFIG.unpack(raw))
    fields[_ENCAPSULATION], fields[_INITIATOR] = 0, 1
    fields[_MRU] = fields[_MTU] = frame_size
    fields[_T2] = min(fields[_T2] or CONTROL_T2, CONTROL_T2)  # the first SETCONF: a later one restarts the mux
    _ioctl(fd, GSMIOC_SETCONF, _CONFIG.pack(*fields))
    return first_minor(fd)


def first_minor(fd: int) -> int:
    """GSMIOC_GETFIRST: the minor of the mux's DLC 1 device (seen on 6.1: 1 for the first mux)."""
    return struct.unpack("I", _ioctl(fd, GSMIOC_GETFIRST, bytes(4)))[0]


# ----- the mux ---------------------------------------------------------------------------------

class Mux:
    """A running multiplexer: ``at_device`` (DLC 1) and ``data_device`` (DLC 2) for pppd."""

    def __init__(self, profile: Profile, serial: Any, first: int,
                 clock: Callable[[], float], sleep: Callable[[float], None]):
        self.profile, self.serial, self.clock, self.sleep = profile, serial, clock, sleep
        # GSMIOC_GETFIRST gives the minor of the mux's DLC 1 (its base + 1; DLC 0 has no device)
        self.at_device = f"/dev/gsmtty{first + AT_DLC - 1}"
        self.data_device = f"/dev/gsmtty{first + DATA_DLC - 1}"
        self._closed: bool | None = None  # None: still open; else what close() returned
        self._hold: int | None = None  # the AT device, open while the mux runs (DLC 1 up)

    @classmethod
    def open(cls, profile: Profile, port: str | None = None,
             clock: Callable[[], float] = time.monotonic,
             sleep: Callable[[float], None] = time.sleep,
             opener: Callable[..., Any] = open_port,
             device_timeout: float = 5.0) -> Mux:
        """Ask the module for CMUX on the raw UART, hand the tty to n_gsm, wait for the two devices.

        MuxFailed for a refusal or devices that do not appear; the port is closed again then.
        """
        m = profile.modem
        try:
            command = cmux_command(m.baudrate, m.cmux_frame_size)
        except ValueError as exc:
            raise MuxFailed(str(exc)) from None
        try:
            serial = opener(profile, port) if port else opener(profile)
        except OSError as exc:
            raise MuxFailed(f"cannot open {port or m.port}: {exc}") from None
        try:  # not multiplexing yet: a failure only closes the port
            at = AtChannel(serial, timeout=profile.recovery.at_timeout, clock=clock)
            try:
                answer = at.command(command)
            except (AtTimeout, PortGone) as exc:
                raise MuxFailed(f"{command}: {exc}") from None
            if not answer.ok:
                raise MuxFailed(f"the module refused {command}: {answer.final}")
        except BaseException:
            serial.close()
            raise
        try:  # from here the module multiplexes: a failure closes the mux down again
            try:
                first = configure(serial.fileno(), m.cmux_frame_size)
            except OSError as exc:
                raise MuxFailed(f"cannot start n_gsm on {port or m.port}: "
                                f"{exc.strerror or exc}") from None
            mux = cls(profile, serial, first, clock, sleep)
            try:
                mux._wait_devices(device_timeout)
            except BaseException:
                mux._release()
                raise
            return mux
        except BaseException:
            _detach_and_close(serial, profile, clock, sleep)
            raise

    def _wait_devices(self, timeout: float) -> None:
        """Wait for both devices, then for DLC 0 to be open: until the module has answered the
        kernel's SABM, opening a DLC's device fails (EL2NSYNC). The AT device is kept open from
        then on, so DLC 1 stays up between the daemon's own opens of it."""
        end = self.clock() + timeout
        while missing := [d for d in (self.at_device, self.data_device) if not os.path.exists(d)]:
            if self.clock() > end:
                raise MuxFailed(f"{', '.join(missing)} did not appear within {timeout:g} s")
            self.sleep(0.05)
        while True:
            try:
                self._hold = os.open(self.at_device, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK | os.O_CLOEXEC)
                _no_hangup_on_close(self._hold)
                return
            except OSError as exc:
                if self.clock() > end:
                    raise MuxFailed(f"the module does not answer the multiplexer: {self.at_device}: "
                                    f"{exc.strerror} after {timeout:g} s") from None
            self.sleep(0.05)

    def _release(self) -> None:
        if self._hold is not None:
            os.close(self._hold)
            self._hold = None

    def close(self) -> bool:
        """End the mux (back to N_TTY, then CLD and DISC on DLC 0), then check that plain ``AT``
        answers OK on the raw UART. Returns whether it did; a second call returns the same."""
        if self._closed is None:
            self._release()
            self._closed = _detach_and_close(self.serial, self.profile, self.clock, self.sleep)
        return self._closed


def _no_hangup_on_close(fd: int) -> None:
    """Clear HUPCL on the AT channel (every open of it shares the setting).

    With HUPCL, n_gsm's close of a channel sends MSC (DTR off) and waits for its answer
    uninterruptibly; a daemon killed while Linux 6.1 tears its mux down waits for good (seen
    in UML: gsmtty_close -> gsm_dtr_rts -> gsm_modem_update). DLC 1 carries no call: its DTR
    has nothing to hang up.
    """
    attrs = termios.tcgetattr(fd)
    attrs[2] &= ~termios.HUPCL
    termios.tcsetattr(fd, termios.TCSANOW, attrs)


def _send_close_down(serial: Any, sleep: Callable[[float], None]) -> None:
    serial.write(close_down_frame())
    sleep(0.1)  # the module answers CLD, then leaves mux mode; a DISC on DLC 0 for one that did not
    serial.write(disconnect_frame(0))
    sleep(0.1)
    try:
        serial.reset_input_buffer()  # their answers are frames, not what the AT check reads
    except termios.error as exc:
        raise OSError(errno.EIO, str(exc)) from None


def _answers_at(serial: Any, profile: Profile, timeout: float, clock: Callable[[], float]) -> bool:
    try:
        AtChannel(serial, timeout=profile.recovery.at_timeout, clock=clock).sync(timeout)
        return True
    except (AtTimeout, PortGone):
        return False


def _close_down(serial: Any, profile: Profile, clock: Callable[[], float],
                sleep: Callable[[float], None]) -> bool:
    """CLD and DISC on DLC 0, then whether plain AT answers on the raw UART."""
    try:
        _send_close_down(serial, sleep)
    except OSError:  # the port is gone (unplugged, USB re-enumerated): nothing to close down
        return False
    return _answers_at(serial, profile, CHECK_TIMEOUT, clock)


def _close_port(serial: Any) -> None:
    try:
        serial.close()
    except OSError:
        pass


def _detach_and_close(serial: Any, profile: Profile, clock: Callable[[], float],
                      sleep: Callable[[float], None]) -> bool:
    """Give the tty back to N_TTY, close the mux down, check AT, close the port."""
    try:
        try:
            _set_discipline(serial.fileno(), N_TTY)
        except OSError:  # the port is gone
            return False
        return _close_down(serial, profile, clock, sleep)
    finally:
        _close_port(serial)


def close_leftover(profile: Profile, port: str | None = None,
                   clock: Callable[[], float] = time.monotonic,
                   sleep: Callable[[float], None] = time.sleep,
                   opener: Callable[..., Any] = open_port,
                   probe: float = 0.3) -> bool:
    """At a run's start: close the mux a killed daemon left the module in. True if it then
    answers AT. Cheap when it is not multiplexing: one ``AT`` that gets OK within ``probe``
    seconds returns True at once, without sending any frame."""
    try:
        serial = opener(profile, port) if port else opener(profile)
    except OSError:
        return False
    try:
        return _answers_at(serial, profile, probe, clock) or _close_down(serial, profile, clock, sleep)
    finally:
        _close_port(serial)
