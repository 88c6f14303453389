"""MLX038 (rules/indices.py) on small programs: a gather whose indices are an arg-op of a
layer's output, in a module that takes gradients, fires on the arg-op; stop_gradient on the
indices, indices computed from data, or a module with no gradient stay silent.

Cost: < 0.5 s (no MLX).
"""

from __future__ import annotations

import textwrap

import pytest

from mlxprobe.lint import lint_source

MOE = """
import mlx.core as mx
import mlx.nn as nn


class MoE(nn.Module):
    def __init__(self):
        super().__init__()
        self.router = nn.Linear(8, 4)

    def __call__(self, x, lengths):
        scores = mx.softmax(self.router(x), axis=-1)
        {line}
        return mx.take_along_axis(scores, inds, axis=-1).sum(-1)


loss_and_grad = nn.value_and_grad(model, lambda m, x, n: m(x, n).mean())
"""


def fired(code: str) -> list[int]:
    found = lint_source(textwrap.dedent(code), "case.py")
    return [f.line for f in found if f.rule == "MLX038"]


@pytest.mark.parametrize("line", [
    "inds = mx.argsort(-scores, axis=-1)[:, :2]",
    "inds = mx.argpartition(-scores, kth=1, axis=-1)[..., :2]",
    "top = mx.argmax(scores, axis=-1, keepdims=True)\n        inds = top.astype(mx.int32)",
])
def test_mlx038_indices_from_a_layer_are_differentiated(line: str) -> None:
    assert fired(MOE.replace("{line}", line)) == [13]


@pytest.mark.parametrize("line", [
    "inds = mx.stop_gradient(mx.argsort(-scores, axis=-1)[:, :2])",
    "inds = mx.argsort(mx.stop_gradient(-scores), axis=-1)[:, :2]",
    "inds = mx.argsort(lengths, axis=-1)[:, :2]",
])
def test_mlx038_stopped_or_data_indices_are_clean(line: str) -> None:
    assert fired(MOE.replace("{line}", line)) == []


def test_mlx038_inference_module_is_clean() -> None:
    code = MOE.replace("{line}", "inds = mx.argsort(-scores, axis=-1)[:, :2]")
    assert fired(code.split("loss_and_grad")[0]) == []


# MLX059: the same indices written through instead of read through.
WRITE = """
import mlx.core as mx
import mlx.nn as nn


class Router(nn.Module):
    def __init__(self):
        super().__init__()
        self.gate = nn.Linear(8, 4)

    def __call__(self, x, lengths):
        logits = self.gate(x)
        {line}
        return out.sum(-1)


loss_and_grad = nn.value_and_grad(model, lambda m, x, n: m(x, n).mean())
"""


def fired_write(line: str) -> list[int]:
    found = lint_source(textwrap.dedent(WRITE.replace("{line}", line)), "case.py")
    return [f.line for f in found if f.rule == "MLX059"]


@pytest.mark.parametrize("line", [
    "drop = mx.argpartition(logits, kth=1, axis=-1)[..., :2]\n"
    "        out = mx.put_along_axis(logits, drop, mx.array(0.0), axis=-1)",
    "best = mx.argmax(logits, axis=-1)\n        out = mx.zeros_like(logits).at[mx.arange(4), best]"
    ".add(1.0)",
    "worst = mx.argmin(logits, axis=-1)\n        out = logits * 1\n        out[worst] = 0.0",
    "order = mx.argsort(-logits, axis=-1)\n        out = logits.at[order].maximum(0.5)",
])
def test_mlx059_writes_through_learned_indices(line: str) -> None:
    assert fired_write(line) == [13]


@pytest.mark.parametrize("line", [
    "drop = mx.stop_gradient(mx.argpartition(logits, kth=1, axis=-1)[..., :2])\n"
    "        out = mx.put_along_axis(logits, drop, mx.array(0.0), axis=-1)",
    "best = mx.argmax(mx.stop_gradient(logits), axis=-1)\n"
    "        out = mx.zeros_like(logits).at[best].add(1.0)",
    "order = mx.argsort(lengths)\n        out = logits.at[order].add(1.0)",
    "out = logits.at[lengths].add(1.0)",
])
def test_mlx059_stopped_or_data_indices_are_clean(line: str) -> None:
    assert fired_write(line) == []


def test_mlx059_inference_module_is_clean() -> None:
    code = WRITE.replace("{line}", "drop = mx.argmax(logits, axis=-1)\n"
                         "        out = logits.at[drop].add(1.0)")
    found = lint_source(textwrap.dedent(code.split("loss_and_grad")[0]), "case.py")
    assert [f for f in found if f.rule == "MLX059"] == []
