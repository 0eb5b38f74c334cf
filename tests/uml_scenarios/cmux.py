"""Guest side of tests/test_cmux_uml.py: the kernel's n_gsm against the virtual module's CMUX.

Runs in the UML guest (``lab.call``). The virtual module is on a pty; this side is the host:
``AT+CMUX=0,0,5,127`` on the pty slave, line discipline N_GSM0710 on it, n_gsm configured as
initiator (basic option, MRU/MTU 127), then AT on /dev/gsmtty1 and a real pppd on
/dev/gsmtty2 (dialling through chat) against the module's network-side pppd, a ping through it,
and at the end N_TTY again and the close-down frame by hand: the raw pty answers AT.
n_gsm is attached and the close-down frame built by the product's host side
(bg_pppd/modem/multiplexer.py); the rest is done by hand, step by step, to see each.
"""

from __future__ import annotations

import errno
import fcntl
import os
import select
import struct
import subprocess
import termios
import time
import tty
from pathlib import Path

from bg_pppd.modem import multiplexer
from bg_pppd.modem.serial_port import N_TTY, line_discipline
from tests.uml_guest import control, emulator, emulator_events, load_n_gsm, ns, record


def _read_until(fd: int, text: bytes, timeout: float) -> bytes:
    end, out = time.monotonic() + timeout, b""
    while time.monotonic() < end and text not in out:
        ready, _, _ = select.select([fd], [], [], 0.1)
        if ready:
            try:
                out += os.read(fd, 4096)
            except (BlockingIOError, OSError):
                time.sleep(0.05)
    return out


def _raw(fd: int) -> None:
    tty.setraw(fd)
    attrs = termios.tcgetattr(fd)
    attrs[2] |= termios.CLOCAL  # no carrier needed to read and write
    attrs[4] = attrs[5] = termios.B115200  # the module's UART rate (the emulator reads the pty's)
    termios.tcsetattr(fd, termios.TCSANOW, attrs)


def _wait_path(path: str, timeout: float) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if os.path.exists(path):
            return True
        time.sleep(0.05)
    return False


def _open_dlc(path: str, timeout: float) -> tuple[int, int]:
    """Open a gsmtty: EL2NSYNC until DLC 0 is open (the module's UA to the kernel's SABM)."""
    end, tries = time.monotonic() + timeout, 0
    while True:
        tries += 1
        try:
            return os.open(path, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK), tries
        except OSError as exc:
            if exc.errno != errno.EL2NSYNC or time.monotonic() > end:
                raise
            time.sleep(0.05)


def _ppp_address(timeout: float) -> str:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        out = ns("ip", "-4", "addr", "show", "dev", "ppp0").stdout
        if "inet " in out:
            return out.split("inet ", 1)[1].split()[0]
        time.sleep(0.2)
    return ""


