"""Guest side of tests/test_multiplexer_uml.py: the product's CMUX host side on the real n_gsm.

The tty is a pseudo-terminal slave; on its master a thread plays only what the kernel needs
from a module to open DLCs: OK to AT commands while not multiplexing, UA to each SABM. What
the kernel sends is read there, byte for byte. Helper A's emulator does not speak CMUX yet,
so AT over the DLC is checked as far as the frame the kernel sends (UIH on DLC 1).
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

from bg_pppd.modem import multiplexer as mux
from bg_pppd.modem.serial_port import line_discipline
from bg_pppd.profile.model import load
from tests.uml_guest import load_n_gsm, profile, record


def sabm(dlci: int) -> bytes:
    return mux.basic_frame(dlci, 0x3F)


class Peer:
    """The pty master: records every byte, answers AT lines with OK (outside mux) and SABM with UA."""

    def __init__(self) -> None:
        self.master, self.slave = os.openpty()
        self.path = os.ttyname(self.slave)
        self.got = b""
        self.muxing = False
        self.answered: set[int] = set()
        self.lock = threading.Lock()
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                data = os.read(self.master, 4096)
            except OSError:
                return
            with self.lock:
                self.got += data
                got = self.got
            if not self.muxing and got.endswith(b"\r"):
                os.write(self.master, b"\r\nOK\r\n")
                if b"AT+CMUX=" in got.rsplit(b"\r", 2)[-2]:
                    self.muxing = True
                continue
            for dlci in range(4):
                if sabm(dlci) in got and dlci not in self.answered:
                    self.answered.add(dlci)
                    os.write(self.master, mux.basic_frame(dlci, 0x73))  # UA
            if mux.close_down_frame() in got:
                self.muxing = False

    def mark(self) -> int:
        with self.lock:
            return len(self.got)

    def since(self, mark: int) -> bytes:
        with self.lock:
            return self.got[mark:]

    def wait_for(self, data: bytes, after: int = 0, timeout: float = 5) -> bool:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if data in self.since(after):
                return True
            time.sleep(0.02)
        return False


def mux_on_n_gsm(work: Path) -> None:
    before = mux.kernel_support()  # the guest has no /lib/modules: modprobe fails
    assert load_n_gsm().returncode == 0
    record(before=before, after=mux.kernel_support())

    # what the kernel itself sends when the line discipline is taken away (6.1)
    raw = Peer()
    fd = os.open(raw.path, os.O_RDWR | os.O_NOCTTY)
    first = mux.configure(fd, 127)
    record(first_minor=first, sabm_dlc0=raw.wait_for(sabm(0)))
    time.sleep(0.3)  # DLC 0 opens (UA)
    mark = raw.mark()
    mux._set_discipline(fd, 0)
    time.sleep(1.0)
    record(kernel_on_detach=raw.since(mark).hex(" "))
    os.close(fd)

    # the product's Mux on a fresh pty
    peer = Peer()
    path = profile(f"modem:\n  port: {peer.path}\nnetwork:\n  apn: internet\nrecovery:\n  at_timeout: 3\n",
                   name="cmux")
    p = load(str(path))
    opened = time.monotonic()
    m = mux.Mux.open(p)
    record(open_s=round(time.monotonic() - opened, 3), at_device=m.at_device, data_device=m.data_device,
           devices_exist=[os.path.exists(m.at_device), os.path.exists(m.data_device)],
           discipline=line_discipline(m.serial.fileno()), mux_first=mux.first_minor(m.serial.fileno()),
           sent_before_mux=peer.since(0).split(b"\r")[0].decode())
    at_fd = os.open(m.at_device, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
    record(sabm_dlc1=peer.wait_for(sabm(1)))
    time.sleep(0.2)
    mark = peer.mark()
    os.write(at_fd, b"AT\r")
    uih_at = mux.basic_frame(1, 0xEF, b"AT\r")
    record(uih_at_on_dlc1=peer.wait_for(uih_at[:-2], after=mark), uih_at_sent=peer.since(mark).hex(" "))
    os.close(at_fd)
    mark = peer.mark()
    closed = time.monotonic()
    record(close=m.close(), close_again=m.close(), close_s=round(time.monotonic() - closed, 3),
           after_close=peer.since(mark).hex(" "), devices_after=[os.path.exists(m.at_device)])


def mux_with_the_emulator(work: Path) -> None:
    """Mux.open against the virtual module (its own CMUX) on a pty; AT on the AT DLC; close; then a
    mux left behind by a killed daemon, closed by close_leftover."""
    from bg_pppd.modem.at_channel import AtChannel
    from bg_pppd.modem.serial_port import open_port
    from tests.uml_guest import emulator, emulator_commands

    assert load_n_gsm().returncode == 0
    link = emulator({"port": "uart", "network": "sink"})
    p = load(str(profile(f"modem:\n  port: {link}\n  line_backend: emulator\nnetwork:\n  apn: internet\n"
                         "recovery:\n  at_timeout: 3\n", name="cmux")))
    started = time.monotonic()
    m = mux.Mux.open(p)
    record(open_s=round(time.monotonic() - started, 3), at_device=m.at_device, data_device=m.data_device)
    port = open_port(p, m.at_device)
    at = AtChannel(port, timeout=3)
    started = time.monotonic()
    record(sync_s=round(at.sync(5), 3), ati=at.command("ATI").info, cgmr=at.command("AT+CGMR").final)
    record(at_round_trip_s=round(time.monotonic() - started, 3))
    port.close()
    started = time.monotonic()
    record(close=m.close(), close_s=round(time.monotonic() - started, 3))

    # a killed daemon: on a UART the last close ends n_gsm and the kernel sends nothing (as on
    # detach, above); a pty slave keeps its line discipline while the master is open, so here
    # n_gsm is detached by hand, without a close-down: the module is left multiplexing
    m = mux.Mux.open(p)
    m._release()
    mux._set_discipline(m.serial.fileno(), 0)
    m.serial.close()
    raw = open_port(p)
    raw.write(b"AT\r")
    time.sleep(0.5)
    answer = raw.read(raw.in_waiting or 1)
    raw.close()
    started = time.monotonic()
    record(left_answer=answer.hex(" "), left_looks_like_mux=mux.looks_like_mux(answer),
           leftover=mux.close_leftover(p), leftover_s=round(time.monotonic() - started, 3))
    started = time.monotonic()
    record(leftover_plain=mux.close_leftover(p), leftover_plain_s=round(time.monotonic() - started, 3),
           commands=[c for _, c in emulator_commands()])
