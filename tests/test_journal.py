"""Journal fields of the daemon's event lines (issue 19): systemd's native protocol.

The encoding and the handler against a datagram socket of the test's; then the daemon as a
process under a journal of its own: in a mount namespace a tmpfs covers /run, a socket is
bound where journald's is, stderr is a file named by $JOURNAL_STREAM as systemd would
connect it; the daemon's datagrams are parsed back by the protocol's rules.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import socket
import struct
import subprocess
import sys
import textwrap

import pytest

from bg_pppd.daemon.journal_fields import MESSAGE_IDS
from bg_pppd.util import journal
from tests.conftest import ROOT


def parse(datagram: bytes) -> dict[str, str]:
    """A native-protocol datagram back into fields (KEY=value lines; KEY, length, bytes)."""
    out, rest = {}, datagram
    while rest:
        line, sep, after = rest.partition(b"\n")
        assert sep, f"unterminated field {rest[:40]!r}"
        if b"=" in line:
            key, _, value = line.partition(b"=")
            out[key.decode()], rest = value.decode(), after
        else:
            (size,) = struct.unpack("<Q", after[:8])
            value, tail = after[8:8 + size], after[8 + size:]
            assert tail[:1] == b"\n"
            out[line.decode()], rest = value.decode(), tail[1:]
    return out


def test_fields_encode_as_the_protocol_says():
    data = journal.encode({"MESSAGE": "two\nlines", "PRIORITY": "6", "BG_PPPD_STATE": "connected",
                           "_PID": "1", "lower": "x", "A=B": "y"})
    assert parse(data) == {"MESSAGE": "two\nlines", "PRIORITY": "6", "BG_PPPD_STATE": "connected"}
    assert data.startswith(b"MESSAGE\n" + struct.pack("<Q", 9) + b"two\nlines\n")  # the binary form


def test_the_handler_sends_each_record_with_its_fields_and_falls_back_to_stderr(tmp_path):
    path = str(tmp_path / "socket")
    server = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    server.bind(path)
    fallback = logging.StreamHandler(open(tmp_path / "stderr", "w"))
    handler = journal.JournalHandler("bg-pppd", fallback, path=path)
    logger = logging.getLogger("test-journal")
    logger.propagate, logger.handlers = False, [handler]
    logger.setLevel(logging.INFO)
    logger.warning("office: switch from dialing to connected: %s", "IP up", extra={"journal": {
        "MESSAGE_ID": MESSAGE_IDS["connected"], "BG_PPPD_STATE": "connected"}})
    got = parse(server.recv(65536))
    assert got["MESSAGE"] == "office: switch from dialing to connected: IP up"
    assert (got["PRIORITY"], got["SYSLOG_IDENTIFIER"], got["BG_PPPD_STATE"]) == ("4", "bg-pppd", "connected")
    assert got["MESSAGE_ID"] == MESSAGE_IDS["connected"] and got["SYSLOG_PID"] == str(os.getpid())
    server.close()
    os.unlink(path)  # journald gone: the line goes to stderr, not nowhere
    logger.info("office: after journald")
    fallback.flush()
    assert (tmp_path / "stderr").read_text() == "office: after journald\n"
    handler.close()


def test_stderr_is_the_journal_only_when_journal_stream_names_it(tmp_path):
    with open(tmp_path / "f", "w") as f:
        st = os.fstat(f.fileno())
        assert journal.stderr_is_journal({"JOURNAL_STREAM": f"{st.st_dev}:{st.st_ino}"}, f.fileno())
        assert not journal.stderr_is_journal({"JOURNAL_STREAM": f"{st.st_dev}:{st.st_ino + 1}"}, f.fileno())
        assert not journal.stderr_is_journal({"JOURNAL_STREAM": "junk"}, f.fileno())
        assert not journal.stderr_is_journal({}, f.fileno())


IDS = {v: k for k, v in MESSAGE_IDS.items()}
DRIVER = textwrap.dedent("""\
    import json, os, socket, subprocess, sys, threading
    os.makedirs("/run/systemd/journal")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind("/run/systemd/journal/socket")
    got = []
    def read():  # as journald does, at once: a full queue would send the lines to stderr
        while True:
            data = sock.recv(1 << 16)
            if data == b"end":
                return
            got.append(data.hex())
    reader = threading.Thread(target=read)
    reader.start()
    err = open(sys.argv[1], "w")
    st = os.fstat(err.fileno())
    env = {**os.environ, "JOURNAL_STREAM": f"{st.st_dev}:{st.st_ino}", "INVOCATION_ID": "0" * 32}
    code = subprocess.call(sys.argv[2:], stderr=err, stdout=err, env=env, timeout=60)
    socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM).sendto(b"end", "/run/systemd/journal/socket")
    reader.join()
    print(json.dumps({"code": code, "datagrams": got}))
""")


@pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("unshare"), reason="needs root and unshare(1)")
@pytest.mark.skipif(os.path.exists("/dev/ppp"), reason="this kernel has PPP: up would stay connected")
def test_the_daemon_s_event_lines_reach_the_journal_with_their_fields(bench, dirs, tmp_path):
    b = bench()
    (tmp_path / "driver.py").write_text(DRIVER)
    run, state = dirs
    env = {"PATH": os.environ["PATH"], "PYTHONPATH": str(ROOT), "BG_PPPD_RUN_DIR": str(run),
           "BG_PPPD_STATE_DIR": str(state)}
    done = subprocess.run(["unshare", "-m", "--propagation", "private", "sh", "-c",
                           'mount -t tmpfs tmpfs /run && exec "$@"', "sh", sys.executable,
                           str(tmp_path / "driver.py"), str(tmp_path / "stderr"),
                           sys.executable, "-m", "bg_pppd", "up", str(b.profile)],
                          capture_output=True, text=True, env=env, timeout=90)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["code"] == 20  # no kernel PPP here: pre-flight, dial, pppd exits 4
    records = [parse(bytes.fromhex(d)) for d in result["datagrams"]]
    events = [r for r in records if "MESSAGE_ID" in r]
    assert all(r["SYSLOG_IDENTIFIER"] == "bg-pppd" and r["BG_PPPD_PROFILE"] == "bench" for r in events)
    switches = [(IDS[r["MESSAGE_ID"]], r["BG_PPPD_EVENT"], r["BG_PPPD_STATE"]) for r in events]
    assert switches[0] == ("preflight", "start", "preflight"), switches
    assert ("dialing", "preflight ok", "dialing") in switches
    assert switches[-1] == ("stopped", "pppd exited", "stopped")
    assert all("switch from" in r["MESSAGE"] for r in events)
    assert any("pppd: " in r["MESSAGE"] and "MESSAGE_ID" not in r for r in records)  # every line went there
    # the journal took them all: stderr holds no line of the daemon's (no duplicates, no timestamps)
    assert (tmp_path / "stderr").read_text() == ""
