"""Stop 83's lint changes.

- MLX034 follows a rounded value handed to a module helper whose every read of that
  parameter is a straight-through form (fresh299 `trellis_ternary_kiln_ok`, correct:
  `_quantize_ste(x_norm, activation_quant(x_norm))` with `return full +
  mx.stop_gradient(quantized - full)`; the rounding sits in `activation_quant`).
- MLX018 follows `nll, mask = token_nll(...)` into what the module's helper returns there
  (lintheld3 `b3_per_token_loss_unreduced`: `return cross_entropy(...) * mask, mask`, the
  per-token loss handed to value_and_grad), and takes a model called on one constant
  (`model(mx.array(0.0))`) for one value (fresh175 `cooling_fin_pinn_sgdr_table`, correct).
- MLX196 reads `.size(1)`/`.shape(0)` given an axis whatever the receiver, unless the module
  defines such a method (fresh301 `kestrel_loom_merge`, mlx-vlm 9f4e8fb: `nn.Linear(
  updated_weight.size(1), updated_weight.size(0))` on a sum the dataflow does not type).

Cost: < 1 s (no MLX, no process).
"""

from __future__ import annotations

from lint_snippets import TRAINED, fired

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
""" + TRAINED.replace("{", "{{").replace("}", "}}")


def test_a_rounding_handed_to_a_straight_through_helper_is_quiet() -> None:
    estimator = "full + mx.stop_gradient(quantized - full)"
    assert fired(TERNARY.format(estimator=estimator), "MLX034") == []


def test_a_helper_that_reads_the_rounding_outside_the_estimator_fires() -> None:
    estimator = "quantized + 0.0 * full"
    assert fired(TERNARY.format(estimator=estimator), "MLX034") == [4]


PER_TOKEN = """
def token_nll(logits, targets):
    mask = (targets != 0).astype(logits.dtype)
    return nn.losses.cross_entropy(logits, targets) * mask, mask

def lm_loss(model, inputs, targets):
    nll, mask = token_nll(model(inputs), targets)
    return {result}

step_fn = nn.value_and_grad(model, lm_loss)
for step in range(10):
    loss, grads = step_fn(model, x, y)
    opt.update(model, grads)
"""


def test_a_per_token_loss_returned_through_a_helpers_tuple_fires() -> None:
    """lintheld3 `b3_per_token_loss_unreduced` (mlx issue 487): `[vjp] Output shape (16,21)
    does not match cotangent shape ()`."""
    assert fired(PER_TOKEN.format(result="nll"), "MLX018") == [8]


def test_the_same_loss_reduced_over_its_mask_is_quiet() -> None:
    assert fired(PER_TOKEN.format(result="nll.sum() / mask.sum()"), "MLX018") == []


PINN = """
def objective(model):
    data = mx.mean((model(x_obs) - t_obs) ** 2)
    bc = (model(mx.array(0.0)) - 1.0) ** 2
    return data + 10.0 * bc

lg = nn.value_and_grad(model, objective)
for step in range(10):
    loss, grads = lg(model)
    opt.update(model, grads)
"""


def test_a_model_called_on_one_constant_predicts_one_value() -> None:
    """fresh175 `cooling_fin_pinn_sgdr_table` (correct): a PINN's boundary term."""
    assert fired(PINN, "MLX018") == []


MERGE = """
import mlx.core as mx
import mlx.nn as nn

def replace_lora_with_linear(model):
    for i, layer in enumerate(model.layers):
        updated_weight = layer.original_layer.weight + layer.scale * (layer.A @ layer.B)
        merged = nn.Linear(updated_weight.{axis}, updated_weight.{other})
        merged.weight = updated_weight
        model.layers[i] = merged
"""


def test_a_size_asked_for_an_axis_fires_whatever_the_receiver() -> None:
    """fresh301 `kestrel_loom_merge` (mlx-vlm 9f4e8fb): `updated_weight.size(1)`."""
    assert fired(MERGE.format(axis="size(1)", other="size(0)"), "MLX196") == [8, 8]


def test_the_shape_indexed_is_quiet() -> None:
    assert fired(MERGE.format(axis="shape[1]", other="shape[0]"), "MLX196") == []


def test_a_module_that_defines_its_own_size_method_is_quiet() -> None:
    own = MERGE + "\nclass Pool:\n    def size(self, axis):\n        return 3\n"
    assert fired(own.format(axis="size(1)", other="size(0)"), "MLX196") == []
