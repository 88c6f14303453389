"""MLX062 (rules/overflow.py) on small programs: a hand-written sigmoid and an unshifted
hand-written softmax (a plain sum or a per-segment scatter-sum) in differentiated code fire;
mx.sigmoid, mx.softmax, a max-shifted or logsumexp-shifted softmax, and code no gradient runs
through stay silent.

Cost: < 0.5 s (no MLX).
"""

from __future__ import annotations

import pytest
from lint_snippets import fired

MODEL = """
class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.proj = nn.Linear(4, 4)

    def __call__(self, x, seg, n):
        z = self.proj(x)
        {body}
        return out


def loss_fn(model, x, seg, n):
    return model(x, seg, n).mean()


grad_fn = nn.value_and_grad(model, loss_fn)
"""


@pytest.mark.parametrize("body", [
    "out = 1 / (1 + mx.exp(-z))",
    "out = z * (1.0 / (mx.exp(-2.0 * z) + 1.0))",
    "e = mx.exp(z)\n        out = e / e.sum(axis=-1, keepdims=True)",
    "e = mx.exp(z / 0.5)\n        out = e / mx.sum(e, axis=-1, keepdims=True)",
    "w = z.exp()\n        tot = mx.zeros((n, 4)).at[seg].add(w)\n"
    "        out = w / (tot[seg] + 1e-9)",
    "out = mx.exp(z) / mx.exp(z).sum(0)",
])
def test_mlx062_unstable_sigmoid_and_softmax(body: str) -> None:
    lines = body.count("\n")
    assert fired(MODEL.replace("{body}", body), "MLX062") == [9 + lines]


@pytest.mark.parametrize("body", [
    "out = mx.sigmoid(z)",
    "out = mx.softmax(z, axis=-1)",
    "e = mx.exp(z - z.max(axis=-1, keepdims=True))\n"
    "        out = e / e.sum(axis=-1, keepdims=True)",
    "m = mx.stop_gradient(mx.max(z, axis=-1, keepdims=True))\n        e = mx.exp(z - m)\n"
    "        out = e / e.sum(-1, keepdims=True)",
    "m = mx.full((n, 4), -mx.inf).at[seg].maximum(z)\n        e = mx.exp(z - m[seg])\n"
    "        out = e / (mx.zeros((n, 4)).at[seg].add(e)[seg])",
    "e = mx.exp(z - mx.logsumexp(z, axis=-1, keepdims=True))\n        out = e / e.sum(-1)",
    "e = mx.exp(z)\n        out = e / 2.0",
    "out = 1 / (1 + mx.abs(z))",
])
def test_mlx062_stable_forms_are_clean(body: str) -> None:
    assert fired(MODEL.replace("{body}", body), "MLX062") == []


def test_mlx062_code_without_gradients_is_clean() -> None:
    code = """
def predict(z):
    e = mx.exp(z)
    return e / e.sum(-1, keepdims=True), 1 / (1 + mx.exp(-z))
"""
    assert fired(code, "MLX062") == []
