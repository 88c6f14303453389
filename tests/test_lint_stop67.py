"""Stop 67's lint rule, on the spelling its corpus case had and on the ones it must leave
alone.

Cost: < 0.5 s (no MLX).
"""

from __future__ import annotations

import pytest
from lint_snippets import fired

NORM = """
import mlx.core as mx
import mlx.nn as nn


class RunningNorm(nn.Module):
    def __init__(self, dims, momentum=0.1):
        super().__init__()
        self.momentum = momentum
        self.{name} = mx.zeros((dims,))
        self._table = mx.ones((dims,))

    def __call__(self, x):
        if self.training:
            mean = mx.mean(x, axis=0)
            self.{name} = (1 - self.momentum) * self.{name} + self.momentum * mean
        return (x - self.{name}) * self._table


def keep(model, path):
    model.{saving}(path)
"""


@pytest.mark.parametrize("name, saving, expected", [
    ("_running_mean", "save_weights", [10]),  # fresh212 rennet_curd_runstats_ckpt
    ("_running_mean", "load_weights", [10]),
    ("running_mean", "save_weights", []),  # public: a parameter, saved
    ("_running_mean", "eval", []),  # no checkpoint in the file
])
def test_mlx219_running_state_under_a_private_name(name: str, saving: str,
                                                   expected: list[int]) -> None:
    assert fired(NORM.format(name=name, saving=saving), "MLX219") == expected


def test_mlx219_leaves_a_private_constant_alone() -> None:
    text = NORM.format(name="_running_mean", saving="save_weights").replace(
        "self._running_mean = (1 - self.momentum) * self._running_mean + self.momentum * mean",
        "pass")
    assert fired(text, "MLX219") == []


CALLS = """
import mlx.core as mx


def load(img):
    return {call}
"""


@pytest.mark.parametrize("call, expected", [
    ("mx.transpose(img, -1, 0)", [6]),  # fresh215 inkling_pixel_fit
    ("mx.transpose(mx.array(img), 2, 0, 1)", [6]),  # brackets inside its arguments
    ("mx.transpose(img, (2, 0, 1))", []),
    ("mx.moveaxis(img, -1, 0)", []),
    ("mx.transpose(img, *order)", []),
    ("img.transpose(2, 0, 1)", []),  # the array method takes axes one by one
])
def test_mlx220_more_arguments_by_position_than_the_signature(call: str,
                                                              expected: list[int]) -> None:
    assert fired(CALLS.format(call=call), "MLX220") == expected
