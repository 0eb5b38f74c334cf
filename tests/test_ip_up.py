"""pppd's IP-up settling (link.pppd.IpUp): when the burst of address and DNS lines is over,
and only what the kernel backs. The timer is injected: no real waits."""

from __future__ import annotations

import logging
from typing import ClassVar

from bg_pppd.link import pppd as pppd_mod
from bg_pppd.link.pppd import IpUp, LinkInfo

log = logging.getLogger("bg_pppd")


class FakeTimer:
    made: ClassVar[list[FakeTimer]] = []

    def __init__(self, delay, action):
        self.delay, self.action, self.cancelled, self.daemon = delay, action, False, False
        FakeTimer.made.append(self)

    def start(self):
        pass

    def cancel(self):
        self.cancelled = True

    @classmethod
    def fire(cls):
        live = [t for t in cls.made if not t.cancelled]
        cls.made = []
        for t in live:
            t.action()


BURST = ["Using interface ppp0", "Connect: ppp0 <--> /dev/ttyUSB3", "local  IP address 10.64.64.2",
         "remote IP address 10.64.64.1", "primary   DNS address 10.64.64.53", "secondary DNS address 10.64.64.54"]


def watch(monkeypatch, disagree: str = "", use_peer_dns: bool = True):
    monkeypatch.setattr(pppd_mod, "pppd_interface", lambda linkname, pid: "ppp0")
    monkeypatch.setattr(pppd_mod, "kernel_disagrees", lambda info, linkname, pid: disagree)
    FakeTimer.made = []
    ups: list[LinkInfo] = []
    ip_up = IpUp("office", LinkInfo(), "bg-pppd-office", use_peer_dns, ups.append, log, timer=FakeTimer)
    ip_up.spawned(4242)
    return ip_up, ups


def test_up_is_posted_once_when_the_burst_is_over(monkeypatch):
    ip_up, ups = watch(monkeypatch)
    delays = []
    for line in BURST:
        ip_up.line(line)
        delays.append([t.delay for t in FakeTimer.made if not t.cancelled])
    assert delays[3] == [0.5], "IP up: wait for the DNS lines that may follow"
    assert delays[4] == [0.05] and delays[5] == [0.0], "the secondary DNS line is pppd's last"
    FakeTimer.fire()
    assert len(ups) == 1 and ups[0].dns == ["10.64.64.53", "10.64.64.54"]
    ip_up.line("local  IP address 10.64.64.3")  # nothing after the one up
    FakeTimer.fire()
    assert len(ups) == 1


def test_without_peer_dns_up_comes_at_once(monkeypatch):
    ip_up, _ = watch(monkeypatch, use_peer_dns=False)
    for line in BURST[:4]:
        ip_up.line(line)
    assert [t.delay for t in FakeTimer.made if not t.cancelled] == [0.0]


def test_a_claim_the_kernel_does_not_back_is_logged_once_and_not_posted(monkeypatch, caplog):
    ip_up, ups = watch(monkeypatch, disagree="ppp0 holds 10.0.0.9 peer 10.0.0.1")
    with caplog.at_level(logging.INFO, logger="bg_pppd"):
        for line in BURST:
            ip_up.line(line)
            FakeTimer.fire()
    assert ups == []
    assert caplog.text.count("but the kernel disagrees") == 1
    assert "office: pppd: local  IP address 10.64.64.2" in caplog.text, "every line logged, with the profile"


def test_no_up_before_pppd_is_known(monkeypatch):
    monkeypatch.setattr(pppd_mod, "kernel_disagrees", lambda info, linkname, pid: "")
    FakeTimer.made = []
    ups: list[LinkInfo] = []
    ip_up = IpUp("office", LinkInfo(), "bg-pppd-office", True, ups.append, log, timer=FakeTimer)
    for line in BURST:
        ip_up.line(line)
    FakeTimer.fire()
    assert ups == [], "no pid, no link pid file to check the lines against"
