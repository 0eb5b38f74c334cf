"""The virtual module on a pseudo-terminal: pty, network side, control socket, command log.

All I/O for the model in modem.py lives here. The slave side is put in raw
mode and kept open by us, so the host can open and close it like a serial
port without the pty hanging up; a USB-style reboot closes it for real. The
host's last close takes its line discipline back to N_TTY, as a UART's final
close does (last_close.py).
"""

from __future__ import annotations

import contextlib
import errno
import functools
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import termios
import threading
import time
import tty
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bg_pppd.emulator import last_close, pdp_deact, uart_line
from bg_pppd.emulator.loop import Loop, TimerHandle
from bg_pppd.emulator.modem import Modem
from bg_pppd.emulator.scenario import Scenario
from bg_pppd.util import safe_files as atomic
from bg_pppd.util.control_socket import socket_address

# termios speed constants -> baud
_SPEEDS = {getattr(termios, f"B{rate}"): rate for rate in uart_line.RATES if hasattr(termios, f"B{rate}")}
MAX_CONTROL_LINE = 65536  # a request is a short JSON line: a client that sends more without "\n" is dropped


class Pty:
    """One port of the module: a pty whose slave we keep open, optionally symlinked at ``link``."""

    def __init__(self, name: str, loop: Loop, link: Path | None, on_data: Callable[[bytes], None],
                 uart_rate: Callable[[], int] | None = None, event: Callable[[str], None] | None = None):
        self.name, self.loop, self.link, self.on_data = name, loop, link, on_data
        self.event = event or (lambda _text: None)
        self.closes: int | None = None  # inotify fd: a host closed the slave (last_close.py)
        # a UART's rate now (None: a USB port, which has none): at another rate than the host's
        # (read from the pty: on Linux the master sees the termios the host set on the slave)
        # each side reads the other's bytes mangled, as on a real line (uart_line)
        self.uart_rate = uart_rate
        self.master = self.slave = -1
        self.device: str | None = None
        self.out = bytearray()

    def host_rate(self) -> int | None:
        """The baud rate the host set on its side of the pty; None if it cannot be read."""
        try:
            return _SPEEDS.get(termios.tcgetattr(self.master)[5])
        except (termios.error, OSError):
            return None

    def _on_line(self, data: bytes, outgoing: bool) -> bytes:
        host = self.host_rate() if self.uart_rate else None
        if host is None:
            return data
        module = self.uart_rate()
        return uart_line.resample(data, module, host) if outgoing else uart_line.resample(data, host, module)

    def open(self) -> None:
        self.master, slave = os.openpty()
        tty.setraw(slave)
        os.set_blocking(self.master, False)
        self.device = os.ttyname(slave)
        self.slave = last_close.hold(self.device)
        os.close(slave)
        self.out.clear()
        if self.link:
            atomic.symlink(self.device, self.link)
        self.loop.set_writer(self.master, self._readable, None)
        self.closes = last_close.watch(self.device)
        if self.closes is not None:
            self.loop.add_reader(self.closes, self._host_closed)

    def _host_closed(self) -> None:
        """A host closed the slave: its last close takes the line discipline back to N_TTY (a UART's)."""
        if self.closes is not None:
            last_close.drain(self.closes)  # first: an undrained watch would wake the loop forever
        if self.device is None or self.slave < 0:
            return
        before = last_close.discipline(self.slave)
        if before in (None, last_close.N_TTY):
            return
        self.slave, in_use = last_close.probe(self.master, self.slave, self.device)
        if self.slave < 0:
            self.event(f"{self.name} port: the slave could not be held open again")
        if in_use or self.slave < 0:
            return
        try:
            last_close.set_n_tty(self.slave)
        except OSError as exc:
            self.event(f"{self.name} port: line discipline {before} kept after the host's last close ({exc})")
            return
        self.event(f"{self.name} port: the host's last close, line discipline {before} -> N_TTY (as a UART's)")

    def close(self) -> None:
        if self.link:
            with contextlib.suppress(FileNotFoundError):
                self.link.unlink()
        if self.closes is not None:
            self.loop.remove(self.closes)
            os.close(self.closes)
            self.closes = None
        if self.master >= 0:
            self.loop.remove(self.master)
            for fd in (self.master, self.slave):
                with contextlib.suppress(OSError):
                    os.close(fd)
        self.master = self.slave = -1

    def write(self, data: bytes) -> None:
        if self.master < 0:
            return
        self.out += self._on_line(data, outgoing=True)
        self._flush()

    def _flush(self) -> None:
        try:
            while self.out:
                del self.out[:os.write(self.master, self.out)]
        except BlockingIOError:
            pass
        except OSError:
            self.out.clear()
        self.loop.set_writer(self.master, self._readable, self._flush if self.out else None)

    def _readable(self) -> None:
        try:
            data = os.read(self.master, 4096)
        except BlockingIOError:
            return
        except OSError as exc:
            if exc.errno == errno.EIO:  # nobody has the slave open: cannot happen, we keep it
                return
            raise
        if data:
            self.on_data(self._on_line(data, outgoing=False))


