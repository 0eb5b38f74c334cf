"""Profile validation: located errors, typo hints, defaults from the vendor procedure."""

from __future__ import annotations

import os

import pytest

from bg_pppd.profile import model as profile
from bg_pppd.util.errors import ProfileError
from tests.conftest import ROOT, run_cli

MINIMAL = """\
modem:
  port: /dev/ttyUSB2
network:
  apn: internet
"""


def test_defaults_follow_the_vendor_procedure(write_profile):
    p = profile.load(write_profile(MINIMAL))
    assert p.name == "test"
    assert p.modem.ppp_port == "/dev/ttyUSB2"
    assert p.modem.baudrate == 115200
    assert p.recovery.at_timeout == 60
    assert p.recovery.dial_attempts == 3
    assert p.recovery.reset_waits == (600, 1800, 3600)
    assert p.recovery.reset == ("at",)
    assert p.recovery.stable_after == 60
    assert p.network.pdp_type == "IP"
    assert p.network.dial_number == "*99#"
    assert p.ppp.lcp_echo_interval == 30 and p.ppp.lcp_echo_failure == 4


@pytest.mark.parametrize("path", sorted((ROOT / "configs").glob("*.yaml")), ids=lambda p: p.name)
def test_example_configs_validate(path, tmp_path):
    env = {}
    if "password_file" in path.read_text():
        secret = tmp_path / "secret"
        secret.write_text("s3cret\n")
        secret.chmod(0o600)
        text = path.read_text().replace("/etc/bg-pppd/bg600l.password", str(secret))
        path = tmp_path / path.name
        path.write_text(text)
    result = run_cli("validate", str(path), env=env)
    assert result.returncode == 0, result.stderr
    assert result.stdout == ""


def test_examples_cover_the_promised_setups():
    names = {p.name for p in (ROOT / "configs").glob("*.yaml")}
    assert {"bg95-uart.yaml", "bg95-usb.yaml", "bg77-nbiot.yaml", "bg600l-egprs.yaml"} <= names


def errors_of(write_profile, text: str) -> str:
    with pytest.raises(ProfileError) as info:
        profile.load(write_profile(text))
    return str(info.value)


def test_error_names_file_line_and_key(write_profile):
    text = MINIMAL + "ppp:\n  lcp_echo_interval: often\n"
    msg = errors_of(write_profile, text)
    assert "test.yaml:6: ppp.lcp_echo_interval: must be a whole number" in msg


def test_typo_gets_a_suggestion(write_profile):
    msg = errors_of(write_profile, MINIMAL.replace("apn:", "apm:"))
    assert "test.yaml:4: network.apm: unknown key; did you mean 'apn'?" in msg


def test_unknown_section_gets_a_suggestion(write_profile):
    msg = errors_of(write_profile, MINIMAL + "recovry:\n  retry_wait: 1\n")
    assert "recovry: unknown key; did you mean 'recovery'?" in msg


def test_all_errors_reported_at_once(write_profile):
    msg = errors_of(write_profile, """\
        modem:
          port: ttyUSB2
          baudrate: 12345
        network:
          apn: "bad apn"
        """)
    assert "modem.port" in msg and "modem.baudrate" in msg and "network.apn" in msg
    assert msg.count("\n") == 2


def test_missing_port_is_required(write_profile):
    assert "test.yaml:1: modem.port: is required" in errors_of(write_profile, "modem: {}\n")
    assert "test.yaml:2: modem.port: is required" in errors_of(write_profile, "modem:\n  port:\n")
    assert "modem.port: must not be empty" in errors_of(write_profile, "modem:\n  port: ''\n")


def test_duplicate_key_is_an_error(write_profile):
    msg = errors_of(write_profile, MINIMAL + "network:\n  apn: other\n")
    assert "test.yaml:5: network: given twice" in msg


def test_yaml_syntax_error_has_a_line(write_profile):
    msg = errors_of(write_profile, "modem:\n  port: [unclosed\nnetwork: {}\n")
    assert "test.yaml:3:" in msg and "not valid YAML" in msg


@pytest.mark.parametrize("pin, ok", [('"1234"', True), ('"12345678"', True), ('"123"', False),
                                     ('"123456789"', False), ("1234", False), ('"12a4"', False)])
def test_pin_is_4_to_8_digits_in_quotes(write_profile, pin, ok):
    text = MINIMAL + f"sim:\n  pin: {pin}\n"
    if ok:
        assert profile.load(write_profile(text)).sim.pin == pin.strip('"')
    else:
        assert "sim.pin" in errors_of(write_profile, text)


def test_pin_file_is_read_and_checked(write_profile, tmp_path):
    pin = tmp_path / "pin"
    pin.write_text("0042\n")
    pin.chmod(0o600)
    p = profile.load(write_profile(MINIMAL + f"sim:\n  pin_file: {pin}\n"))
    assert p.sim.pin == "0042" and not p.warnings
    pin.chmod(0o644)
    p = profile.load(write_profile(MINIMAL + f"sim:\n  pin_file: {pin}\n"))
    assert any("readable by every user" in w for w in p.warnings)
    pin.write_text("abcd\n")
    assert "sim.pin_file: the file must hold a PIN" in errors_of(
        write_profile, MINIMAL + f"sim:\n  pin_file: {pin}\n")
    assert "cannot read" in errors_of(write_profile, MINIMAL + "sim:\n  pin_file: /nonexistent/pin\n")


