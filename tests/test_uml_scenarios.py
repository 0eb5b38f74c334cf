"""The guest's scenario runner (tests/uml_scenarios/__main__.py), run on the host without UML.

It is what every real-link test goes through: arguments arrive as JSON data, what the scenario
records comes back in results.json, and a failing scenario names its own file and line.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.uml import GUEST_ERROR, ROOT
from tests.uml_guest import record


def adds(work: Path, a: int, b: list[str]) -> None:
    """A scenario: records what it was given."""
    record(total=a + len(b), work=str(work))


def fails_half_way(work: Path, when: str) -> None:
    record(before=when)
    raise RuntimeError(f"failed {when}")


def run_guest(work: Path, function: str, **args) -> tuple[int, dict]:
    call = work / "call.json"
    call.write_text(json.dumps({"module": __name__, "function": function, "work": str(work), "args": args}))
    proc = subprocess.run([sys.executable, "-m", "tests.uml_scenarios", str(call)], cwd=ROOT,
                          capture_output=True, text=True, timeout=60)
    return proc.returncode, json.loads((work / "results.json").read_text())


def test_a_scenario_gets_its_arguments_as_data_and_records_results(tmp_path):
    rc, results = run_guest(tmp_path, "adds", a=2, b=["x", "{work}"])
    assert rc == 0 and results == {"total": 4, "work": str(tmp_path)}


def test_a_failing_scenario_keeps_what_it_recorded_and_names_its_line(tmp_path):
    rc, results = run_guest(tmp_path, "fails_half_way", when="mid-way")
    assert rc == 1 and results["before"] == "mid-way"
    error = results[GUEST_ERROR]
    assert f'{Path(__file__).name}", line ' in error and "in fails_half_way" in error, error
    assert error.rstrip().endswith("RuntimeError: failed mid-way")
