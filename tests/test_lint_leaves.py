"""MLX039 (rules/leaves.py) on small programs: a Python number in the dict literal that a
value_and_grad/grad function differentiates fires on the number; arrays only, a number in
another argument, or argnums pointing elsewhere stay silent.

Cost: < 0.5 s (no MLX).
"""

from __future__ import annotations

import textwrap

import pytest

from mlxprobe.lint import lint_source

CODE = """
import mlx.core as mx

params = {"w": mx.zeros((4, 2)), {extra}}
config = {"temperature": 0.1}
grad_fn = {transform}
loss, grads = grad_fn(params, x, config)
"""


def fired(extra: str, transform: str = "mx.value_and_grad(loss_fn)") -> list[int]:
    code = CODE.replace("{extra}", extra).replace("{transform}", transform)
    return [f.line for f in lint_source(textwrap.dedent(code), "case.py") if f.rule == "MLX039"]


@pytest.mark.parametrize("extra, transform", [
    ('"temperature": 0.1', "mx.value_and_grad(loss_fn)"),
    ('"scale": -2', "mx.grad(loss_fn)"),
])
def test_mlx039_number_in_the_differentiated_dict(extra: str, transform: str) -> None:
    assert fired(extra, transform) == [4]


@pytest.mark.parametrize("extra, transform", [
    ('"b": mx.zeros((2,))', "mx.value_and_grad(loss_fn)"),
    ('"temperature": mx.array(0.1)', "mx.value_and_grad(loss_fn)"),
    ('"temperature": 0.1', "mx.value_and_grad(loss_fn, argnums=1)"),
    ('"temperature": 0.1', "make_step(loss_fn)"),
])
def test_mlx039_arrays_only_or_not_differentiated_is_clean(extra: str, transform: str) -> None:
    assert fired(extra, transform) == []
