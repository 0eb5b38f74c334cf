"""The CMUX profile keys: modem.multiplex, modem.cmux_frame_size, modem.cmux_fallback."""

from __future__ import annotations

import pytest

from bg_pppd.profile import model as profile
from bg_pppd.util.errors import ProfileError

UART = "modem:\n  port: /dev/ttyS1\n{extra}network:\n  apn: internet\n"


def errors_of(write_profile, text: str) -> str:
    with pytest.raises(ProfileError) as info:
        profile.load(write_profile(text))
    return str(info.value)


def test_defaults_no_multiplexer(write_profile):
    m = profile.load(write_profile(UART.format(extra=""))).modem
    assert (m.multiplex, m.cmux_frame_size, m.cmux_fallback) == ("none", 127, "uart")


def test_cmux_on_the_main_uart(write_profile):
    extra = "  multiplex: cmux\n  cmux_frame_size: 1500\n  cmux_fallback: exit\n"
    m = profile.load(write_profile(UART.format(extra=extra))).modem
    assert (m.multiplex, m.cmux_frame_size, m.cmux_fallback) == ("cmux", 1500, "exit")


@pytest.mark.parametrize("extra, expect", [
    ("  multiplex: gsm0710\n", "modem.multiplex: must be one of none | cmux"),
    ("  cmux_frame_size: 7\n", "modem.cmux_frame_size: must be at least 8"),
    ("  cmux_frame_size: 1501\n", "modem.cmux_frame_size: must be at most 1500"),
    ("  cmux_frame_size: 127.5\n", "modem.cmux_frame_size: must be a whole number"),
    ("  cmux_fallback: ignore\n", "modem.cmux_fallback: must be one of uart | exit"),
    ("  data_port: /dev/ttyUSB3\n  multiplex: cmux\n", "modem.multiplex: cmux multiplexes the main UART"),
])
def test_bad_cmux_keys_are_located(write_profile, extra, expect):
    assert expect in errors_of(write_profile, UART.format(extra=extra))


def test_the_usb_error_is_the_only_one(write_profile):
    msg = errors_of(write_profile, UART.format(extra="  data_port: /dev/ttyUSB3\n  multiplex: cmux\n"))
    assert msg.count("\n") == 0 and "leave multiplex none" in msg
