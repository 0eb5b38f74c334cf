"""The guest's entry point: ``python -m tests.uml_scenarios CALL.json`` (written by tests.uml.Lab.call).

CALL.json names a scenario function (``module``, ``function``), the lab's work dir and the
function's keyword arguments. What the function records, and its traceback if it raised, go to
WORK/results.json; the traceback is also printed to WORK/driver.out.
"""

from __future__ import annotations

import importlib
import json
import sys
import traceback
from pathlib import Path

from tests import uml_guest
from tests.uml import GUEST_ERROR


def main(call_file: str) -> int:
    call = json.loads(Path(call_file).read_text())
    work = Path(call["work"])
    uml_guest.lab_setup(str(work))
    try:
        scenario = getattr(importlib.import_module(call["module"]), call["function"])
        scenario(work, **call["args"])
    except BaseException:
        traceback.print_exc()
        uml_guest.record(**{GUEST_ERROR: traceback.format_exc()})
        return 1
    finally:
        uml_guest.lab_teardown()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
