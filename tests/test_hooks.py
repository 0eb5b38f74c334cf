"""Hooks run without a shell, with the link's facts in the environment, bounded in time."""

from __future__ import annotations

import logging
import sys

from bg_pppd.link import hooks
from bg_pppd.link.pppd import LinkInfo


def test_hook_gets_the_environment_and_no_shell(tmp_path):
    out = tmp_path / "env"
    script = [sys.executable, "-c",
              "import os, sys; open(sys.argv[1], 'w').write(repr(sorted((k, v) for k, v in os.environ.items() "
              "if k.startswith('BG_PPPD_'))) + repr(sys.argv[2:]))", str(out), "$(id)", "a;b"]
    info = LinkInfo("ppp0", "10.0.0.2", "10.0.0.1", ["10.0.0.53", "10.0.0.54"])
    hooks.run(script, "office", "up", info, timeout=10).join(10)
    text = out.read_text()
    assert "('BG_PPPD_EVENT', 'up')" in text and "('BG_PPPD_PROFILE', 'office')" in text
    assert "('BG_PPPD_INTERFACE', 'ppp0')" in text and "('BG_PPPD_DNS', '10.0.0.53 10.0.0.54')" in text
    assert "('BG_PPPD_LOCAL_IP', '10.0.0.2')" in text and "('BG_PPPD_REMOTE_IP', '10.0.0.1')" in text
    assert text.endswith("['$(id)', 'a;b']"), "arguments reach the hook verbatim: no shell"


def test_slow_or_failing_hooks_are_logged_never_fatal(caplog):
    with caplog.at_level(logging.WARNING, logger="bg_pppd"):
        hooks.run([sys.executable, "-c", "import time; time.sleep(5)"], "office", "down", None, timeout=0.3).join(5)
        hooks.run([sys.executable, "-c", "raise SystemExit(3)"], "office", "reset", None, timeout=5).join(5)
        hooks.run(["/nonexistent/hook"], "office", "up", None, timeout=5).join(5)
    assert "timed out" in caplog.text and "exited 3" in caplog.text and "cannot run" in caplog.text
    assert hooks.run((), "office", "up", None, timeout=1) is None
