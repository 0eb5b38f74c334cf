"""Rendering checked by the real parsers: pppd reads every peer file we write.

On a kernel without PPP, `pppd file PEER dryrun` exits 4 once the options
parsed and 2 on an option error; 4 is the only acceptable answer.
"""

from __future__ import annotations

import os
import re
import stat
import subprocess

import pytest

from bg_pppd.link import render
from bg_pppd.link.quoting import pppd_word
from bg_pppd.profile import model as profile
from bg_pppd.util.errors import ProfileError
from tests.conftest import PPPD, ROOT, needs_pppd, pppd_dryrun, run_cli


@pytest.fixture
def tty():
    """A real character device for the port (pppd checks that the device exists)."""
    master, slave = os.openpty()
    yield os.ttyname(slave)
    os.close(master)
    os.close(slave)


def profile_text(port: str, extra: str = "", apn: str = "internet") -> str:
    return f"modem:\n  port: {port}\nnetwork:\n  apn: {apn}\n{extra}"


def render_profile(write_profile, tmp_path, text: str) -> render.Rendered:
    return render.render(profile.load(write_profile(text)), tmp_path / "out")


@needs_pppd
@pytest.mark.parametrize("path", sorted((ROOT / "configs").glob("*.yaml")), ids=lambda p: p.name)
def test_every_example_renders_to_options_pppd_accepts(path, tmp_path, tty):
    text = path.read_text()
    text = re.sub(r"(port|data_port): \S+", rf"\1: {tty}", text)
    secret = tmp_path / "secret"
    secret.write_text("pw\n")
    secret.chmod(0o600)
    text = text.replace("/etc/bg-pppd/bg600l.password", str(secret))
    src = tmp_path / path.name
    src.write_text(text)
    prof = profile.load(src)
    out = render.render(prof, tmp_path / "out")
    if prof.uses_relay:  # pppd's tty is the relay's pty, linked here before pppd starts
        render.relay_link(prof, tmp_path / "out").symlink_to(tty)
    result = pppd_dryrun(out.peer)
    assert result.returncode == 4, result.stdout + result.stderr


@needs_pppd
def test_a_bad_option_is_caught_by_pppd(tmp_path, tty, write_profile):
    """The check above can fail: a peer file with a stray word exits 2."""
    out = render_profile(write_profile, tmp_path, profile_text(tty))
    out.peer.write_text(out.peer.read_text() + "not-an-option\n")
    assert pppd_dryrun(out.peer).returncode == 2


@needs_pppd
@pytest.mark.parametrize("extra", [
    {"auth": {"method": "pap", "user": "u", "password": "p"}},
    {"auth": {"method": "chap", "user": "u", "password": "p"}},
    {"ppp": {"route_metric": 700, "replace_default_route": True}},
    {"ppp": {"default_route": False, "use_peer_dns": False, "lcp_echo_interval": 0}},
    {"ppp": {"extra_options": ["mtu 1280", "novj", "asyncmap 0x0", "ifname wwan0", "debug"],
             "debug": True}},
    {"network": {"pdp_type": "IPV4V6"}},
    {"network": {"pdp_type": "IPV6"}},
    {"modem": {"flow_control": "rtscts", "control_lines": True}},
], ids=lambda e: str(e)[:50])
def test_option_variants_parse(tmp_path, tty, write_profile, extra):
    import yaml

    data = {"modem": {"port": tty}, "network": {"apn": "internet"}}
    for section, values in extra.items():
        data.setdefault(section, {}).update(values)
    out = render_profile(write_profile, tmp_path, yaml.safe_dump(data))
    result = pppd_dryrun(out.peer)
    assert result.returncode == 4, out.peer.read_text() + result.stderr


