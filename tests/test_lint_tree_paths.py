"""MLX106 (rules/tree_paths.py) on small programs: a tree_map_with_path callback that joins
or indexes its path (a lambda, or the module's own function named there) fires; the path
used as the dotted string it is (`d.get(path)`, `path.endswith(...)`, `path.split(".")`) and
a JAX-style callback under a tree_map that is not MLX's stay silent. MLX003 also follows
`mx.value_and_grad(self.loss_fn)` to the method, its `self` bound.

Cost: < 0.5 s (no MLX).
"""

from __future__ import annotations

import pytest
from lint_snippets import HEADER, fired

WITH_PATH = HEADER + "from mlx.utils import tree_map_with_path\n"

LAMBDA = """
def rebuild(model, updates):
    new = tree_map_with_path(lambda path, value: updates.get({key}, value),
                             model.trainable_parameters())
    model.update(new)
"""

NAMED = """
def cast(path, value):
    if path[-1] == "bias":
        return value
    return value.astype(mx.float16)

def convert(model):
    model.update(tree_map_with_path(cast, model.parameters()))
"""


@pytest.mark.parametrize("key", ['".".join(path)', "'/'.join(path)", "path[0]", "path[-1]"])
def test_mlx106_path_used_as_keys(key: str) -> None:
    assert fired(LAMBDA.replace("{key}", key), "MLX106", WITH_PATH) == [3]


def test_mlx106_named_callback() -> None:
    assert fired(NAMED, "MLX106", WITH_PATH) == [3]


@pytest.mark.parametrize("key", ["path", 'path.split(".")[-1]', 'path + ".w"'])
def test_mlx106_path_used_as_a_string(key: str) -> None:
    assert fired(LAMBDA.replace("{key}", key), "MLX106", WITH_PATH) == []


def test_mlx106_other_tree_map_silent() -> None:
    header = HEADER + "from jax.tree_util import tree_map_with_path\n"
    assert fired(LAMBDA.replace("{key}", '".".join(path)'), "MLX106", header) == []


METHOD = """
class Trainer:
    def __init__(self, model):
        self.model = model
        self.opt = optim.Adam(learning_rate=1e-3)

    def loss_fn(self, {params}, x, y):
        return nn.losses.cross_entropy({forward}(x), y, reduction="mean")

    def step(self, x, y):
        params = self.model.trainable_parameters()
        loss, grads = mx.value_and_grad(self.loss_fn)(params, x, y)
        self.opt.update(self.model, grads)
        return loss
"""


def test_mlx003_bound_method_ignores_its_argument() -> None:
    code = METHOD.replace("{params}", "params").replace("{forward}", "self.model")
    assert fired(code, "MLX003") == [12]


def test_mlx003_bound_method_reads_its_argument() -> None:
    code = METHOD.replace("{params}", "model").replace("{forward}", "model")
    assert fired(code, "MLX003") == []
