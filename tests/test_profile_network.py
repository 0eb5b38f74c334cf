"""The network keys issue 17 added: APN lists, reselection, bands, PSM."""

from __future__ import annotations

import pytest

from bg_pppd.profile import model as profile
from bg_pppd.util.errors import ProfileError

BASE = """\
modem:
  port: /dev/ttyUSB2
network:
  registration_timeout: 120
"""


def load(write_profile, extra: str) -> profile.Profile:
    return profile.load(write_profile(BASE + "".join(f"  {line}\n" for line in extra.splitlines())))


def errors(write_profile, extra: str) -> str:
    with pytest.raises(ProfileError) as info:
        load(write_profile, extra)
    return str(info.value)


def test_one_apn_or_a_list_and_the_empty_apn_is_the_default(write_profile):
    assert load(write_profile, "apn: internet").network.apn == ("internet",)
    assert load(write_profile, 'apn: [iot.example, ""]').network.apn == ("iot.example", "")
    assert load(write_profile, "").network.apn == ("",)


@pytest.mark.parametrize("extra, words", [
    ("apn: []", "must have 1 to 16 entries"),
    ("apn: [a, a]", "lists an entry twice"),
    ('apn: [ok, "x\\" connect \\"y"]', "entry 2: "),
    ("apn: {a: 1}", "must be"),
])
def test_a_bad_apn_list_is_located(write_profile, extra, words):
    msg = errors(write_profile, extra)
    assert "test.yaml:5: network.apn: " in msg and words in msg


def test_reselection_defaults_to_half_the_registration_timeout(write_profile):
    assert load(write_profile, "").network.reselect_wait == 60
    assert load(write_profile, "reselect_after: 20").network.reselect_wait == 20
    msg = errors(write_profile, "reselect_after: 120")
    assert "network.reselect_after: must be less than registration_timeout (120 s)" in msg


def test_bands_per_technology_sorted_and_checked(write_profile):
    p = load(write_profile, "bands: {nbiot: [20, 8], catm1: [3], egprs: [1800, 900]}")
    assert p.network.bands == (("catm1", (3,)), ("egprs", (900, 1800)), ("nbiot", (8, 20)))
    assert load(write_profile, "").network.bands == ()
    assert "catm2" in errors(write_profile, "bands: {catm2: [3]}")
    assert "band 86 is not one of LTE band numbers" in errors(write_profile, "bands: {catm1: [86]}")
    assert "band 20 is not one of 850, 900, 1800 or 1900" in errors(write_profile, "bands: {egprs: [20]}")
    assert "entries" in errors(write_profile, "bands: {catm1: []}")


def test_psm_off_unquoted_is_off_not_a_yes_no_value(write_profile):
    assert load(write_profile, "psm: off").network.psm == "off"  # YAML 1.1 reads off as false
    assert load(write_profile, '"psm": "keep"').network.psm == "keep"
    assert load(write_profile, "").network.psm == "off"
    assert "must be one of off | keep" in errors(write_profile, "psm: on")
