"""A host-side helper that talks to the (virtual) module through pyserial, as a host would."""

from __future__ import annotations

import re
import time

import serial

FINAL = re.compile(rb"\r\n(OK|ERROR|\+CME ERROR: [^\r]*|\+CMS ERROR: [^\r]*|NO CARRIER|CONNECT[^\r]*|"
                   rb"BUSY|NO ANSWER|NO DIALTONE)\r\n")


class Port:
    def __init__(self, device: str):
        self.ser = serial.Serial(device, 115200, timeout=0.05)

    def close(self) -> None:
        self.ser.close()

    def send(self, data: bytes) -> None:
        self.ser.write(data)

    def read_for(self, seconds: float) -> bytes:
        end, out = time.monotonic() + seconds, b""
        while time.monotonic() < end:
            out += self.ser.read(4096)
        return out

    def read_until_final(self, timeout: float = 3.0) -> bytes:
        end, out = time.monotonic() + timeout, b""
        while time.monotonic() < end:
            out += self.ser.read(4096)
            if FINAL.search(out):
                return out
        return out

    def cmd(self, text: str, timeout: float = 3.0) -> bytes:
        self.ser.write(text.encode() + b"\r")
        return self.read_until_final(timeout)

    def sync(self, timeout: float = 10.0) -> float:
        """AT every 100 ms until OK, as the vendor's procedure says; returns the time it took."""
        start = time.monotonic()
        while time.monotonic() - start < timeout:
            self.ser.write(b"AT\r")
            if b"OK" in self.read_for(0.1):
                return time.monotonic() - start
        raise TimeoutError("no OK")
