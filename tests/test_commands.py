"""The short-command runner (util.commands) with both sh versions: PyPI's 2.x (.venv) and
Debian 12's python3-sh 1.14 (/usr/bin/python3). Each case runs in a child interpreter."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

from tests.conftest import ROOT
from tests.test_up_process import INTERPRETERS

# The cases, run by the child; each prints one JSON line: the case's name, sh's version, the Outcome.
CHILD = textwrap.dedent("""
    import dataclasses, json, sys, time
    import sh
    from bg_pppd.util.commands import run

    py, tmp = sys.executable, sys.argv[1]
    slow = py + " -c 'import time; time.sleep(5)'"
    cases = {
        "ok": ([py, "-c", "print('hello')"], 5, None, ""),
        "exit": ([py, "-c", "import sys; print('out'); print('first', file=sys.stderr); "
                  "print('last', file=sys.stderr); sys.exit(3)"], 5, None, ""),
        "signal": ([py, "-c", "import os; os.kill(os.getpid(), 9)"], 5, None, ""),
        "timeout": ([py, "-c", "import time; time.sleep(5)"], 0.5, None, ""),
        "missing": ([tmp + "/no-such-program"], 5, None, ""),
        "env": ([py, "-c", "import os; print(sorted(k for k in os.environ if k.startswith('T_')), "
                 "os.environ.get('T_A'))"], 5, {"T_A": "x y", "T_B": "", "PATH": "/usr/bin:/bin"}, ""),
        "stdin": ([py, "-c", "import sys; print(repr(sys.stdin.read()))"], 5, None, "nameserver 10.0.0.53\\n"),
        "no_stdin": ([py, "-c", "import sys; print(repr(sys.stdin.read()))"], 5, None, ""),
        "no_shell": ([py, "-c", "import os, sys; print(sys.argv[1:], os.getcwd())", "$(id)", "a;b", "*"],
                     5, None, ""),
        "not_a_tty": ([py, "-c", "import sys; print(sys.stdout.isatty(), sys.stdin.isatty())"], 5, None, ""),
        "undecodable": ([py, "-c", "import sys; sys.stdout.buffer.write(b'\\\\xff ok')"], 5, None, ""),
        "nul": ([py, "-c", "pass", "a\\0b"], 5, None, ""),
    }
    for name, (argv, timeout, env, stdin) in cases.items():
        began = time.monotonic()
        outcome = run(argv, timeout, env=env, stdin=stdin)
        print(json.dumps({"case": name, "sh": sh.__version__, "took": time.monotonic() - began,
                          "last_line": outcome.last_line(), "ok": outcome.ok, **dataclasses.asdict(outcome)}))
""")


@pytest.fixture(scope="module", params=INTERPRETERS)
def outcomes(request, tmp_path_factory):
    python = request.param
    tmp = tmp_path_factory.mktemp("commands")
    result = subprocess.run([python, "-c", CHILD, str(tmp)], capture_output=True, text=True, timeout=60,
                            cwd=tmp, env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
    assert result.returncode == 0, result.stderr
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    wanted = "1." if python != sys.executable else "2."
    assert all(row["sh"].startswith(wanted) for row in rows), rows[0]["sh"]
    return {row["case"]: row for row in rows}


def test_a_command_that_succeeds(outcomes):
    ok = outcomes["ok"]
    assert ok["ok"] and ok["exit_code"] == 0 and ok["stdout"] == "hello\n" and not ok["error"]


def test_a_non_zero_exit_is_an_outcome_with_its_status_and_stderr(outcomes):
    bad = outcomes["exit"]
    assert not bad["ok"] and bad["exit_code"] == 3 and not bad["error"]
    assert bad["stdout"] == "out\n" and bad["last_line"] == "last"


def test_a_signal_is_a_negative_status(outcomes):
    assert outcomes["signal"]["exit_code"] == -9 and not outcomes["signal"]["ok"]


def test_a_timeout_is_bounded_and_told(outcomes):
    slow = outcomes["timeout"]
    assert slow["timed_out"] and slow["exit_code"] is None and slow["error"] == "timed out after 0.5 s"
    assert slow["took"] < 3, "killed at the timeout, not waited for"


def test_a_missing_program_is_told_not_raised(outcomes):
    gone = outcomes["missing"]
    assert gone["missing"] and gone["exit_code"] is None and "not found" in gone["error"]


def test_the_environment_is_exactly_the_one_given(outcomes):
    assert outcomes["env"]["stdout"] == "['T_A', 'T_B'] x y\n"


def test_stdin_is_the_text_given_and_empty_otherwise(outcomes):
    assert outcomes["stdin"]["stdout"] == "'nameserver 10.0.0.53\\n'\n"
    assert outcomes["no_stdin"]["stdout"] == "''\n", "never waits on the daemon's own stdin"


def test_no_shell_and_the_command_cwd(outcomes):
    assert outcomes["no_shell"]["stdout"] == "['$(id)', 'a;b', '*'] /\n"


def test_output_is_a_pipe_and_undecodable_bytes_are_replaced(outcomes):
    assert outcomes["not_a_tty"]["stdout"] == "False False\n", "no tool may page or colour"
    assert outcomes["undecodable"]["ok"] and outcomes["undecodable"]["stdout"] == "\ufffd ok"


def test_a_word_that_cannot_be_passed_is_an_error_not_a_crash(outcomes):
    nul = outcomes["nul"]
    assert nul["exit_code"] is None and nul["error"].startswith("cannot run:") and "null" in nul["error"]