def test_files_are_private_and_complete(tmp_path, tty, write_profile):
    out = render_profile(write_profile, tmp_path, profile_text(
        tty, "auth:\n  method: pap\n  user: me\n  password: 'p w#\"d'\n"))
    for path in out.paths:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(out.directory.stat().st_mode) == 0o700
    peer = out.peer.read_text()
    assert 'password "p w#\\"d"' in peer and "refuse-chap" in peer and "refuse-pap" not in peer
    assert f'"{tty}"' in peer and "\nlocal\n" in peer and "\nnoauth\n" in peer
    assert sorted(p.name for p in out.directory.iterdir()) == [".stamp", "connect.chat", "disconnect.chat",
                                                               "peer"], "temporary files left behind"


def test_unchanged_profile_is_not_rendered_again(tmp_path, tty, write_profile):
    p = profile.load(write_profile(profile_text(tty)))
    out = render.render(p, tmp_path / "o")
    before = out.peer.stat().st_mtime_ns
    out.connect.write_text("tampered")
    out.connect.unlink()
    again = render.render(p, tmp_path / "o")
    assert again.peer.stat().st_mtime_ns != before or again.connect.exists()
    assert "ATD*99#" in again.connect.read_text(), "a missing file is rendered again"
    mtime = again.peer.stat().st_mtime_ns
    render.render(p, tmp_path / "o")
    assert again.peer.stat().st_mtime_ns == mtime, "nothing rewritten when nothing changed"
    changed = profile.load(write_profile(profile_text(tty, apn="other.apn")))
    assert "other.apn" in render.render(changed, tmp_path / "o").connect.read_text()


def test_up_renders_without_the_context_command(tmp_path, tty, write_profile):
    p = profile.load(write_profile(profile_text(tty)))
    standalone = render.render(p, tmp_path / "a").connect.read_text()
    for_up = render.render(p, tmp_path / "b", set_context=False).connect.read_text()
    assert "AT+CGDCONT=1,\"IP\",\"internet\"" in standalone
    assert "CGDCONT" not in for_up and "ATD*99#" in for_up


def test_render_cli_prints_paths_under_run_dir(dirs, tty, write_profile):
    run, _ = dirs
    result = run_cli("render", str(write_profile(profile_text(tty), name="office")))
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [str(run / "office" / n) for n in
                                     ("peer", "connect.chat", "disconnect.chat")]
    result = run_cli("--run-dir", str(run / "x"), "render", str(write_profile(profile_text(tty))))
    assert result.stdout.startswith(str(run / "x" / "test" / "peer"))


def test_render_cli_out_dir(tmp_path, tty, write_profile):
    result = run_cli("render", str(write_profile(profile_text(tty))), "--out", str(tmp_path / "o"))
    assert result.returncode == 0 and (tmp_path / "o" / "peer").exists()


# --- Injection: hostile values are refused, or quoted so pppd reads exactly them ---

CANARY = "bg-pppd-canary-option"  # if any text escapes its quotes, pppd rejects this word (exit 2)

HOSTILE_ACCEPTED = [
    f'x" plugin "/tmp/x.so" {CANARY} "',
    f"p\\\" connect \"touch /tmp/pwned\" {CANARY}",
    f"a#b {CANARY}",
    f"'single' {CANARY} 'quotes'",
    f"ends with backslash {CANARY} \\",
    f"\\\\\" {CANARY} \\\"",
    f"ABORT SAY 'hi' {CANARY}",
    "$(touch /tmp/pwned) `id` ; | & > <",
    "x" * 255,
]


@needs_pppd
@pytest.mark.parametrize("value", HOSTILE_ACCEPTED)
@pytest.mark.parametrize("field", ["user", "password"])
def test_hostile_credentials_stay_one_word(tmp_path, tty, write_profile, field, value):
    import yaml

    auth = {"method": "pap", "user": "u", "password": "p", field: value}
    out = render_profile(write_profile, tmp_path, profile_text(tty) + yaml.safe_dump({"auth": auth}))
    result = pppd_dryrun(out.peer)
    assert result.returncode == 4, out.peer.read_text() + result.stderr


