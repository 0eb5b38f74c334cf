"""programs.find: PATH first, then the sbin directories a service's PATH may lack."""

from __future__ import annotations

import os
import shutil

from bg_pppd.util.programs import SBIN, find


def _tool(directory, name: str, mode: int = 0o755):
    path = directory / name
    path.write_text("#!/bin/sh\n")
    path.chmod(mode)
    return str(path)


def test_path_comes_first(tmp_path, monkeypatch):
    first, second = tmp_path / "a", tmp_path / "b"
    first.mkdir()
    second.mkdir()
    _tool(second, "pppd")
    wanted = _tool(first, "pppd")
    monkeypatch.setenv("PATH", f"{first}{os.pathsep}{second}")
    assert find("pppd") == wanted


def test_not_executable_or_a_directory_is_skipped(tmp_path, monkeypatch):
    first, second = tmp_path / "a", tmp_path / "b"
    first.mkdir()
    second.mkdir()
    _tool(first, "chat", mode=0o644)
    (first / "ping").mkdir()
    wanted = _tool(second, "chat")
    monkeypatch.setenv("PATH", f"{first}{os.pathsep}{second}")
    assert find("chat") == wanted
    assert find("ping") in (None, *(os.path.join(d, "ping") for d in SBIN))


def test_sbin_is_searched_when_path_lacks_it(monkeypatch):
    monkeypatch.setenv("PATH", "/nonexistent")
    sh = find("sh")
    assert sh is not None and os.path.dirname(sh) in SBIN
    assert find("no-such-program-bg-pppd") is None


def test_agrees_with_shutil_which():
    path = os.pathsep.join([os.environ.get("PATH", ""), *SBIN])
    for name in ("sh", "ls", "pppd", "chat", "ip", "no-such-program-bg-pppd"):
        assert find(name) == shutil.which(name, path=path), name


def test_a_path_is_taken_as_is(tmp_path):
    tool = _tool(tmp_path, "reset-modem")
    assert find(tool) == tool
    assert find(str(tmp_path / "missing")) is None
