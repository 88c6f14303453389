"""From fresh47's and fresh48's held-out halves: MLX153 (the top level of a nested model's
gradient tree iterated as if it were flat), MLX015 reading `a or b` / `not a` in a compiled
function's test as a test of each operand, and MLX154 (a constant table as a trained
parameter): each on small programs, with the spellings that are right beside them."""

from __future__ import annotations

import pytest
from lint_snippets import fired

NESTED = """
class Encoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.c1 = nn.Linear(4, 4)

class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.{attribute}

def step(model, x, optimizer):
    loss_grad_fn = nn.value_and_grad(model, lambda: model(x).sum())
    loss, grads = loss_grad_fn()
    norm = mx.sqrt(sum(mx.sum(g ** 2) for g in {iterated}))
    optimizer.update(model, grads)
"""


@pytest.mark.parametrize("attribute, iterated, lines", [
    ("encoder = Encoder()", "grads.values()", [15]),
    ("head = nn.Linear(4, 1)", "grads.values()", [15]),
    ("layers = [nn.Linear(4, 4) for _ in range(2)]", "grads.values()", [15]),
    ("encoder = Encoder()", "[v for _, v in tree_flatten(grads)]", []),
    ("weight = mx.zeros((4, 1))", "grads.values()", []),  # a flat tree: arrays on top
])
def test_mlx153_values_of_a_nested_gradient_tree(attribute: str, iterated: str,
                                                 lines: list[int]):
    assert fired(NESTED.format(attribute=attribute, iterated=iterated), "MLX153") == lines


def test_mlx153_items_scaled_and_a_type_tested_loop():
    code = NESTED.format(attribute="encoder = Encoder()", iterated="grads.values()")
    scaled = code + "    clipped = {k: g * 0.5 for k, g in grads.items()}\n"
    assert fired(scaled, "MLX153") == [15, 17]
    guarded = code.replace("mx.sum(g ** 2) for g in grads.values()",
                           "mx.sum(g ** 2) for g in grads.values() if isinstance(g, mx.array)")
    assert fired(guarded, "MLX153") == []


COMPILED = """
def logprobs(x):
    lp = mx.log(x)
    if {test}:
        raise ValueError("bad")
    return lp

@mx.compile
def step(x):
    return logprobs(x).sum()
"""


@pytest.mark.parametrize("test, lines", [
    ("mx.any(mx.isnan(lp)) or mx.any(mx.isinf(lp))", [4]),
    ("not mx.all(lp < 0)", [4]),
    ("x.shape[0] == 0 or x.ndim != 2", []),
])
def test_mlx015_each_operand_of_a_compiled_test(test: str, lines: list[int]):
    assert fired(COMPILED.format(test=test), "MLX015") == lines


ROTARY = """
class GPT(nn.Module):
    def __init__(self):
        super().__init__()
        self.head = nn.Linear(8, 8)
        cos, sin = self._rotary(16)
        self.{name} = {value}
        {freeze}

    @staticmethod
    def _rotary(n):
        angles = mx.arange(n)[:, None] * mx.ones((1, 4))
        return mx.cos(angles), mx.sin(angles)

model = GPT()
optimizer = optim.Adam(learning_rate=1e-3)
for step in range(10):
    loss, grads = nn.value_and_grad(model, lambda m: m.head(mx.ones((1, 8))).sum())(model)
    optimizer.update(model, grads)
"""


@pytest.mark.parametrize("name, value, freeze, lines", [
    ("cos", "cos", "", [7]),  # a table a method of the class built
    ("ordering", "mx.zeros((8,), dtype=mx.int32)", "", [7]),  # an integer table
    ("freqs", "1.0 / (10000 ** (mx.arange(0, 8, 2) / 8))", "", [7]),
    ("_cos", "cos", "", []),  # private: not a parameter
    ("cos", "cos", 'self.freeze(keys=["cos"])', []),
    ("scale", "mx.ones((8,))", "", []),  # a learnable gain
])
def test_mlx154_a_constant_table_as_a_trained_parameter(name: str, value: str, freeze: str,
                                                        lines: list[int]):
    code = ROTARY.format(name=name, value=value, freeze=freeze)
    assert fired(code, "MLX154") == lines


def test_mlx154_leaves_a_file_that_does_not_train_alone():
    code = ROTARY.format(name="cos", value="cos", freeze="").split("optimizer =")[0]
    assert fired(code, "MLX154") == []