@needs_pppd
@pytest.mark.parametrize("value", [*HOSTILE_ACCEPTED, "plain", "with space", "#hash", "tab\\tlike"])
def test_pppd_reads_back_exactly_the_quoted_word(tmp_path, value):
    """pppd names an unknown option in its error: the word it read must be our value."""
    peer = tmp_path / "word"
    peer.write_text(pppd_word(value) + "\n")
    result = subprocess.run([PPPD, "file", str(peer), "dryrun"], capture_output=True, text=True,
                            timeout=30, stdin=subprocess.DEVNULL)
    assert result.returncode == 2
    assert f"unrecognized option '{value}'" in result.stdout + result.stderr


HOSTILE_REJECTED = [
    ("auth", "user", "x\nplugin /tmp/x.so"),
    ("auth", "password", "p\x00ssword"),
    ("auth", "user", "x" * 256),
    ("auth", "password", "tab\tinside"),
    ("network", "apn", 'internet" connect "x'),
    ("network", "apn", "internet\nATH"),
    ("network", "apn", "x' SAY 'pwned"),
    ("network", "apn", "a\\c"),
    ("network", "apn", "^C"),
    ("network", "apn", "a" * 101),
    ("network", "dial_number", "*99#;ATH"),
    ("modem", "port", "/dev/ttyS0 plugin /tmp/x.so"),
    ("modem", "port", '/dev/null"'),
    ("modem", "port", "ttyS0"),
    ("modem", "port", "/dev/../etc/passwd"),
    ("modem", "data_port", "/dev/ttyUSB3#"),
    ("sim", "pin", '1234" plugin'),
    ("ppp", "extra_options", ["plugin /tmp/x.so"]),
    ("ppp", "extra_options", ["connect /bin/sh"]),
    ("ppp", "extra_options", ["init 'x'"]),
    ("ppp", "extra_options", ["mtu 1400\nplugin x"]),
    ("ppp", "extra_options", ["file /etc/shadow"]),
    ("ppp", "extra_options", ["ifname ppp0;reboot"]),
    ("probe", "target", "8.8.8.8; reboot"),
]


@pytest.mark.parametrize("section, key, value", HOSTILE_REJECTED,
                         ids=[f"{s}.{k}:{v!r}"[:60] for s, k, v in HOSTILE_REJECTED])
def test_hostile_values_are_rejected_with_exit_2(tmp_path, section, key, value):
    import yaml

    data = {"modem": {"port": "/dev/ttyUSB2"}, "network": {"apn": "internet"}}
    if section == "auth":
        data["auth"] = {"method": "pap", "user": "u", "password": "p"}
    data.setdefault(section, {})[key] = value
    path = tmp_path / "hostile.yaml"
    path.write_text(yaml.safe_dump(data))
    result = run_cli("validate", str(path))
    assert result.returncode == 2, result.stderr
    assert f"{section}.{key}" in result.stderr and "Traceback" not in result.stderr
    with pytest.raises(ProfileError):
        profile.load(path)


@needs_pppd
def test_main_uart_with_escape_runs_pppd_on_the_relay_pty(tmp_path, tty, write_profile):
    """The peer names the relay's pty link (its lock is per profile) and never waits for DCD on it."""
    text = profile_text(tty, "monitor:\n  escape: true\n").replace(
        f"port: {tty}\n", f"port: {tty}\n  control_lines: true\n")
    out = render_profile(write_profile, tmp_path, text)
    lines = [line.strip('"') for line in out.peer.read_text().splitlines()]
    link = tmp_path / "out" / "pty-test"
    assert str(link) in lines and tty not in lines
    assert "local" in lines and "modem" not in lines
    link.symlink_to(tty)  # what the relay does before pppd starts
    assert pppd_dryrun(out.peer).returncode == 4
    # USB (separate AT port): no relay, PPP on the modem port itself
    usb = profile_text(tty, "monitor:\n  escape: true\n").replace(
        f"port: {tty}\n", f"port: /dev/ttyUSB2\n  data_port: {tty}\n")
    usb_lines = render_profile(write_profile, tmp_path / "usb", usb).peer.read_text().splitlines()
    assert tty in [line.strip('"') for line in usb_lines]
