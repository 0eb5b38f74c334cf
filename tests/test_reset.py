"""The command reset method: a command that fails or never ends is a failed reset, not a crash."""

from __future__ import annotations

import sys
import threading
import time

import pytest

from bg_pppd.modem.reset import ResetFailed, Resetter
from bg_pppd.profile import model as profile


def _resetter(write_profile, command: str) -> Resetter:
    path = write_profile(f"""\
        modem:
          port: /dev/null
        network:
          apn: internet
        recovery:
          reset: [command]
          reset_command: {command}
          boot_timeout: 0.5
        """)
    return Resetter(profile.load(path), threading.Event())


def test_a_command_that_never_ends_is_a_failed_reset(write_profile):
    start = time.monotonic()
    with pytest.raises(ResetFailed, match=r"command: /bin/sleep did not finish within 0\.5 s"):
        _resetter(write_profile, "/bin/sleep 30").run(skip_at=True)
    assert time.monotonic() - start < 10


def test_a_failing_command_is_a_failed_reset(write_profile):
    with pytest.raises(ResetFailed, match=r"command: /bin/sh exited 3 no gpio"):
        _resetter(write_profile, "/bin/sh -c 'echo no gpio >&2; exit 3'").run(skip_at=True)


def test_D16_the_reset_command_runs_in_the_root_directory(write_profile, tmp_path, monkeypatch):
    """Its relative arguments were checked against /: it must run there, not in the daemon's cwd."""
    out, script = tmp_path / "cwd", tmp_path / "reset.py"
    script.write_text(f"import os\nopen({str(out)!r}, 'w').write(os.getcwd())\n")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ResetFailed, match="did not come back"):  # /dev/null never answers AT
        _resetter(write_profile, f"{sys.executable} {script}").run(skip_at=True)
    assert out.read_text() == "/"
