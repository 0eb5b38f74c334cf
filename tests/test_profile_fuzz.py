"""Property tests: whatever a user writes, validation answers with a clean error or a profile."""

from __future__ import annotations

import dataclasses

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bg_pppd.profile import model as profile
from bg_pppd.util.errors import ProfileError

RELAXED = [HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large]
KEYS = {name: [f.name for f in dataclasses.fields(cls)] for name, cls in profile.SECTIONS.items()}

scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-10**12, 10**12), st.floats(allow_nan=True),
    st.text(max_size=40), st.sampled_from(["/dev/ttyUSB2", "internet", "1234", "pap", "at", "IP"]),
)
values = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)), max_leaves=4)


@st.composite
def profiles(draw):
    data = {}
    for section in draw(st.lists(st.sampled_from([*KEYS, "bogus"]), max_size=6, unique=True)):
        names = KEYS.get(section, ["x"])
        keys = draw(st.lists(st.sampled_from([*names, "typo_key"]), max_size=5, unique=True))
        data[section] = {k: draw(values) for k in keys}
    return data


def check(tmp_path, text: str) -> None:
    path = tmp_path / "fuzz.yaml"
    path.write_text(text)
    try:
        loaded = profile.load(path)
    except ProfileError as exc:
        assert exc.problems and all(p.file == str(path) for p in exc.problems)
        assert str(exc)
    else:
        assert loaded.modem.port.startswith("/")


@settings(max_examples=300, deadline=None,
          suppress_health_check=RELAXED)
@given(profiles())
def test_structured_profiles_validate_cleanly(tmp_path, data):
    check(tmp_path, yaml.safe_dump(data))


@settings(max_examples=300, deadline=None,
          suppress_health_check=RELAXED)
@given(st.text(max_size=300))
def test_arbitrary_text_validates_cleanly(tmp_path, text):
    check(tmp_path, text)


@settings(max_examples=200, deadline=None,
          suppress_health_check=RELAXED)
@given(st.binary(max_size=200))
def test_arbitrary_bytes_validate_cleanly(tmp_path, raw):
    path = tmp_path / "fuzz.yaml"
    path.write_bytes(raw)
    try:
        profile.load(path)
    except ProfileError:
        pass
