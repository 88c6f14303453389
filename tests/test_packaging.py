"""The wheel ships every package: pyproject's explicit package list matches the source tree.

tomllib is Python 3.11+; mlxprobe supports 3.10, where the same parser is the `tomli` package
(in the `test` extra for Python < 3.11 only).
"""

from __future__ import annotations

import sys
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:
    import tomli as tomllib

ROOT = Path(__file__).resolve().parent.parent


def test_every_subpackage_is_listed() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    listed = set(config["packages"])
    on_disk = {".".join(p.parent.relative_to(ROOT).parts)
               for p in (ROOT / "mlxprobe").rglob("__init__.py")}
    assert on_disk - listed == set(), "add these to [tool.setuptools] packages"
    assert config["package-dir"]["mlxprobe_scenarios"] == "scenarios"
    assert "mlxprobe_scenarios" in listed
