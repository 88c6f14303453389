"""Stop 83's lint changes.

- MLX034 follows a rounded value handed to a module helper whose every read of that
  parameter is a straight-through form (fresh299 `trellis_ternary_kiln_ok`, correct:
  `_quantize_ste(x_norm, activation_quant(x_norm))` with `return full +
  mx.stop_gradient(quantized - full)`; the rounding sits in `activation_quant`).

Cost: < 1 s (no MLX, no process).
"""

from __future__ import annotations

from lint_snippets import fired

TERNARY = """
def activation_quant(x):
    scale = 127.0 / mx.abs(x).max(axis=-1, keepdims=True)
    return mx.round(x * scale) / scale

def quantize_ste(full, quantized):
    return {estimator}

class BitLinear(nn.Module):
    def __init__(self, d):
        super().__init__()
        self.weight = mx.zeros((d, d))

    def __call__(self, x):
        return quantize_ste(x, activation_quant(x)) @ self.weight.T

def loss_fn(model, x, y):
    return mx.mean((model(x) - y) ** 2)

lg = nn.value_and_grad(model, loss_fn)
for step in range(10):
    loss, grads = lg(model, x, y)
    opt.update(model, grads)
"""


def test_a_rounding_handed_to_a_straight_through_helper_is_quiet() -> None:
    estimator = "full + mx.stop_gradient(quantized - full)"
    assert fired(TERNARY.format(estimator=estimator), "MLX034") == []


def test_a_helper_that_reads_the_rounding_outside_the_estimator_fires() -> None:
    estimator = "quantized + 0.0 * full"
    assert fired(TERNARY.format(estimator=estimator), "MLX034") == [4]
