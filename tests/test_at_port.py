"""A USB module's two ports: AT commands on the AT port while PPP runs on the modem port.

The emulator's ports share the module (SIM, registration, the data call) but
each has its own echo, result format and mode; URCs go to the AT port. The
monitor reads the radio there without touching the data call.
"""

from __future__ import annotations

import threading
import time

from bg_pppd.emulator import Emulator
from bg_pppd.link.radio_monitor import AtPortMonitor
from bg_pppd.profile import model as profile_mod
from tests.modemport import Port

FAST = {"boot_at_start": False, "time_scale": 0.05, "registration": [[0, 1]], "at_port": True,
        "network": "sink"}


def test_ports_share_the_module_but_not_their_settings(tmp_path):
    with Emulator(FAST, at_link=tmp_path / "at") as emu:
        modem, at = Port(emu.device), Port(str(tmp_path / "at"))
        try:
            assert emu.at_device and emu.at_device != emu.device
            assert at.cmd("ATE0") == b"ATE0\r\r\nOK\r\n"
            assert at.cmd("AT") == b"\r\nOK\r\n", "echo off on the AT port..."
            assert modem.cmd("AT") == b"AT\r\r\nOK\r\n", "...is still on for the modem port"
            assert b"CONNECT 150000000" in modem.cmd("ATD*99#")
            # the data call holds the modem port; the AT port still answers, about the same module
            out = at.cmd("AT+CEREG?")
            assert b"+CEREG: 0,1" in out and out.endswith(b"\r\nOK\r\n")
            assert b'+COPS: 0,0,"Example",8' in at.cmd("AT+COPS?")
            assert at.cmd("ATO").endswith(b"\r\nNO CARRIER\r\n"), "the call is the modem port's"
            modem.send(b"\x7e\xff\x03\xc0\x21")  # PPP bytes go to the network, not to the AT port
            time.sleep(0.2)
            assert b"\x7e\xff\x03" in bytes(emu.sink)
            assert at.read_for(0.2) == b""
            assert emu.status()["mode"] == "data"
        finally:
            modem.close()
            at.close()
    assert "[at] AT+CEREG?" in emu.commands() and "ATD*99#" in emu.commands()


def test_urcs_go_to_the_at_port_even_in_data_mode(tmp_path):
    with Emulator(FAST, at_link=tmp_path / "at") as emu:
        modem, at = Port(emu.device), Port(emu.at_device)
        try:
            assert b"CONNECT" in modem.cmd("ATD*99#")
            emu.ring("sms")
            assert b'\r\n+CMTI: "ME",1\r\n' in at.read_for(0.3)
            assert b"CMTI" not in bytes(emu.sink)
            # a reboot: both ports vanish and come back; RDY arrives on the AT port
            emu.reset()
            assert emu.wait_for("event", "port vanished", 5)
        finally:
            modem.close()
            at.close()


def monitor_profile(write_profile, at: str, modem: str, interval: float = 0.5):
    return profile_mod.load(write_profile(f"""
        modem:
          port: {at}
          data_port: {modem}
        network:
          apn: internet
        monitor:
          interval: {interval}
        """))


def test_monitor_reads_the_radio_on_the_at_port_while_connected(tmp_path, write_profile):
    sc = {**FAST, "rssi": 10, "registration": [[0, 1], [0.8 / 0.05, 5]]}  # roaming after 0.8 s
    with Emulator(sc, at_link=tmp_path / "at") as emu:
        modem = Port(emu.device)
        assert b"CONNECT" in modem.cmd("ATD*99#")
        radios: list[dict] = []
        urcs: list[list[str]] = []
        logs: list[str] = []
        got_roaming = threading.Event()

        def on_radio(radio: dict) -> None:
            radios.append(radio)
            if radio.get("registration") == "roaming":
                got_roaming.set()
        mon = AtPortMonitor(monitor_profile(write_profile, str(tmp_path / "at"), emu.device), on_radio,
                      urcs.append, logs.append)
        try:
            assert got_roaming.wait(5), radios
            first = radios[0]
            assert first["registration"] == "home" and first["operator"] == "Example"
            assert first["access_technology"] == "CAT-M1" and first["band"] == "LTE BAND 20"
            assert first["signal"]["rssi_dbm"] == -93 and first["signal"]["sysmode"] == "eMTC"
            emu.ring("sms")  # arrives between queries: handed on without waiting for the next one
            deadline = time.monotonic() + 2
            while not urcs and time.monotonic() < deadline:
                time.sleep(0.02)
            assert urcs == [['+CMTI: "ME",1']]
            assert emu.status()["mode"] == "data" and emu.status()["session"], "PPP untouched"
        finally:
            mon.cancel()
            mon.thread.join(3)
            modem.close()
        assert not mon.thread.is_alive(), "cancel wakes the monitor at once"
        assert logs == []
        polls = [c for c in emu.commands() if c == "[at] AT+CEREG?"]
        assert 2 <= len(polls) <= 30, "one query set per interval, not a busy loop"


def test_monitor_survives_a_module_reboot(tmp_path, write_profile):
    with Emulator({**FAST, "reboot_time": 20, "usb_drop_delay": 1}, at_link=tmp_path / "at") as emu:
        radios: list[dict] = []
        logs: list[str] = []
        mon = AtPortMonitor(monitor_profile(write_profile, str(tmp_path / "at"), emu.device, 0.5),
                            radios.append,
                      lambda urcs: None, logs.append)
        try:
            deadline = time.monotonic() + 3
            while not radios and time.monotonic() < deadline:
                time.sleep(0.02)
            emu.reset()
            assert emu.wait_for("event", "port vanished", 5)
            count = len(radios)
            assert emu.wait_for("event", "port appeared", 5)
            deadline = time.monotonic() + 5
            while len(radios) <= count + 1 and time.monotonic() < deadline:
                time.sleep(0.05)
            assert len(radios) > count + 1, "queries resume once the port is back"
        finally:
            mon.cancel()
            mon.thread.join(3)
        assert logs and all(line.startswith("monitor: ") for line in logs)
        assert len(logs) <= 3, "a failing port is logged once per kind of failure, not every interval"
