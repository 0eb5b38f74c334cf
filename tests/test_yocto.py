"""The Yocto recipe checked against the project, and the wheel built the way Yocto builds it."""

from __future__ import annotations

import ast
import hashlib
import os
import re
import subprocess
import sys
import sysconfig

import pytest

from bg_pppd import __version__

from .conftest import ROOT

LAYER = ROOT / "meta-bg-pppd"
RECIPE = next((LAYER / "recipes-connectivity" / "bg-pppd").glob("bg-pppd_*.bb"))

# module -> python3 subpackage, from openembedded-core's python3-manifest.json
MANIFEST = {
    "__future__": "core", "argparse": "core", "collections": "core", "contextlib": "core",
    "dataclasses": "core", "enum": "core", "errno": "core", "functools": "core", "heapq": "core",
    "itertools": "core", "math": "core", "os": "core", "pathlib": "core", "re": "core",
    "selectors": "core", "shutil": "core", "signal": "core", "stat": "core", "subprocess": "core",
    "sys": "core", "threading": "core", "time": "core", "typing": "core", "select": "core", "weakref": "core",
    "fcntl": "fcntl", "hashlib": "crypt", "difflib": "difflib", "socket": "io", "tempfile": "io",
    "termios": "io", "json": "json", "logging": "logging", "shlex": "shell", "tty": "terminal",
    "pty": "terminal", "queue": "threading", "random": "math", "datetime": "datetime",
    "ipaddress": "core", "textwrap": "core", "importlib": "core", "string": "stringold", "base64": "netclient",
}
THIRD_PARTY = {"serial": "python3-pyserial", "jinja2": "python3-jinja2", "yaml": "python3-pyyaml",
               "sh": "python3-sh"}


def recipe_var(text: str, name: str) -> str:
    m = re.search(rf'^{re.escape(name)}\s*=\s*"((?:[^"\\]|\\\n)*)"', text, re.M)
    assert m, name
    return m.group(1)


def code_imports() -> set[str]:
    mods = set()
    for path in (ROOT / "bg_pppd").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                mods.update(a.name.split(".")[0] for a in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                mods.add(node.module.split(".")[0])
    return mods - {"bg_pppd"}


def test_version_matches_the_package():
    assert RECIPE.name == f"bg-pppd_{__version__}.bb"


def test_license_checksum_is_the_real_files():
    text = RECIPE.read_text()
    m = re.search(r'LIC_FILES_CHKSUM = "file://([^;]+);md5=([0-9a-f]{32})"', text)
    assert m
    assert hashlib.md5((ROOT / m.group(1)).read_bytes()).hexdigest() == m.group(2)


def test_rdepends_cover_every_import_exactly():
    rdepends = set(recipe_var(RECIPE.read_text(), "RDEPENDS:${PN}").replace("\\", " ").split())
    imports = code_imports()
    unknown = sorted(m for m in imports if m not in MANIFEST and m not in THIRD_PARTY)
    assert not unknown, f"add these modules to the manifest table: {unknown}"
    needed = {f"python3-{MANIFEST[m]}" for m in imports if m in MANIFEST}
    needed |= {THIRD_PARTY[m] for m in imports if m in THIRD_PARTY}
    needed.add("ppp")
    assert rdepends == needed, f"missing {sorted(needed - rdepends)}, extra {sorted(rdepends - needed)}"
    assert "python3-modules" not in rdepends


def test_files_the_recipe_installs_exist():
    for rel in re.findall(r"\$\{S\}/(\S+)", RECIPE.read_text()):
        assert (ROOT / rel).is_file(), rel


def test_layer_conf():
    conf = (LAYER / "conf" / "layer.conf").read_text()
    assert 'LAYERDEPENDS_bg-pppd = "core meta-python"' in conf
    assert re.search(r'LAYERSERIES_COMPAT_bg-pppd = ".*scarthgap.*wrynose.*"', conf)
    assert 'SYSTEMD_AUTO_ENABLE = "disable"' in RECIPE.read_text()
    assert "inherit python_setuptools_build_meta systemd" in RECIPE.read_text()


def test_wheel_installs_into_an_empty_root_and_runs(tmp_path):
    """Like python_setuptools_build_meta: build --wheel --no-isolation, installer --destdir."""
    pytest.importorskip("build")
    pytest.importorskip("installer")
    src = tmp_path / "src"
    files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=ROOT, capture_output=True,
                           text=True, check=True).stdout.split()
    for rel in files:
        if (ROOT / rel).is_file():
            (src / rel).parent.mkdir(parents=True, exist_ok=True)
            (src / rel).write_bytes((ROOT / rel).read_bytes())
    dist = tmp_path / "dist"
    build = subprocess.run([sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(dist)],
                           cwd=src, capture_output=True, text=True)
    assert build.returncode == 0, build.stderr[-2000:]
    wheel = next(dist.glob("bg_pppd-*.whl"))
    root = tmp_path / "root"
    subprocess.run([sys.executable, "-m", "installer", "--destdir", str(root), "--prefix", "/usr", str(wheel)],
                   check=True, capture_output=True)
    purelib = sysconfig.get_path("purelib", vars={"base": "/usr", "platbase": "/usr"})
    site = root / purelib.lstrip("/")
    assert (site / "bg_pppd" / "templates" / "peer.j2").is_file()
    assert (site / "bg_pppd" / "configs" / "example.yaml").is_file()
    script = root / "usr" / "bin" / "bg-pppd"
    assert script.is_file()
    # only the root's bg_pppd and the runtime dependencies: no checkout, no user site
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(site), "PYTHONNOUSERSITE": "1"}
    version = subprocess.run([sys.executable, str(script), "--version"], capture_output=True, text=True,
                             env=env, cwd=tmp_path)
    assert version.stdout.strip() == f"bg-pppd {__version__}", version.stderr
    where = subprocess.run([sys.executable, "-c", "import bg_pppd; print(bg_pppd.__file__)"],
                           capture_output=True, text=True, env=env, cwd=tmp_path)
    assert where.stdout.startswith(str(site)), where.stdout
    profile = tmp_path / "p.yaml"
    profile.write_text("modem:\n  port: /dev/ttyUSB2\nnetwork:\n  apn: internet\n")
    os.chmod(profile, 0o600)
    ok = subprocess.run([sys.executable, str(script), "validate", str(profile)], capture_output=True, text=True,
                        env=env, cwd=tmp_path)
    assert ok.returncode == 0 and ok.stdout == "", ok.stderr
    rendered = subprocess.run([sys.executable, str(script), "render", str(profile), "--out", str(tmp_path / "r")],
                              capture_output=True, text=True, env=env, cwd=tmp_path)
    assert rendered.returncode == 0, rendered.stderr
