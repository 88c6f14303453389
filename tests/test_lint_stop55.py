"""Stop 55's lint change, on small programs with the spellings beside them that must stay
silent. From fresh90's correct loop `vineyard_moisture_deep_kernel_gp`: MLX024 (an
`mx.linalg` op with no VJP under a gradient) stands down in a helper that the differentiated
code calls only from an `mx.custom_function` with its own VJP, even where code outside the
gradient (a prediction) calls the helper too; a helper the loss calls directly still fires.
MLX034 (rounding under a gradient) stands down in a helper only such functions call. From
fresh91: MLX008 reads a name its function binds only to numbers and steps by numbers (a step
count returned from each fold) as a Python value.

Cost: < 0.5 s (no MLX).
"""

from __future__ import annotations

import pytest
from lint_snippets import fired

GP = """
def solve(K, y):
    Kinv = mx.linalg.inv(K, stream=mx.cpu)
    return Kinv, Kinv @ y

@mx.custom_function
def nlml(K, y):
    _, a = solve(K, y)
    return 0.5 * (y * a).sum()
{vjp}

class GP(nn.Module):
    def __init__(self):
        super().__init__()
        self.log_ell = mx.array(0.0)

    def cov(self, x):
        return mx.exp(self.log_ell) * (x @ x.T) + mx.eye(x.shape[0])

    def predict(self, x, y):
        Kinv, a = solve(self.cov(x), y)
        return a

def loss_fn(model, x, y):
    return {loss}

model = GP()
loss_and_grad = nn.value_and_grad(model, loss_fn)
"""
VJP = """
@nlml.vjp
def nlml_vjp(primals, cotangent, output):
    K, y = primals
    Kinv, a = solve(K, y)
    return cotangent * 0.5 * (Kinv - a[:, None] * a[None, :]), cotangent * a
"""


@pytest.mark.parametrize("vjp, loss, fires", [
    (VJP, "nlml(model.cov(x), y)", False),  # the gradient is the hand-written one
    ("", "nlml(model.cov(x), y)", True),  # no VJP given: MLX differentiates the body
    (VJP, "nlml(model.cov(x), y) + solve(model.cov(x), y)[1].sum()", True),  # called directly
])
def test_mlx024_in_a_helper_of_a_custom_vjp(vjp: str, loss: str, fires: bool):
    assert bool(fired(GP.format(vjp=vjp, loss=loss), "MLX024")) == fires


SNAP = """
def snap(z):
    return mx.round(z * 15) / 15

@mx.custom_function
def quantize(z):
    return snap(z)

@quantize.vjp
def quantize_vjp(primals, cotangent, output):
    return (cotangent,)

def loss_fn(model, x):
    return mx.mean(mx.square({inner} - x))

loss_and_grad = nn.value_and_grad(model, loss_fn)
"""


@pytest.mark.parametrize("inner, fires", [
    ("quantize(model(x))", False),  # snap runs only inside the custom function
    ("snap(model(x))", True),  # the loss rounds through snap itself: a zero gradient
])
def test_mlx034_in_a_helper_only_a_custom_vjp_calls(inner: str, fires: bool):
    assert bool(fired(SNAP.format(inner=inner), "MLX034")) == fires


FOLDS = """
def run_fold(model, opt, batches):
    step = 0
    loss_and_grad = nn.value_and_grad(model, loss_fn)
    for x, y in batches:
        loss, grads = loss_and_grad(model, x, y)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state)
        {count}
    return {result}

offset = 0
for k in range(4):
    n = run_fold(model, opt, folds[k])
    offset += n
"""


@pytest.mark.parametrize("count, result, fires", [
    ("step += 1", "step", False),  # a step count, a Python int
    ("step = step + 1", "step", False),  # the same count, spelled out
    ("step = step + loss", "step", True),  # a sum of losses: an array
    ("step += 1", "loss", True),  # the step's loss array, summed across folds unevaluated
])
def test_mlx008_reads_a_returned_step_count_as_a_number(count: str, result: str, fires: bool):
    assert bool(fired(FOLDS.format(count=count, result=result), "MLX008")) == fires
