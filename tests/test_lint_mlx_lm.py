"""The lint on code nobody here wrote: mlx-lm (its trainer is the reference correct loop) and
MLX's own `nn`, `optimizers` and `utils`. No finding but the true positive named in
`TRUE_POSITIVES`: any other finding there is a false positive to fix.

mlx-lm is in the `test` extra; where it is not installed, the wheel is fetched with
`pip download` (and the test fails, saying so, if that is impossible offline).
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from mlxprobe.lint import lint_source

# MLX027: recurrent_gemma's Model.__init__ never calls super().__init__(), so model.freeze()
# (every LoRA run) raises AttributeError '_no_grad' (measured, mlx-lm 0.32.2, mlx 0.32.4 CPU).
# MLX085: lora.py's --clear-cache-threshold has a default (0) while a config file fills only
# the options still None, so a config's clear_cache_threshold never applies.
TRUE_POSITIVES = ["lora.py:201: MLX085", "models/recurrent_gemma.py:415: MLX027"]


def installed(package: str) -> Path | None:
    """The folder of an installed package, found without importing it."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


@pytest.fixture(scope="module")
def mlx_lm(tmp_path_factory: pytest.TempPathFactory) -> Path:
    found = installed("mlx_lm")
    if found is not None:
        return found
    folder = tmp_path_factory.mktemp("mlx_lm")
    done = subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "-q",
                           "--only-binary", ":all:", "-d", str(folder), "mlx-lm"],
                          capture_output=True, text=True, timeout=300)
    wheels = list(folder.glob("mlx_lm-*.whl"))
    if done.returncode or not wheels:
        pytest.fail("mlx-lm is not installed and `pip download mlx-lm` failed (offline?): "
                    "install the test extra, `pip install -e '.[test]'`\n" + done.stderr[-500:])
    zipfile.ZipFile(wheels[0]).extractall(folder / "src")
    return folder / "src" / "mlx_lm"


def findings_under(folder: Path) -> list[str]:
    out = []
    for path in sorted(folder.rglob("*.py")):
        where = path.relative_to(folder)
        out += [f"{where}:{f.line}: {f.rule}" for f in lint_source(path.read_text(), str(path))]
    return out


def test_mlx_lm_trainer_has_no_findings(mlx_lm: Path) -> None:
    trainer = mlx_lm / "tuner" / "trainer.py"
    text = trainer.read_text()
    assert "optimizer.update(model, grad)" in text, "not the trainer this test was written for"
    assert lint_source(text, str(trainer)) == []


def test_all_of_mlx_lm_has_no_findings(mlx_lm: Path) -> None:
    assert len(list(mlx_lm.rglob("*.py"))) > 100
    # the installed release may differ from 0.32.2 (where the bug may be fixed)
    assert [f for f in findings_under(mlx_lm) if f not in TRUE_POSITIVES] == []


def test_mlx_nn_and_optimizers_have_no_findings() -> None:
    mlx = installed("mlx")
    assert mlx is not None and (mlx / "nn").is_dir(), "mlx is a dependency of mlxprobe"
    for part in ("nn", "optimizers"):
        assert findings_under(mlx / part) == []
    assert lint_source((mlx / "utils.py").read_text()) == []
