"""Atomic writes: the old file or the new one, never half, and no temporary files left behind."""

from __future__ import annotations

import os
import stat

import pytest

from bg_pppd.util import safe_files as atomic


def test_write_replaces_whole_with_the_mode_and_leaves_nothing_behind(tmp_path):
    path = tmp_path / "state.json"
    atomic.write(path, "old")
    atomic.write(path, b"new", mode=0o640)
    assert path.read_bytes() == b"new"
    assert stat.S_IMODE(path.stat().st_mode) == 0o640
    assert os.listdir(tmp_path) == ["state.json"]


def test_a_stale_temporary_name_is_stepped_over(tmp_path):
    path = tmp_path / "s"
    stale = tmp_path / f".s.{os.getpid()}.0.tmp"
    stale.write_text("left by a process that died with our pid")
    atomic.write(path, "x")
    assert path.read_text() == "x"
    assert stale.read_text() == "left by a process that died with our pid", "never written through"


def test_a_failed_write_keeps_the_old_file(tmp_path, monkeypatch):
    path = tmp_path / "s"
    atomic.write(path, "old")

    def no_space(*_):
        raise OSError(28, "No space left on device")
    monkeypatch.setattr(os, "fsync", no_space)
    with pytest.raises(OSError):
        atomic.write(path, "new")
    assert path.read_text() == "old"
    assert os.listdir(tmp_path) == ["s"], "the temporary file is removed"
