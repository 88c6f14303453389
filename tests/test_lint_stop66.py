"""Stop 66's lint rule, on the spelling its corpus case had and on the ones it must leave
alone.

Cost: < 0.5 s (no MLX).
"""

from __future__ import annotations

import pytest
from lint_snippets import fired

TRAINING = """

def fit(model, opt, data, loss_fn):
    grad_fn = nn.value_and_grad(model, loss_fn)
    for x in data:
        loss, grads = grad_fn(model, x)
        opt.update(model, grads)
"""

LORA = """
import mlx.core as mx
import mlx.nn as nn


class LoRALayer(nn.Module):
    def __init__(self, base, r=4):
        super().__init__()
        self.base = base
        self.A = mx.random.normal((8, r)) * 0.01
        self.B = mx.zeros((r, 8))
        self.mask = mx.tril(mx.ones((8, 8)))

    def __call__(self, x):
        {body}
"""


@pytest.mark.parametrize("body, expected", [
    ("return self.base(x)", [10, 11]),  # fresh203 vlm_loralayer_call_passthrough
    ("return self.base(x) + (x @ self.A) @ self.B", []),
    ("return self.base(x) + (x @ getattr(self, 'A')) @ self.B", []),  # named in a string
])
def test_mlx217_an_initialised_parameter_nothing_reads(body: str, expected: list[int]) -> None:
    assert fired(LORA.format(body=body) + TRAINING, "MLX217") == expected


def test_mlx217_leaves_a_file_that_does_not_train_alone() -> None:
    assert fired(LORA.format(body="return self.base(x)"), "MLX217") == []


CHECKPOINTED = """
import mlx.core as mx
import mlx.nn as nn


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.blocks = [nn.Linear(4, 4) for _ in range(3)]

    def __call__(self, h):
        for blk in self.blocks:
            {line}
        return h
"""


@pytest.mark.parametrize("line, expected", [
    ("h = mx.checkpoint(lambda z, blk=blk: blk(z))(h)", [13]),  # fresh205 klein_flow_lora
    ("h = mx.checkpoint(lambda z: blk(z))(h)", [13]),  # by closure
    ("h = mx.checkpoint(lambda f, z: f(z))(blk, h)", []),  # handed in
    ("h = mx.checkpoint(lambda z: mx.tanh(z))(h)", []),  # no module
])
def test_mlx056_a_checkpointed_lambda_calling_a_module_it_captures(
        line: str, expected: list[int]) -> None:
    assert fired(CHECKPOINTED.format(line=line) + TRAINING, "MLX056") == expected


ROUND_TRIP = """
import mlx.core as mx

def fit(params, grads, steps):
    for step in range(steps):
        for k in params:
            {lines}
"""


@pytest.mark.parametrize("lines, expected", [
    # fresh208 kiln_bf16_finetune
    ("p32 = params[k].astype(mx.float32)\n            p32 = p32 - 1e-3 * grads[k]\n"
     "            params[k] = p32.astype(mx.bfloat16)", [9]),
    # a float32 master copy stepped, the half weights derived from it
    ("master[k] = master[k] - 1e-3 * grads[k]\n"
     "            params[k] = master[k].astype(mx.bfloat16)", []),
    # another array's copy written back
    ("p32 = other[k].astype(mx.float32)\n            params[k] = p32.astype(mx.bfloat16)", []),
])
def test_mlx218_a_half_weight_cast_back_from_its_float32_copy(
        lines: str, expected: list[int]) -> None:
    assert fired(ROUND_TRIP.format(lines=lines) + TRAINING, "MLX218") == expected
