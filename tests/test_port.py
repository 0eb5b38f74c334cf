"""Hanging up a tty the way the kernel does when DCD drops (pppd then sees "Modem hangup")."""

from __future__ import annotations

import errno
import os

import pytest

from bg_pppd.modem.serial_port import hang_up


@pytest.mark.skipif(os.geteuid() != 0, reason="TIOCVHANGUP needs CAP_SYS_ADMIN")
def test_hang_up_ends_every_open_file_of_the_tty_and_the_port_opens_again():
    master, slave = os.openpty()
    name = os.ttyname(slave)
    holder = os.open(name, os.O_RDWR | os.O_NOCTTY)  # pppd's descriptor
    try:
        assert hang_up(name)
        with pytest.raises(OSError) as exc:
            os.write(holder, b"x")
        assert exc.value.errno == errno.EIO
        assert os.read(holder, 1) == b"", "a hung-up tty reads as end of file"
        again = os.open(name, os.O_RDWR | os.O_NOCTTY)  # the next pppd
        os.write(again, b"ok\n")
        assert os.read(master, 16) == b"ok\r\n"
        os.close(again)
    finally:
        for fd in (holder, slave, master):
            os.close(fd)


def test_hang_up_of_a_missing_port_says_so(tmp_path):
    assert not hang_up(str(tmp_path / "ttyUSB3"))
    (tmp_path / "file").write_text("")
    assert not hang_up(str(tmp_path / "file")), "not a tty: the caller falls back to SIGHUP"
