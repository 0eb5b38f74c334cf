"""A UART's last close, on a pty: the line discipline goes back to N_TTY.

On a real UART the tty's final close releases its line discipline, so the next open gets
N_TTY even after a program that had set n_gsm (or N_PPP) was killed. A pty slave keeps its
line discipline while the master is open, and the emulator holds a slave fd of its own (so
the module's bytes wait for the host as in a UART's buffer). So the emulator watches the
host's closes (inotify IN_CLOSE_WRITE: its own fd is read-only and makes none) and, when the
discipline is not N_TTY, checks whether that was the host's last fd: with its own fd closed
too, the master reports POLLHUP. Then it sets N_TTY, as the final close would have.
"""

from __future__ import annotations

import ctypes
import fcntl
import os
import select
import struct
import termios

N_TTY = 0
IN_CLOSE_WRITE = 0x08


def hold(device: str) -> int:
    """The emulator's own fd on the slave: read-only, so its close is not a host's close."""
    return os.open(device, os.O_RDONLY | os.O_NOCTTY | os.O_NONBLOCK | os.O_CLOEXEC)


def watch(device: str) -> int | None:
    """An inotify fd, readable after a fd opened for writing on ``device`` closed; None without inotify."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        fd = libc.inotify_init1(os.O_NONBLOCK | os.O_CLOEXEC)
    except (OSError, AttributeError):
        return None
    if fd < 0:
        return None
    if libc.inotify_add_watch(fd, os.fsencode(device), IN_CLOSE_WRITE) < 0:
        os.close(fd)
        return None
    return fd


def drain(fd: int) -> None:
    """Read the pending events (only their arrival matters: the state is checked afresh)."""
    try:
        while os.read(fd, 4096):
            pass
    except (BlockingIOError, OSError):
        pass


def discipline(fd: int) -> int | None:
    try:
        return struct.unpack("i", fcntl.ioctl(fd, termios.TIOCGETD, bytes(4)))[0]
    except OSError:
        return None


def probe(master: int, held: int, device: str) -> tuple[int, bool]:
    """Whether a host still has the slave open: with the emulator's fd closed, the master reports
    POLLHUP if not. Returns the emulator's fd on the slave again (-1 if it could not be opened) and that."""
    os.close(held)
    poller = select.poll()
    poller.register(master, select.POLLIN)
    hung_up = any(events & select.POLLHUP for _fd, events in poller.poll(0))
    try:
        return hold(device), not hung_up
    except OSError:
        return -1, not hung_up


def set_n_tty(fd: int) -> None:
    fcntl.ioctl(fd, termios.TIOCSETD, struct.pack("i", N_TTY))
