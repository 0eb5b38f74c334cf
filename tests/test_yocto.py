"""The Yocto recipe checked against the project, and the wheel built the way Yocto builds it."""

from __future__ import annotations

import ast
import hashlib
import json
import os
import re
import subprocess
import sys

import pytest

from bg_pppd import __version__
from tests.conftest import ROOT

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
    "ipaddress": "core", "textwrap": "core", "struct": "core", "importlib": "core", "string": "stringold",
    "base64": "netclient", "ctypes": "ctypes", "io": "core",
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


DEBIAN_PYTHON = "/usr/bin/python3"
# where `installer --prefix /usr` puts things: the same sysconfig call it makes, in the installing Python
WHERE = "import json, sysconfig; print(json.dumps(sysconfig.get_paths(vars={'base': '/usr', 'platbase': '/usr'})))"


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    """Like python_setuptools_build_meta: build --wheel --no-isolation, from a clean copy of the source."""
    pytest.importorskip("build")
    tmp = tmp_path_factory.mktemp("wheel")
    subprocess.run(["bash", str(ROOT / ".ci" / "source-copy"), str(tmp / "src")], check=True)
    build = subprocess.run([sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(tmp / "dist")],
                           cwd=tmp / "src", capture_output=True, text=True)
    assert build.returncode == 0, build.stderr[-2000:]
    return next((tmp / "dist").glob("bg_pppd-*.whl"))


def installing_python(which: str) -> str:
    """The tests' own Python, or Debian's /usr/bin/python3 where that is another environment.

    Their install schemes differ (a venv or pyenv: usr/bin and usr/lib/python3.X/site-packages;
    Debian's own posix_local: usr/local/bin and usr/local/lib/python3.X/dist-packages), so the
    test asks each where things go instead of assuming one layout.
    """
    if which == "tests":
        return sys.executable
    if not os.path.exists(DEBIAN_PYTHON):
        pytest.skip("no Debian Python here")
    prefix = subprocess.run([DEBIAN_PYTHON, "-c", "import sys; print(sys.prefix)"], capture_output=True,
                            text=True).stdout.strip()
    if os.path.realpath(DEBIAN_PYTHON) == os.path.realpath(sys.executable) and prefix == sys.prefix:
        pytest.skip("the tests run with Debian's Python itself: covered by the 'tests' case")
    for module in ("installer", "sh", "serial", "jinja2", "yaml"):
        if subprocess.run([DEBIAN_PYTHON, "-c", f"import {module}"], capture_output=True).returncode:
            pytest.skip(f"Debian's Python lacks {module} (.ci/setup installs python3-installer and the libraries)")
    return DEBIAN_PYTHON


@pytest.mark.parametrize("which", ["tests", "debian"])
def test_wheel_installs_into_an_empty_root_and_runs(wheel, tmp_path, which):
    """installer --destdir into an empty root, as Yocto installs it; then the root's bg-pppd runs, emulate too."""
    from tests.test_installed_deb import emulate_then_check, shipped_modules, source_modules

    python = installing_python(which)
    root = tmp_path / "root"
    subprocess.run([python, "-m", "installer", "--destdir", str(root), "--prefix", "/usr", str(wheel)],
                   check=True, capture_output=True)
    paths = json.loads(subprocess.run([python, "-c", WHERE], capture_output=True, text=True, check=True).stdout)
    site = root / paths["purelib"].lstrip("/")
    script = root / paths["scripts"].lstrip("/") / "bg-pppd"
    assert script.is_file(), sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())[:20]
    assert not source_modules() - shipped_modules(site), "every module and sub-package of bg_pppd/ is in the wheel"
    assert (site / "bg_pppd" / "templates" / "peer.j2").is_file()
    assert (site / "bg_pppd" / "configs" / "example.yaml").is_file()
    # only the root's bg_pppd, then what that Python has (the runtime dependencies): no checkout, no user site
    env = {"PATH": "/usr/bin:/bin", "PYTHONNOUSERSITE": "1",
           "PYTHONPATH": os.pathsep.join([str(site), *filter(None, [os.environ.get("PYTHONPATH")])])}
    version = subprocess.run([python, str(script), "--version"], capture_output=True, text=True,
                             env=env, cwd=tmp_path)
    assert version.stdout.strip() == f"bg-pppd {__version__}", version.stderr
    where = subprocess.run([python, "-c", "import bg_pppd; print(bg_pppd.__file__)"],
                           capture_output=True, text=True, env=env, cwd=tmp_path)
    assert where.stdout.startswith(str(site)), where.stdout
    profile = tmp_path / "p.yaml"
    profile.write_text("modem:\n  port: /dev/ttyUSB2\nnetwork:\n  apn: internet\n")
    os.chmod(profile, 0o600)
    ok = subprocess.run([python, str(script), "validate", str(profile)], capture_output=True, text=True,
                        env=env, cwd=tmp_path)
    assert ok.returncode == 0 and ok.stdout == "", ok.stderr
    rendered = subprocess.run([python, str(script), "render", str(profile), "--out", str(tmp_path / "r")],
                              capture_output=True, text=True, env=env, cwd=tmp_path)
    assert rendered.returncode == 0, rendered.stderr
    report = emulate_then_check([python, str(script)], tmp_path, env, tmp_path)
    assert report["registration"] == "home", report


def test_cmux_kernel_module_recommended_and_documented():
    """modem.multiplex: cmux needs n_gsm: recommended (not required) and the option named."""
    text = RECIPE.read_text()
    assert recipe_var(text, "RRECOMMENDS:${PN}").split() == ["kernel-module-n-gsm"]
    assert "kernel-module-n-gsm" not in recipe_var(text, "RDEPENDS:${PN}")
    readme = (LAYER / "README.md").read_text()
    assert "CONFIG_N_GSM=m" in readme and 'KERNEL_MODULE_AUTOLOAD += "n_gsm"' in readme
