"""The network ends the PDP context (issue 17, item 7): the URCs that say so end the link at once.

The module keeps answering LCP after the network deactivated the context, so LCP echo never
notices; ``+CGEV: NW PDN DEACT`` / ``+QIURC: "pdpdeact"`` on the AT port do. Against the pty
emulator: its ``pdp_deact`` control op sends them the module's way, keeps the PPP session and
answers LCP echo, and carries no IP any more.
"""

from __future__ import annotations

import struct
import threading
import time

import pytest

from bg_pppd.emulator import Emulator
from bg_pppd.emulator.control import call
from bg_pppd.emulator.lcp import unescape
from bg_pppd.emulator.pdp_deact import LcpResponder, fcs16, frame
from bg_pppd.link.radio_monitor import AtPortMonitor
from bg_pppd.modem import network_end
from bg_pppd.profile import model as profile_mod
from tests.modemport import Port

FAST = {"boot_at_start": False, "time_scale": 0.05, "registration": [[0, 1]], "at_port": True,
        "network": "sink"}


@pytest.mark.parametrize("line, reason", [
    ("+CGEV: NW PDN DEACT 1", "the network ended the PDP context (+CGEV: NW PDN DEACT 1)"),
    ("+CGEV: NW PDN DEACT 1,0", "the network ended the PDP context (+CGEV: NW PDN DEACT 1,0)"),
    ("+CGEV: ME PDN DEACT 1", "the module ended the PDP context (+CGEV: ME PDN DEACT 1)"),
    ('+CGEV: NW DEACT "IP","10.64.64.2",1', 'the network ended the PDP context (+CGEV: NW DEACT "IP",'
                                            '"10.64.64.2",1)'),
    ('+CGEV: NW DEACT "IP","10.64.64.2"', 'the network ended the PDP context (+CGEV: NW DEACT "IP",'
                                          '"10.64.64.2")'),
    ("+CGEV: NW DETACH", "the network detached from the packet domain (+CGEV: NW DETACH)"),
    ('+QIURC: "pdpdeact",1', 'the network ended the PDP context (+QIURC: "pdpdeact",1)'),
    ("+CGEV: NW PDN DEACT 2", None),          # another context (IMS): not ours
    ('+QIURC: "pdpdeact",3', None),
    ('+CGEV: NW DEACT "IP","10.1.1.1",2', None),
    ("+CGEV: NW PDN ACT 1", None),            # an activation
    ("+CGEV: NW MODIFY 1,0,0", None),
    ('+QIURC: "closed",0', None),
    ('+CMTI: "ME",1', None),
])
def test_which_urcs_end_the_data_call(line, reason):
    assert network_end.ended(line, cid=1) == reason


def test_the_context_is_the_dial_strings():
    assert network_end.dial_cid("*99#") == 1 and network_end.dial_cid("*99***3#") == 3
    assert network_end.ended("+CGEV: NW PDN DEACT 3", network_end.dial_cid("*99***3#"))
    assert network_end.first_end(['+CMTI: "ME",1', "+CGEV: NW PDN DEACT 2", '+QIURC: "pdpdeact",1']) == \
        'the network ended the PDP context (+QIURC: "pdpdeact",1)'


def test_lcp_echo_reply_frames_are_rfc1662():
    """The emulator's Echo-Reply: a valid FCS (the 'good FCS' residue), id and data echoed, its own magic."""
    request = b"\xff\x03\xc0\x21\x09\x2a\x00\x0c" + struct.pack(">I", 0x01020304) + b"ping"
    assert fcs16(b"123456789") == 0x906E  # CRC-16/X-25 check value
    replies = LcpResponder().feed(b"garbage" + frame(request) + frame(b"\xff\x03\x00\x21" + b"E" * 20))
    assert [code for code, _ in replies] == [9], "only the Echo-Request is answered; IP goes nowhere"
    body = unescape(replies[0][1].strip(b"\x7e"))
    assert fcs16(body) == 0xF0B8 ^ 0xFFFF, "FCS over frame and FCS gives RFC 1662's good residue"
    assert body[:4] == b"\xff\x03\xc0\x21" and body[4] == 10 and body[5] == 0x2A
    assert struct.unpack(">H", body[6:8])[0] == 12 and body[12:16] == b"ping"
    assert body[8:12] != struct.pack(">I", 0x01020304), "never the host's magic (pppd: looped back)"
    # once ACFC is agreed pppd sends its Echo-Requests without address and control (seen in the lab)
    compressed = LcpResponder().feed(frame(request[2:]))
    assert len(compressed) == 1 and unescape(compressed[0][1].strip(b"\x7e"))[:4] == b"\xff\x03\xc0\x21"
    # the host's Terminate-Request: the module acknowledges it (and so ends the call)
    ack = LcpResponder().feed(frame(b"\xff\x03\xc0\x21\x05\x07\x00\x04"))
    assert [code for code, _ in ack] == [5]
    assert unescape(ack[0][1].strip(b"\x7e"))[:8] == b"\xff\x03\xc0\x21\x06\x07\x00\x04"


def connected(tmp_path, scenario=None):
    emu = Emulator({**FAST, **(scenario or {})}, at_link=tmp_path / "at", control=tmp_path / "ctl")
    emu.__enter__()
    modem = Port(emu.device)
    assert b"CONNECT" in modem.cmd("ATD*99#")
    return emu, modem


