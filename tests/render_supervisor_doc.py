"""Writes docs/supervisor.md from the supervisor's transition table (``python -m tests.render_supervisor_doc``).

tests/test_supervisor.py fails when the file differs from what this renders.
"""

from __future__ import annotations

from pathlib import Path

from bg_pppd.daemon.supervisor import ON_EXIT, TABLE, State

DOC = Path(__file__).resolve().parent.parent / "docs" / "supervisor.md"

INTRO = """\
# The supervisor's states and transitions

Generated from `TABLE` in `bg_pppd/daemon/supervisor.py` by
`python -m tests.render_supervisor_doc`; `tests/test_supervisor.py` fails when this file is stale.

Each row of the table is a (state, event) pair, the handler that runs, and the states that
handler may switch to (`switch()` asserts it). A handler with no target stays where it is.
Events of an older attempt (a dial and its workers) are dropped before the table is read.
Slow work is never done on the loop: the pre-flight, a reset, the link-up actions (DNS, on_up)
and the clean-up after pppd (DNS undone, on_down, the port back in command mode) are workers
that post their result; RESTORING waits for the clean-up, STOPPING for pppd and the worker
it cancelled.
"""


def render() -> str:
    lines = [INTRO, "```mermaid", "stateDiagram-v2", "    [*] --> preflight"]
    for (state, ev), row in TABLE.items():
        for target in sorted(row.targets, key=lambda s: list(State).index(s)):
            lines.append(f"    {state.value} --> {target.value}: {ev.value}")
    lines.append("    stopped --> [*]")
    lines.append("```")
    lines += ["", "| state | event | handler | may switch to |", "|---|---|---|---|"]
    for (state, ev), row in TABLE.items():
        targets = ", ".join(t.value for t in sorted(row.targets, key=lambda s: list(State).index(s))) or "(stays)"
        lines.append(f"| {state.value} | {ev.value} | `{row.handler}` | {targets} |")
    lines += ["", "On leaving a state: " + "; ".join(f"{s.value}: `{h}`" for s, h in ON_EXIT.items()) + "."]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    DOC.write_text(render())
    print(f"wrote {DOC}")
