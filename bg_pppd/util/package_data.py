"""Where the templates and example profiles are, installed or in a checkout.

An installed wheel or .deb carries them as the packages bg_pppd.templates and
bg_pppd.configs; a checkout has them at the top level beside bg_pppd/.
"""

from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent.parent  # bg_pppd/


def _find(name: str) -> Path:
    for candidate in (_PACKAGE / name, _PACKAGE.parent / name):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(f"bg-pppd is incompletely installed: no {name}/ beside {_PACKAGE}")


def templates_dir() -> Path:
    return _find("templates")


def configs_dir() -> Path:
    return _find("configs")