def _module_asked_for_cmux() -> tuple[Path, int]:
    """n_gsm loaded, the virtual module on a UART answering ``AT+CMUX=0,0,5,127`` (recorded)."""
    loaded = load_n_gsm()
    record(insmod=loaded.returncode, insmod_err=loaded.stderr.strip())
    link = emulator({"port": "uart"})
    fd = os.open(link, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
    _raw(fd)
    os.write(fd, b"AT+CMUX=0,0,5,127\r")
    record(cmux_answer=_read_until(fd, b"OK\r\n", 5).decode("latin-1"))
    return link, fd


def kernel_mux(work: Path) -> None:
    """The whole round: mux up, AT and a URC on DLC 1, PPP on DLC 2, close down, plain AT."""
    link, fd = _module_asked_for_cmux()
    first = multiplexer.configure(fd, 127)  # the product's host side: n_gsm as initiator, basic option
    record(first_minor=first)
    at_dev, ppp_dev = f"/dev/gsmtty{first}", f"/dev/gsmtty{first + 1}"  # first: DLC 1's minor
    record(devices=[_wait_path(at_dev, 5), _wait_path(ppp_dev, 5)])
    at, tries = _open_dlc(at_dev, 5)
    record(dlc0_open_tries=tries)
    _raw(at)
    time.sleep(0.5)  # DLC 1's SABM/UA and the MSCs
    os.write(at, b"AT\r")
    record(at_answer=_read_until(at, b"OK\r\n", 5).decode("latin-1"))
    os.write(at, b'AT+QCFG="cmux/urcport",1\r')
    record(urcport_answer=_read_until(at, b"OK\r\n", 5).decode("latin-1"))
    control(link, "ring", "sms")
    record(urc=_read_until(at, b"+CMTI", 5).decode("latin-1"))
    client_log = work / "client.log"
    pppd = subprocess.Popen(
        ["ip", "netns", "exec", "client", "/usr/sbin/pppd", ppp_dev, "115200",
         "connect", "/usr/sbin/chat -v -t 10 '' AT OK ATD*99# CONNECT", "noauth", "nodetach",
         "noipv6", "noipdefault", "lcp-echo-interval", "0", "debug", "logfile", str(client_log)],
        stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    record(ppp_address=_ppp_address(30))
    ping = ns("ping", "-c", "5", "-i", "0.2", "-W", "2", "10.64.64.1")
    record(ping_rc=ping.returncode, ping=ping.stdout[-300:])
    os.write(at, b"AT+CSQ\r")  # AT on DLC 1 while PPP runs on DLC 2
    record(at_during_ppp=_read_until(at, b"OK\r\n", 5).decode("latin-1"))
    pppd.terminate()
    record(pppd_rc=pppd.wait(30))
    os.close(at)
    time.sleep(0.5)  # the DISCs of the DLCs closing
    fcntl.ioctl(fd, termios.TIOCSETD, struct.pack("i", N_TTY))
    _read_until(fd, b"\x00never", 0.3)  # whatever n_gsm left unread
    os.write(fd, multiplexer.close_down_frame())
    record(cld_answer=_read_until(fd, b"\xc1\x01", 3).hex())
    time.sleep(0.2)
    os.write(fd, b"AT\r")
    record(plain_at=_read_until(fd, b"OK\r\n", 5).decode("latin-1"))
    os.close(fd)
    record(kernel_log=subprocess.run(["dmesg"], capture_output=True, text=True).stdout[-3000:])
    record(events=[(t, kind, text) for t, kind, text in emulator_events()],
           network_log=(work / "network.log").read_text(errors="replace")[-4000:] if (
               work / "network.log").exists() else "",
           client_log=client_log.read_text(errors="replace")[-3000:] if client_log.exists() else "")



def left_in_mux(work: Path) -> None:
    """A host gone without closing the mux: n_gsm attached (DLC 0 up), every host fd closed (as
    when the daemon is killed with SIGKILL), a new open: N_TTY as after a UART's last close, a
    plain AT unanswered (the module still multiplexes), then the close-down frame and plain AT."""
    link, fd = _module_asked_for_cmux()
    multiplexer.configure(fd, 127)
    time.sleep(0.5)  # the kernel's SABM on DLC 0 and the module's UA
    record(discipline_before=line_discipline(fd))
    os.close(fd)
    end = time.monotonic() + 3
    while time.monotonic() < end and not any("last close" in text for _t, _k, text in emulator_events()):
        time.sleep(0.05)
    fd = os.open(link, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
    record(discipline_after=line_discipline(fd))
    _raw(fd)
    os.write(fd, b"AT\r")
    record(plain_at=_read_until(fd, b"OK\r\n", 1.0).hex())
    os.write(fd, multiplexer.close_down_frame())
    record(cld_answer=_read_until(fd, b"\xc1\x01", 3).hex())
    time.sleep(0.2)
    os.write(fd, b"AT\r")
    record(at_after_cld=_read_until(fd, b"OK\r\n", 5).decode("latin-1"))
    os.close(fd)
    record(events=[(t, kind, text) for t, kind, text in emulator_events()])