def test_world_readable_profile_with_secret_warns(write_profile):
    path = write_profile(MINIMAL + 'sim:\n  pin: "1234"\n')
    os.chmod(path, 0o644)
    result = run_cli("validate", str(path))
    assert result.returncode == 0
    assert "readable by every user" in result.stderr and "chmod 600" in result.stderr
    os.chmod(path, 0o600)
    assert run_cli("validate", str(path)).stderr == ""


@pytest.mark.parametrize("extra, expect", [
    ("auth:\n  method: pap\n", "auth.user: is required with method pap"),
    ("auth:\n  user: x\n", "auth.method: is none, but a user or password is given"),
    ("recovery:\n  reset: [at, command]\n", "recovery.reset_command: is required"),
    ("recovery:\n  reset: [at, at]\n", "lists an entry twice"),
    ("recovery:\n  reset: [gpio]\n", "must be one of at | command"),
    ("recovery:\n  reset_command: reboot-modem\n", "must be an absolute path"),
    ("recovery:\n  reset_waits: []\n", "must have 1 to"),
    ("recovery:\n  at_timeout: -1\n", "must be at least"),
    ("recovery:\n  retry_wait: .nan\n", "must be a number"),
    ("modem:\n  port: /dev/ttyS1\n  data_port: /dev/ttyUSB3\n  save_baudrate: true\n"
     "network:\n  apn: x\n", "save_baudrate: applies to the main UART only"),
    ("ppp:\n  default_route: false\n  replace_default_route: true\n", "needs default_route: true"),
    ("ppp:\n  extra_options: [plugin /tmp/x.so]\n", "is not an allowed pppd option"),
    ("ppp:\n  extra_options: [lcp-echo-interval 5]\n", "use that instead"),
    ("ppp:\n  extra_options: [mtu 1400 connect]\n", "takes 1 argument"),
    ("ppp:\n  extra_options: [mtu, mtu 1400]\n", "takes 1 argument"),
    ("ppp:\n  extra_options: [mtu 1400, mtu 1300]\n", "'mtu' is given twice"),
    ("network:\n  technologies: [lte]\n", "must be one of catm1 | nbiot | egprs"),
    ("modem:\n  flow_control: xonxoff\n", "must be one of none | rtscts"),
    ("hooks:\n  on_up: '/bin/echo \"unclosed'\n", "cannot be split into words"),
    ("monitor:\n  escape: true\n  interval: 5\n", "monitor.interval: each +++/ATO round"),
    ("monitor:\n  read_urcs: true\nppp:\n  lcp_echo_interval: 2\n  lcp_echo_failure: 3\n",
     "ppp.lcp_echo_failure: a +++/ATO round holds the link"),
    ("probe:\n  budget: -1\n", "probe.budget: must be at least 0"),
])
def test_cross_checks(write_profile, extra, expect):
    text = MINIMAL + extra
    if extra.startswith(("modem:", "network:")) and "port:" in extra:
        text = extra
    elif extra.startswith("modem:"):
        text = MINIMAL.replace("modem:\n", extra)
    elif extra.startswith("network:"):
        text = MINIMAL.replace("network:\n  apn: internet\n", extra + "  apn: internet\n")
    assert expect in errors_of(write_profile, text)


def test_hooks_are_split_without_a_shell(write_profile):
    p = profile.load(write_profile(MINIMAL + "hooks:\n  on_up: /usr/bin/logger -t 'bg pppd' $(id)\n"))
    assert p.hooks.on_up == ("/usr/bin/logger", "-t", "bg pppd", "$(id)")


def test_profile_name_must_be_safe(tmp_path):
    bad = tmp_path / "my profile.yaml"
    bad.write_text(MINIMAL)
    result = run_cli("validate", str(bad))
    assert result.returncode == 2 and "cannot name a profile" in result.stderr


def test_bare_name_is_looked_up_in_the_config_dir(tmp_path):
    (tmp_path / "office.yaml").write_text(MINIMAL)
    result = run_cli("validate", "office", env={"BG_PPPD_CONFIG_DIR": str(tmp_path)})
    assert result.returncode == 0, result.stderr


def test_cli_exit_2_and_no_traceback(write_profile):
    result = run_cli("validate", str(write_profile("modem: [1, 2]\n")))
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "test.yaml:1: modem: must be a mapping" in result.stderr


def test_missing_file(tmp_path):
    result = run_cli("validate", str(tmp_path / "nope.yaml"))
    assert result.returncode == 2 and "cannot read" in result.stderr


def test_the_control_line_backend_is_chosen_by_the_profile(write_profile):
    assert profile.load(write_profile(MINIMAL)).modem.line_backend == "serial"
    emulated = MINIMAL.replace("  port: /dev/ttyUSB2\n", "  port: /dev/ttyUSB2\n  line_backend: emulator\n")
    assert profile.load(write_profile(emulated)).modem.line_backend == "emulator"
    with pytest.raises(ProfileError, match=r"modem\.line_backend: must be one of serial \| emulator"):
        profile.load(write_profile(emulated.replace("emulator", "socket")))
