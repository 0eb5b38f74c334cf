"""The architecture's import rules (.importlinter), checked from the source with ast.

CI runs import-linter on the same file (.ci/lint); this test says the same thing in the
test run, names the file and line of an offending import, and sees the imports done
inside functions (the command line's lazy ones) as the linter does.
"""

from __future__ import annotations

import ast
import configparser

from tests.conftest import ROOT

PACKAGE = ROOT / "bg_pppd"


def _contracts() -> configparser.ConfigParser:
    config = configparser.ConfigParser()
    config.read(ROOT / ".importlinter")
    return config


def _lines(value: str) -> list[str]:
    return [line.strip() for line in value.splitlines() if line.strip()]


def _module(path, root=ROOT) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path, root=ROOT) -> list[tuple[int, str]]:
    """(line, module) for each bg_pppd module that ``path`` imports, relative imports resolved."""
    tree = ast.parse(path.read_text(), str(path))
    here = _module(path, root).split(".")
    package = here if path.name == "__init__.py" else here[:-1]
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = ".".join(package[:len(package) - node.level + 1] + ([node.module] if node.module else []))
            else:
                base = node.module or ""
            found.append((node.lineno, base))
            found += [(node.lineno, f"{base}.{alias.name}") for alias in node.names]  # a sub-module
    return [(line, name) for line, name in found if name == "bg_pppd" or name.startswith("bg_pppd.")]


def _within(name: str, package: str) -> bool:
    return name == package or name.startswith(package + ".")


def _sources() -> list:
    return sorted(p for p in PACKAGE.rglob("*.py") if "__pycache__" not in p.parts)


def test_the_layers_import_only_downwards():
    config = _contracts()["importlinter:contract:layers"]
    (container,) = _lines(config["containers"])
    layers = [f"{container}.{name}" for name in _lines(config["layers"])]
    assert len(layers) >= 6, layers
    rank = {layer: i for i, layer in enumerate(layers)}  # 0: the top (cli)

    def layer_of(name: str) -> str | None:
        return next((layer for layer in layers if _within(name, layer)), None)
    wrong = []
    for path in _sources():
        source = layer_of(_module(path))
        if source is None:
            continue
        for line, name in _imports(path):
            target = layer_of(name)
            if target is not None and rank[target] < rank[source]:
                wrong.append(f"{path.relative_to(ROOT)}:{line}: {source} imports {name} (a layer above it)")
    assert not wrong, "\n".join(wrong)


def test_only_the_command_line_imports_the_emulator():
    config = _contracts()["importlinter:contract:emulator"]
    sources = _lines(config["source_modules"])
    (forbidden,) = _lines(config["forbidden_modules"])
    # every sub-package but the command line and the emulator itself is a source
    packages = {f"bg_pppd.{p.name}" for p in PACKAGE.iterdir() if (p / "__init__.py").exists()}
    assert set(sources) == packages - {"bg_pppd.cli", forbidden}, sources
    wrong = []
    for path in _sources():
        if not any(_within(_module(path), source) for source in sources):
            continue
        wrong += [f"{path.relative_to(ROOT)}:{line}: imports {name}"
                  for line, name in _imports(path) if _within(name, forbidden)]
    assert not wrong, "\n".join(wrong)


def test_the_check_sees_a_violation(tmp_path):
    """The checks above can fail: imports upwards, lazy and relative ones too, are found."""
    fake = tmp_path / "bg_pppd" / "util"
    fake.mkdir(parents=True)
    (fake / "x.py").write_text("def f():\n    from bg_pppd.daemon import status\n    from ..emulator import loop\n")
    names = [name for _line, name in _imports(fake / "x.py", tmp_path)]
    assert "bg_pppd.daemon" in names and "bg_pppd.emulator.loop" in names
