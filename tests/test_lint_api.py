"""MLX037 (rules/api.py) on small programs: a name read from mlx.core or one of its submodules
that mlx does not have, however the module is imported; silent on the names mlx lists.

The name list (mlxprobe/lint/mlx_api.py) is mlx 0.32.4's `dir()` of each module; the last test
checks it against the installed mlx when there is one (a child process: lint never imports mlx).

Cost: < 1 s (the mlx check runs one child, ~0.3 s).
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from mlxprobe.lint import lint_source
from mlxprobe.lint.mlx_api import MODULES, VERSION


def fired(code: str) -> list[int]:
    found = lint_source(textwrap.dedent(code), "case.py")
    return [f.line for f in found if f.rule == "MLX037"]


@pytest.mark.parametrize("code", [
    "import mlx.core as mx\nmx.simplify(loss, params)\n",
    "import mlx.core as mx\nm = mx.ones((2,), dtype=mx.bool)\n",
    "import mlx.core as mx\nx = mx.random.randn(3)\n",
    "from mlx import core as c\nv = c.linalg.matrix_rank(a)\n",
    "import mlx.core\nmlx.core.nonzero(a)\n",
    "import mlx.nn as nn\nloss = -nn.losses.log_sigmoid(a - b)\n",
    "import mlx.optimizers as optim\nopt = optim.AdamWW(learning_rate=1e-3)\n",
])
def test_mlx037_names_mlx_does_not_have(code: str) -> None:
    assert fired(code) == [2]


@pytest.mark.parametrize("code", [
    "import mlx.core as mx\nmx.eval(loss, params)\nm = mx.ones((2,), dtype=mx.bool_)\n",
    "import mlx.core as mx\nstate = [mx.random.state]\nv = mx.__version__\n",
    "import mlx.core as mx\nq = mx.linalg.qr(a, stream=mx.cpu)\nmx.fast.rms_norm(x, w, 1e-5)\n",
    "import numpy as mx\nmx.simplify(a)\n",
    "import mlx.core as mx\nmx.foo = 1\n",
    "import mlx.nn as nn\nl = nn.log_sigmoid(a) + nn.losses.cross_entropy(a, b)\n",
    "import mlx.optimizers as optim\nopt = optim.AdamW(optim.cosine_decay(1e-3, 10))\n",
])
def test_mlx037_names_mlx_has_are_clean(code: str) -> None:
    assert fired(code) == []


def test_the_name_list_matches_the_installed_mlx() -> None:
    """Every listed name exists in the installed mlx of the same version (skipped only when mlx
    is absent or another version: then the list is what 0.32.4 had, as documented)."""
    probe = ("import mlx.core as mx, importlib, json; print(mx.__version__); print(json.dumps({m: "
             "sorted(n for n in dir(importlib.import_module(m)) if not n.startswith('__')) "
             f"for m in {sorted(MODULES)!r}}}))")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    if done.returncode or done.stdout.split()[0] != VERSION:
        pytest.skip(f"mlx {VERSION} is not installed here")
    import json
    installed = json.loads(done.stdout.split("\n", 1)[1])
    for module, names in installed.items():
        assert set(names) <= MODULES[module], module