class Emulator:
    """A virtual BG95 on a pty. Use as a context manager (runs in a thread) or ``run()``.

    With the scenario's ``at_port`` (a USB module), a second pty is its AT port,
    symlinked at ``at_link``; ``link`` is always the modem (PPP) port.
    """

    def __init__(self, scenario: Scenario | dict | None = None, link: str | os.PathLike | None = None,
                 log: str | os.PathLike | None = None, control: str | os.PathLike | None = None,
                 at_link: str | os.PathLike | None = None):
        self.scenario = scenario if isinstance(scenario, Scenario) else Scenario.from_dict(scenario)
        self.link = Path(link) if link else None
        self.log_path = Path(log) if log else None
        self.control_path = Path(control) if control else None
        self.loop = Loop()
        self.modem = Modem(self.scenario, self)
        self._rate = self.modem.ipr
        self.ports = {"modem": Pty("modem", self.loop, self.link, self.modem.receive,
                                   self._uart_rate if self.scenario.port == "uart" else None,
                                   functools.partial(self.log, "event"))}
        if self.scenario.at_port:
            self.ports["at"] = Pty("at", self.loop, Path(at_link) if at_link else None,
                                   functools.partial(self.modem.receive, port="at"),
                                   event=functools.partial(self.log, "event"))
        self.events: list[tuple[float, str, str]] = []
        self.sink = bytearray()
        self.blackhole = False  # the network silently stops forwarding (PPP stays "up")
        self._net: subprocess.Popen | None = None
        self._net_out = bytearray()
        self._net_kind = ""
        self._log_file = None
        self._server: socket.socket | None = None
        self._clients: dict[int, tuple[socket.socket, bytearray]] = {}
        self._watchers: set[int] = set()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._appeared = threading.Event()

    def _uart_rate(self) -> int:
        """The module's UART rate now: a new AT+IPR rate takes effect once its answer is out
        (the module answers at the old rate), so it follows Modem.ipr only between answers."""
        if not any(ch.busy for ch in self.modem.channels.values()):
            self._rate = self.modem.ipr
        return self._rate

    # ----- ModemIO ---------------------------------------------------------------------------

    def now(self) -> float:
        return self.loop.now()

    def call_later(self, delay: float, fn) -> TimerHandle:
        return self.loop.call_later(delay, fn)

    def log(self, kind: str, text: str) -> None:
        stamp = time.time()
        with self._lock:
            self.events.append((stamp, kind, text))
        if self._log_file:
            self._log_file.write(f"{stamp:.3f} {kind} {text}\n")
            self._log_file.flush()

    @property
    def device(self) -> str | None:
        """The modem (PPP) port's pty."""
        return self.ports["modem"].device

    @property
    def at_device(self) -> str | None:
        """The AT port's pty (scenario at_port), else None."""
        return self.ports["at"].device if "at" in self.ports else None

    def write(self, data: bytes, port: str = "modem") -> None:
        self.ports[port].write(data)

    def network_start(self) -> None:
        kind = self.scenario.network
        pppd = shutil.which("pppd", path="/usr/sbin:/sbin:" + os.environ.get("PATH", ""))
        if kind == "auto":
            kind = "pppd" if pppd and os.path.exists("/dev/ppp") else "sink"
        self._net_kind = kind
        self.blackhole = False
        self.log("event", f"network side: {kind}")
        if kind != "pppd":
            return
        args = [pppd or "pppd", "notty", *self.scenario.network_pppd, "nodetach"]
        if self.scenario.network_log:
            args += ["debug", "logfile", self.scenario.network_log]
        self._net = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.DEVNULL, start_new_session=True)
        for f in (self._net.stdin, self._net.stdout):
            os.set_blocking(f.fileno(), False)
        self.loop.add_reader(self._net.stdout.fileno(), self._on_network_readable)

    def network_write(self, data: bytes) -> None:
        if self.blackhole:
            return
        if not self._net or not self._net.stdin:
            with self._lock:  # the sink keeps the tail of what it got, for tests
                self.sink += data
                del self.sink[:-65536]
            return
        self._net_out += data
        self._flush_net()

    def _flush_net(self) -> None:
        net = self._net
        if not net or not net.stdin:
            return
        fd = net.stdin.fileno()
        try:
            while self._net_out:
                del self._net_out[:os.write(fd, self._net_out)]
        except BlockingIOError:
            self.loop.call_later(0.01, self._flush_net)
        except OSError:
            self._net_out.clear()

    def _on_network_readable(self) -> None:
        net = self._net
        if not net:
            return
        try:
            data = os.read(net.stdout.fileno(), 65536)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if data:
            if not self.blackhole:
                self.modem.network_data(data)
            return
        self._close_network()
        self.modem.network_closed()

    def _close_network(self) -> None:
        net, self._net = self._net, None
        self._net_out.clear()
        if not net:
            return
        self.loop.remove(net.stdout.fileno())
        if net.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                net.terminate()
        for f in (net.stdin, net.stdout):
            with contextlib.suppress(OSError):
                f.close()
        try:
            net.wait(timeout=5)
        except subprocess.TimeoutExpired:
            net.kill()
            net.wait()
        self.log("event", f"network side ended (exit {net.returncode})")

    def network_stop(self) -> None:
        self._close_network()

    def lines_changed(self, lines: dict[str, bool]) -> None:
        self.log("lines", " ".join(f"{k}={int(v)}" for k, v in lines.items()))
        message = json.dumps({"event": "lines", **lines}).encode() + b"\n"
        for fd in list(self._watchers):
            conn = self._clients.get(fd, (None,))[0]
            try:
                conn.send(message)
            except (OSError, AttributeError):
                self._watchers.discard(fd)

    def port_vanish(self) -> None:
        self.log("event", "port vanished")
        self._close_pty()

    def port_appear(self) -> None:
        self._open_pty()
        self.log("event", "port appeared at " + ", ".join(str(p.device) for p in self.ports.values()))

    # ----- the ports -------------------------------------------------------------------------

    def _open_pty(self) -> None:
        for port in self.ports.values():
            port.open()
        self._appeared.set()

    def _close_pty(self) -> None:
        self._appeared.clear()
        for port in self.ports.values():
            port.close()

    # ----- control ---------------------------------------------------------------------------

    def set_dtr(self, asserted: bool) -> None:
        self.loop.call(lambda: self.modem.set_dtr(asserted))

    def ring(self, kind: str = "sms") -> None:
        self.loop.call(lambda: self.modem.ring(kind))

    def drop_network(self) -> None:
        """The network ends the call: the far-side pppd is killed, as when a cell drops it."""
        def drop() -> None:
            if self._net and self._net.poll() is None:
                self.log("event", "network side killed")
                os.killpg(self._net.pid, signal.SIGKILL)
            elif self.modem.session:
                self.log("event", "network side dropped")
                self.modem.network_closed()
        self.loop.call(drop)

    def reset(self) -> None:
        """A hardware reset (RESET_N / power cycle): works even when the module hangs."""
        self.loop.call(lambda: self.modem.reboot("hardware reset"))

    def reboot(self) -> None:
        """The module reboots by itself (firmware crash, brown-out)."""
        self.loop.call(lambda: self.modem.reboot("by itself"))

    def power_on(self) -> None:
        self.loop.call(self.modem.power_on)

    def status(self) -> dict[str, Any]:
        status = self.loop.call(self.modem.status)
        return {**status, "device": self.device, "network": self._net_kind}

    def commands(self) -> list[str]:
        with self._lock:
            return [text for _, kind, text in self.events if kind == "cmd"]

    def wait_for(self, kind: str, text: str, timeout: float = 10.0) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if any(k == kind and text in t for _, k, t in self.events):
                    return True
            time.sleep(0.02)
        return False

    def _serve_control(self) -> None:
        """The socket is 0600 whatever the umask: bound in a private (0700) directory, made 0600
        there, then renamed into place, so it is never reachable with a looser mode."""
        path = self.control_path
        self._server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        private = Path(tempfile.mkdtemp(prefix=".ctl", dir=path.parent))
        bound = private / "s"
        try:
            with socket_address(str(bound)) as address:
                self._server.bind(address)
            os.chmod(bound, 0o600)
            os.replace(bound, path)
        finally:
            with contextlib.suppress(OSError):
                bound.unlink()
            with contextlib.suppress(OSError):
                private.rmdir()
        self._server.listen(8)
        self._server.setblocking(False)
        self.loop.add_reader(self._server.fileno(), self._accept)

    def _accept(self) -> None:
        try:
            conn, _ = self._server.accept()
        except BlockingIOError:
            return
        conn.setblocking(False)
        self._clients[conn.fileno()] = (conn, bytearray())
        self.loop.add_reader(conn.fileno(), functools.partial(self._client_readable, conn.fileno()))

    def _client_readable(self, fd: int) -> None:
        conn, buf = self._clients[fd]
        try:
            data = conn.recv(4096)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            self._drop_client(fd)
            return
        buf += data
        while b"\n" in buf:
            line, _, rest = bytes(buf).partition(b"\n")
            buf[:] = rest
            reply = self._control(line)
            if reply.pop("watch", False):
                self._watchers.add(fd)
                reply.update(self.modem.lines())
            try:  # a client that does not read its replies must not stall the module
                conn.settimeout(2.0)
                conn.sendall(json.dumps(reply).encode() + b"\n")
                conn.setblocking(False)
            except OSError:
                self._drop_client(fd)
                return
        if len(buf) > MAX_CONTROL_LINE:
            self.log("control", f"client dropped: {len(buf)} bytes without a newline")
            self._drop_client(fd)

    def _hang(self) -> None:
        """Control op ``hang``: the firmware locks up now (as ``hang_after`` does), silent until a reset."""
        if self.modem.power == "on":
            self.modem.power = "hung"
            self.log("event", "hung: no more answers")

    def _drop_client(self, fd: int) -> None:
        conn, _ = self._clients.pop(fd)
        self.loop.remove(fd)
        self._watchers.discard(fd)
        conn.close()

    def _control(self, line: bytes) -> dict[str, Any]:
        try:
            req = json.loads(line)
            op = req.get("op")
            if op == "watch":  # from now on, this connection gets every DCD/RI change
                return {"ok": True, "watch": True}
            if op == "status":
                return {"ok": True, **self.modem.status(), "device": self.device,
                        "network": self._net_kind}
            actions = {
                "dtr": lambda: self.modem.set_dtr(bool(req["value"])),
                "ring": lambda: self.modem.ring(str(req.get("kind", "sms"))),
                "reset": lambda: self.modem.reboot("hardware reset"),
                "reboot": lambda: self.modem.reboot("by itself"),
                "hang": self._hang,
                "power_on": self.modem.power_on,
                "drop": lambda: pdp_deact.drop(self),
                "blackhole": lambda: setattr(self, "blackhole", bool(req.get("value", True))),
                # the network ends the PDP context: URCs, AT+CEER's cause, no more IP, PPP kept
                "pdp_deact": lambda: pdp_deact.deactivate(self, int(req.get("cid", 1))),
            }
            if op not in actions:
                return {"ok": False, "error": f"unknown op {op!r}"}
            self.log("control", op)
            actions[op]()
            return {"ok": True}
        except (ValueError, KeyError, TypeError) as exc:
            return {"ok": False, "error": str(exc)}

    # ----- life cycle ------------------------------------------------------------------------

    def _setup(self) -> None:
        if self.log_path:
            self._log_file = open(self.log_path, "a", buffering=1)
        self._open_pty()
        if self.control_path:
            self._serve_control()
        self.log("event", f"emulator started on {self.device} ({self.scenario.model})")
        self.modem.start()

    def _teardown(self) -> None:
        self._close_network()
        self._close_pty()
        if self._server:
            self.loop.remove(self._server.fileno())
            self._server.close()
            with contextlib.suppress(FileNotFoundError):
                self.control_path.unlink()
        for conn, _ in self._clients.values():
            conn.close()
        if self._log_file:
            self._log_file.close()

    def run(self, ready=None) -> None:
        """Run in this thread until ``stop()`` (or a signal handler calls it)."""
        self._setup()
        if ready:
            ready(self)
        try:
            self.loop.run()
        finally:
            self._teardown()

    def stop(self) -> None:
        self.loop.stop()
        if self._thread and self._thread is not threading.current_thread():
            self._thread.join(10)

    def wait_port(self, timeout: float = 10.0) -> bool:
        return self._appeared.wait(timeout)

    def __enter__(self) -> Emulator:
        started = threading.Event()
        self._thread = threading.Thread(target=self.run, kwargs={"ready": lambda _: started.set()},
                                        name="bg95-emulator", daemon=True)
        self._thread.start()
        if not started.wait(10):
            raise RuntimeError("emulator did not start")
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def main(link: str | None, scenario_path: str | None, log: str | None, control: str | None,
         at_link: str | None = None) -> int:
    """``bg-pppd emulate``: print the device, serve until SIGTERM/SIGINT."""
    scenario = Scenario.load(scenario_path) if scenario_path else Scenario()
    if at_link:
        scenario.at_port = True
    if link and not control:
        control = f"{link}.control"
    emu = Emulator(scenario, link=link, log=log, control=control, at_link=at_link)

    def announce(e: Emulator) -> None:
        print(e.device, flush=True)
        if link:
            print(f"link: {link}", file=sys.stderr, flush=True)
        if e.at_device:
            print(f"AT port: {e.at_device}" + (f" (link: {at_link})" if at_link else ""), file=sys.stderr,
                  flush=True)
        if control:
            print(f"control: {control}", file=sys.stderr, flush=True)

    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, lambda *_: emu.loop.stop())
    emu.run(ready=announce)
    return 0
