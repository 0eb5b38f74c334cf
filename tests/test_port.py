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


class ControlSocket:
    """A Unix socket at ``path`` that counts who connects (and answers like the emulator)."""

    def __init__(self, path: str):
        import socket
        import threading

        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(path)
        self.sock.listen(4)
        self.requests: list[bytes] = []
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                self.requests.append(conn.recv(4096))
                conn.sendall(b'{"ok": true, "dcd": true, "ri": false}\n')

    def close(self) -> None:
        self.sock.close()


def test_a_control_socket_beside_the_port_is_not_used_by_default(tmp_path):
    """Production never sniffs for the emulator: only modem.line_backend: emulator takes it."""
    from bg_pppd.modem.control_lines import EmulatorLines, NoLines, for_port, watch_port

    master, slave = os.openpty()
    port = str(tmp_path / "ttyUSB3")
    os.symlink(os.ttyname(slave), port)
    planted = ControlSocket(f"{port}.control")
    try:
        assert isinstance(for_port(port), NoLines)
        assert list(watch_port(port)) in ([], [{"dcd": False, "ri": False}]), "the pty's own (no) lines"
        assert planted.requests == [], "nobody's socket beside the device speaks for its lines"
        lines = for_port(port, backend="emulator")
        assert isinstance(lines, EmulatorLines) and lines.dcd() is True
        assert planted.requests and b'"status"' in planted.requests[0]
        with pytest.raises(ValueError):
            for_port(port, backend="guess")
    finally:
        planted.close()
        os.close(master)
        os.close(slave)
