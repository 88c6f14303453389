"""The lint where Python users already run linters: flake8 (plugin) and pre-commit (hook).

flake8 runs for real in a subprocess. Where the project is installed (`pip install -e
".[test]"`) its `flake8.extension` entry point `MLX` is used; in a checkout that is not
installed, flake8's `[flake8:local-plugins]` loads the same class from this source tree.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from importlib.metadata import entry_points
from pathlib import Path

import pytest
import tomllib
import yaml

from mlxprobe import cli

ROOT = Path(__file__).resolve().parent.parent
PLUGIN = "mlxprobe.lint.flake8_plugin:Flake8Plugin"
BUGGY = """\
import mlx.core as mx


def train(model, optimizer, loss_and_grad, data):
    for batch in data:
        loss, grads = loss_and_grad(model, batch)
        optimizer.update(model, grads)
        optimizer.update(model, grads)  # noqa: MLX001, MLX264
        optimizer.update(model, grads)  # noqa: E501
"""


def plugin_installed() -> bool:
    return any(e.name == "MLX" and e.value == PLUGIN
               for e in entry_points(group="flake8.extension"))


def test_the_entry_point_is_declared() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["entry-points"]["flake8.extension"] == {"MLX": PLUGIN}
    assert any(r.startswith("flake8") for r in project["optional-dependencies"]["test"])


def test_flake8_runs_the_rules_and_honours_noqa(tmp_path: Path) -> None:
    (tmp_path / "train.py").write_text(BUGGY)
    if not plugin_installed():
        (tmp_path / ".flake8").write_text(
            f"[flake8:local-plugins]\nextension =\n    MLX = {PLUGIN}\npaths = {ROOT}\n")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-m", "flake8", "--select", "MLX", "train.py"],
                          capture_output=True, text=True, cwd=tmp_path, env=env, timeout=120)
    assert done.returncode == 1, done.stderr
    assert done.stdout.splitlines() == [
        "train.py:7:9: MLX001 optimizer.update in a loop that never evaluates the parameters "
        "or optimizer state",
        "train.py:9:9: MLX001 optimizer.update in a loop that never evaluates the parameters "
        "or optimizer state",
    ]


def hooks() -> list[dict]:
    return yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text())


def test_pre_commit_hook_names_a_real_entry() -> None:
    (hook,) = hooks()
    assert hook["id"] == "mlxprobe-lint" and hook["language"] == "python"
    assert hook["types_or"] == ["python", "jupyter"]
    program, command, *_ = shlex.split(hook["entry"])
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts[program] == "mlxprobe.cli:main"
    assert command in {c.NAME for c in cli.COMMANDS}


@pytest.mark.parametrize("text, code", [(BUGGY, 1), ("import mlx.core as mx\n", 0)])
def test_pre_commit_hook_runs_on_files(tmp_path: Path, text: str, code: int) -> None:
    """pre-commit runs `entry` followed by the staged file names."""
    (tmp_path / "a.py").write_text(text)
    (tmp_path / "b.py").write_text("x = 1\n")
    _, *args = shlex.split(hooks()[0]["entry"])
    done = subprocess.run([sys.executable, "-m", "mlxprobe.cli", *args, "a.py", "b.py"],
                          capture_output=True, text=True, cwd=tmp_path, timeout=60,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert done.returncode == code, done.stdout + done.stderr
