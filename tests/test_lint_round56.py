"""From fresh55's held-out half: MLX077 reading a square written as a product with other
factors (`0.5 * d * d / beta`), MLX162 (a transformation's function unpacked as values) and
MLX163 (a distributed group used as its size), each with the spellings right beside it."""

from __future__ import annotations

import pytest
from lint_snippets import fired

HUBER = """
def smooth_l1(pred, target, beta=1.0 / 9.0):
    diff = {diff}
    loss = mx.where(diff < beta, {square}, mx.abs(diff) - 0.5 * beta)
    return loss.mean()
"""


@pytest.mark.parametrize("diff, square, lines", [
    ("pred - target", "0.5 * diff * diff / beta", [4]),
    ("pred - target", "0.5 * diff ** 2 / beta", [4]),
    ("pred - target", "diff * 0.5 * diff", [4]),
    ("mx.abs(pred - target)", "0.5 * diff * diff / beta", []),  # the magnitude chooses
    ("pred - target", "0.5 * diff / beta", []),  # not a square
])
def test_mlx077_a_signed_branch_with_the_square_among_other_factors(diff: str, square: str,
                                                                      lines: list[int]):
    assert fired(HUBER.format(diff=diff, square=square), "MLX077") == lines


@pytest.mark.parametrize("line, lines", [
    ("lvalue, grads = mx.value_and_grad(mse)", [5]),
    ("lvalue, grads = nn.value_and_grad(model, mse)", [5]),
    ("[g] = mx.grad(mse)", [5]),
    ("lvalue, grads = mx.value_and_grad(mse)(w)", []),  # called first
    ("fn = mx.value_and_grad(mse)", []),
])
def test_mlx162_a_transformation_unpacked(line: str, lines: list[int]):
    code = f"""
    model = nn.Linear(2, 2)
    def mse(w):
        return (w * w).sum()
    {line}
    """
    assert fired(code, "MLX162") == lines


GROUP = """
{top}
def all_reduce_grads(grads):
    {inner}
    if N == 1:
        return grads
    return tree_map(lambda g: mx.distributed.all_sum(g) / N, grads)

def scale(x):
    return x / N
"""


@pytest.mark.parametrize("top, inner, lines", [
    ("", "N = mx.distributed.init()", [5]),
    ("N = mx.distributed.init()", "pass", [5, 10]),
    ("", "N = mx.distributed.init().size()", []),
    ("N = mx.distributed.init().size()", "pass", []),
    ("N = mx.distributed.init()", "N = 4", [10]),  # rebound to a number in one function
])
def test_mlx163_a_group_used_as_its_size(top: str, inner: str, lines: list[int]):
    assert fired(GROUP.format(top=top, inner=inner), "MLX163") == lines
