"""`bg-pppd check` with ``multiplex: cmux``: one line (and --json's ``n_gsm``) on the kernel's n_gsm."""

from __future__ import annotations

import json

from bg_pppd.cli.check import n_gsm, n_gsm_line
from bg_pppd.profile.model import load


def cmux(b) -> None:
    b.profile.write_text(b.profile.read_text().replace("  line_backend: emulator\n",
                                                       "  line_backend: emulator\n  multiplex: cmux\n"))


def test_check_reports_n_gsm_in_one_line(bench):
    b = bench()
    cmux(b)
    result = b.check()
    assert result.returncode == 0, result.stderr
    lines = [line for line in result.stdout.splitlines() if line.startswith("n_gsm:")]
    assert len(lines) == 1
    assert lines[0].endswith("available (multiplex: cmux)") or "CONFIG_N_GSM" in lines[0]


def test_check_json_has_n_gsm(bench):
    b = bench()
    cmux(b)
    report = json.loads(b.check("--json").stdout)
    state = report["n_gsm"]
    assert isinstance(state["available"], bool)
    assert state["problem"] is None if state["available"] else "CONFIG_N_GSM" in state["problem"]


def test_no_n_gsm_report_without_cmux(bench):
    b = bench()
    result = b.check()
    assert result.returncode == 0 and not [line for line in result.stdout.splitlines() if line.startswith("n_gsm")]
    assert "n_gsm" not in json.loads(b.check("--json").stdout)


def test_the_line_says_what_is_missing(write_profile):
    p = load(write_profile("modem:\n  port: /dev/ttyS1\n  multiplex: cmux\nnetwork:\n  apn: x\n"))
    missing = n_gsm(p, lambda: "the kernel has no CMUX line discipline n_gsm (CONFIG_N_GSM)")
    assert missing == {"available": False, "problem": "the kernel has no CMUX line discipline n_gsm (CONFIG_N_GSM)"}
    assert n_gsm_line(missing) == "n_gsm:        the kernel has no CMUX line discipline n_gsm (CONFIG_N_GSM)"
    assert n_gsm_line(n_gsm(p, lambda: None)) == "n_gsm:        available (multiplex: cmux)"
    plain = load(write_profile("modem:\n  port: /dev/ttyS1\nnetwork:\n  apn: x\n", name="plain"))
    assert n_gsm(plain, lambda: "unused") is None
