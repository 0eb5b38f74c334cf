"""Package discovery that setup.cfg cannot express on its own.

setup.cfg's ``packages = find:`` only finds directories under bg_pppd/, and the
templates and example profiles live at the top level (templates/, configs/) and
are shipped as bg_pppd.templates and bg_pppd.configs (package_dir in setup.cfg).
A declarative config holds either a found list or a written one, not both, so the
found sub-packages are joined to the two mapped ones here; everything else stays
in setup.cfg. A new sub-package of bg_pppd is shipped without touching this file.
"""

from setuptools import find_packages, setup

setup(packages=[*find_packages(include=["bg_pppd", "bg_pppd.*"]), "bg_pppd.templates", "bg_pppd.configs"])
