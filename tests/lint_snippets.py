"""Shared by the lint rule tests: a snippet linted under the usual imports, and the lines
(counted from the snippet's first line) where one rule fired. No MLX is imported."""

from __future__ import annotations

import textwrap

from mlxprobe.lint import lint_source

HEADER = """\
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from functools import partial
from mlx.utils import tree_flatten, tree_map
"""


# A snippet's usual training loop: a squared-error loss, its gradient over the model, steps.
TRAINED = """
def loss_fn(model, x, y):
    return mx.mean((model(x) - y) ** 2)

lg = nn.value_and_grad(model, loss_fn)
for step in range(10):
    loss, grads = lg(model, x, y)
    opt.update(model, grads)
"""


def fired(code: str, rule: str, header: str = HEADER) -> list[int]:
    offset = header.count("\n")
    found = lint_source(header + textwrap.dedent(code), "case.py")
    return [f.line - offset for f in found if f.rule == rule]
