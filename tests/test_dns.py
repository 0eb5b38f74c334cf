"""DNS placement with the real tools' command lines (fake tools record what they were given)."""

from __future__ import annotations

import logging

from bg_pppd.link.dns import Dns


def fake_tool(bin_dir, name):
    log = bin_dir / f"{name}.log"
    tool = bin_dir / name
    tool.write_text(f'#!/bin/sh\necho "$@" >> {log}\n/bin/cat >> {log}\n')
    tool.chmod(0o755)
    return log


def test_resolvconf(tmp_path, monkeypatch):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    log = fake_tool(bin_dir, "resolvconf")
    monkeypatch.setenv("PATH", str(bin_dir))
    dns = Dns("office", "resolvconf", "/etc/resolv.conf", tmp_path)
    dns.apply("ppp0", ["10.0.0.53", "10.0.0.54"])
    dns.undo("ppp0")
    assert log.read_text() == ("-a ppp0.bg-pppd\nnameserver 10.0.0.53\nnameserver 10.0.0.54\n"
                               "-d ppp0.bg-pppd\n")


def test_resolved_per_link(tmp_path, monkeypatch):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    log = fake_tool(bin_dir, "resolvectl")
    monkeypatch.setenv("PATH", str(bin_dir))
    dns = Dns("office", "resolved", "/etc/resolv.conf", tmp_path)
    dns.apply("ppp0", ["10.0.0.53"])
    dns.undo("ppp0")
    assert log.read_text().splitlines() == ["dns ppp0 10.0.0.53", "domain ppp0 ~.", "revert ppp0"]


def test_missing_tool_is_logged_not_fatal(tmp_path, monkeypatch, caplog):
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setattr("shutil.which", lambda *a, **k: None)
    with caplog.at_level(logging.ERROR, logger="bg_pppd"):
        Dns("office", "resolvconf", "/etc/resolv.conf", tmp_path).apply("ppp0", ["10.0.0.53"])
    assert "resolvconf is not installed" in caplog.text


def test_file_is_restored_and_pppd_mode_touches_nothing(tmp_path):
    target = tmp_path / "resolv.conf"
    target.write_text("nameserver 192.0.2.1\n")
    dns = Dns("office", "file", str(target), tmp_path / "state")
    dns.apply("ppp0", ["10.0.0.53"])
    assert target.read_text().endswith("nameserver 10.0.0.53\n")
    dns.apply("ppp0", ["10.0.0.54"])  # a second link-up keeps the original backup
    dns.undo("ppp0")
    assert target.read_text() == "nameserver 192.0.2.1\n"
    Dns("office", "pppd", str(target), tmp_path).apply("ppp0", ["10.0.0.53"])
    assert target.read_text() == "nameserver 192.0.2.1\n"


def test_a_failing_or_hanging_tool_is_logged_and_bounded(tmp_path, monkeypatch, caplog):
    import time

    from bg_pppd.link import dns as dns_mod

    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "resolvconf").write_text("#!/bin/sh\necho 'resolvconf: no such interface' >&2\nexit 1\n")
    (bin_dir / "resolvectl").write_text("#!/bin/sh\nexec sleep 30\n")
    for tool in ("resolvconf", "resolvectl"):
        (bin_dir / tool).chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:/usr/bin:/bin")
    monkeypatch.setattr(dns_mod, "TOOL_TIMEOUT", 0.5)
    with caplog.at_level(logging.ERROR, logger="bg_pppd"):
        Dns("office", "resolvconf", "/etc/resolv.conf", tmp_path).apply("ppp0", ["10.0.0.53"])
        began = time.monotonic()
        Dns("office", "resolved", "/etc/resolv.conf", tmp_path).undo("ppp0")
        took = time.monotonic() - began
    assert "office: dns: resolvconf exited 1 resolvconf: no such interface" in caplog.text
    assert "office: dns: resolvectl failed: timed out after 0.5 s" in caplog.text and took < 5
