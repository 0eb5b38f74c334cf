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


def test_a_module_on_a_port_another_program_holds_is_not_reset(write_profile, tmp_path):
    """pppd (another line discipline) on the port: no reset by any method, the command never runs."""
    import fcntl
    import os
    import struct
    import termios

    master, slave = os.openpty()
    marker, name = tmp_path / "power-cycled", os.ttyname(slave)
    try:
        fcntl.ioctl(slave, termios.TIOCSETD, struct.pack("i", 27))  # N_NULL: not a terminal's
        path = write_profile(f"""\
            modem:
              port: {name}
            network:
              apn: internet
            recovery:
              reset: [at, command]
              reset_command: /usr/bin/touch {marker}
              boot_timeout: 0.5
            """)
        with pytest.raises(ResetFailed, match=r"not reset: .* is in use by another program .*a reset would cut"):
            Resetter(profile.load(path), threading.Event()).run(skip_at=False)
        assert not marker.exists()
    finally:
        fcntl.ioctl(slave, termios.TIOCSETD, struct.pack("i", 0))
        os.close(slave)
        os.close(master)


@pytest.mark.parametrize("multiplex", ["none", "cmux"])
def test_a_port_left_in_n_gsm_is_ours_to_reset_only_on_a_cmux_profile(write_profile, tmp_path, multiplex):
    """n_gsm on the port of a cmux profile is this run's own mux not taken back (the run-dir lock
    says no other bg-pppd has the port): the reset goes on, and a power cycle ends that mux too.
    On a profile without cmux it is another program's multiplexer: no reset."""
    import errno

    from bg_pppd.modem.serial_port import N_GSM0710, PortInUse, owner

    def opener(p, *args, **kwargs):
        in_use = PortInUse(errno.EBUSY, f"{p.modem.port} is in use by {owner(N_GSM0710)}")
        in_use.discipline = N_GSM0710
        raise in_use

    marker = tmp_path / "power-cycled"
    path = write_profile(f"""\
        modem:
          port: /dev/null
          multiplex: {multiplex}
        network:
          apn: internet
        recovery:
          reset: [command]
          reset_command: /usr/bin/touch {marker}
          boot_timeout: 0.3
        """)
    resetter = Resetter(profile.load(path), threading.Event(), opener=opener)
    with pytest.raises(ResetFailed) as failed:
        resetter.run(skip_at=True)
    if multiplex == "cmux":
        assert marker.exists() and "did not come back" in str(failed.value)
    else:
        assert not marker.exists() and "not reset: /dev/null is in use by a CMUX multiplexer" in str(failed.value)