def test_pdp_deact_the_modules_way(tmp_path):
    """URCs on the AT port (+CGEV only once AT+CGEREP enabled it), the cause in AT+CEER, the PPP
    session kept (DCD up, LCP echo answered), no IP carried; the next call carries IP again."""
    emu, modem = connected(tmp_path)
    at = Port(str(tmp_path / "at"))
    try:
        assert call(str(tmp_path / "ctl"), "pdp_deact")["ok"]
        assert at.read_for(0.3) == b'\r\n+QIURC: "pdpdeact",1\r\n', "no +CGEV: CGEREP is 0 by default"
        assert b"OK" in at.cmd("AT+CGEREP=2,0")
        assert b"+CGEREP: 2,0" in at.cmd("AT+CGEREP?")
        assert call(str(tmp_path / "ctl"), "pdp_deact")["ok"]
        assert at.read_for(0.3) == b'\r\n+CGEV: NW PDN DEACT 1\r\n\r\n+QIURC: "pdpdeact",1\r\n'
        assert b"+CEER: Regular deactivation (ESM cause #36)" in at.cmd("AT+CEER")
        st = emu.status()
        assert st["session"] and st["dcd"] and st["mode"] == "data", "the module keeps the PPP session"
        echo = b"\xff\x03\xc0\x21\x09\x01\x00\x08" + struct.pack(">I", 0x0BADCAFE)
        modem.send(frame(echo) + frame(b"\xff\x03\x00\x21" + b"E" * 20))
        reply = modem.read_for(0.3)
        assert reply.startswith(b"\x7e\xff\x7d\x23\xc0\x21\x7d\x2a"), reply  # LCP code 10: Echo-Reply
        assert bytes(emu.sink) == b"", "nothing reaches the network any more"
        # the host ends the link (LCP Terminate-Request): the module acknowledges, the call ends
        modem.send(frame(b"\xff\x03\xc0\x21\x05\x02\x00\x04"))
        ended = modem.read_for(0.4)
        assert b"\xc0\x21\x7d\x26" in ended and ended.endswith(b"\r\nNO CARRIER\r\n"), ended
        assert not emu.status()["session"]
        # a new call carries IP again
        assert b"CONNECT" in modem.cmd("ATD*99#")
        modem.send(b"\x7e\xff\x03\x00\x21IP\x7e")
        time.sleep(0.2)
        assert b"IP" in bytes(emu.sink)
    finally:
        at.close()
        modem.close()
        emu.__exit__(None, None, None)


def monitor_profile(write_profile, at: str, modem: str, interval: float):
    return profile_mod.load(write_profile(f"""
        modem:
          port: {at}
          data_port: {modem}
        network:
          apn: internet
        ppp:
          lcp_echo_interval: 30
        monitor:
          interval: {interval}
        """))


@pytest.mark.parametrize("interval", [0, 60])
def test_the_at_port_watch_ends_the_link_within_a_second(tmp_path, write_profile, interval):
    """Between queries (interval 60: one query, at once) or with none at all (interval 0), the URC
    is read as it arrives: LINK_DEAD's reason within ~1 s. The monitor enables +CGEV itself."""
    emu, modem = connected(tmp_path)
    dead: list[tuple[float, str]] = []
    radios: list[dict] = []
    told = threading.Event()

    def on_dead(reason: str) -> None:
        dead.append((time.monotonic(), reason))
        told.set()
    logs: list[str] = []
    mon = AtPortMonitor(monitor_profile(write_profile, str(tmp_path / "at"), emu.device, interval),
                        radios.append, lambda urcs: None, logs.append, dead=on_dead)
    try:
        deadline = time.monotonic() + 5
        while "[at] AT+CGEREP=2,0" not in emu.commands() and time.monotonic() < deadline:
            time.sleep(0.02)
        time.sleep(0.3)  # the first query set (interval 60) is over: the monitor waits on the port
        sent = time.monotonic()
        assert call(str(tmp_path / "ctl"), "pdp_deact")["ok"]
        assert told.wait(3), "no LINK_DEAD"
        took = dead[0][0] - sent
        assert took < 1.0, f"{took:.3f} s from the URC to LINK_DEAD"
        assert dead[0][1] == "the network ended the PDP context (+CGEV: NW PDN DEACT 1)"
        mon.thread.join(2)
        assert not mon.thread.is_alive(), "the watch ends with the link"
        assert len(dead) == 1, "told once"
    finally:
        mon.cancel()
        mon.thread.join(3)
        modem.close()
        emu.__exit__(None, None, None)
    queries = [c for c in emu.commands() if c == "[at] AT+QCSQ"]
    assert len(queries) == (0 if interval == 0 else 1), "interval 0: URCs only; else the first query at once"
    assert logs == []


def test_a_usb_profile_watches_its_at_port_even_with_monitor_interval_0(write_profile):
    from bg_pppd.daemon.workers import watchers

    usb = "modem:\n  port: /dev/ttyUSB2\n  data_port: /dev/ttyUSB3\nnetwork:\n  apn: internet\n"
    assert watchers(profile_mod.load(write_profile(usb + "monitor:\n  interval: 0\n")), False) == \
        {"carrier", "radio monitor"}
    assert watchers(profile_mod.load(write_profile(usb)), False) == {"carrier", "radio monitor"}


def test_a_drop_ends_the_call_and_ceer_tells_the_networks_cause(tmp_path):
    """``drop`` (unlike ``pdp_deact``): the module ends PPP too (NO CARRIER, DCD low), no URC needed."""
    emu, modem = connected(tmp_path)
    at = Port(str(tmp_path / "at"))
    try:
        assert call(str(tmp_path / "ctl"), "drop")["ok"]
        assert modem.read_for(0.3).endswith(b"\r\nNO CARRIER\r\n")
        assert not emu.status()["dcd"]
        assert b"+CEER: Network failure (ESM cause #38)" in at.cmd("AT+CEER")
    finally:
        at.close()
        modem.close()
        emu.__exit__(None, None, None)
