"""MLX033-MLX034 (rules/differentiation.py) on small programs: differentiated code whose
gradient is zero by construction is found however it is named; the working forms are not.

Cost: < 0.5 s (no MLX).
"""

from __future__ import annotations

import pytest
from lint_snippets import fired

OUTSIDE = """
net = MLP()
opt = optim.Adam(learning_rate=1e-3)

def objective({params}):
    return {body}

vg = nn.value_and_grad(net, objective)
for x, y in data:
    {before}
    loss, g = vg({args})
    opt.update(net, g)
    mx.eval(net.parameters(), opt.state)
"""


def outside(params: str, body: str, before: str, args: str) -> str:
    return (OUTSIDE.replace("{params}", params).replace("{body}", body)
            .replace("{before}", before).replace("{args}", args))


@pytest.mark.parametrize("params, body, before, args", [
    ("pred, y", "nn.losses.mse_loss(pred, y)", "pred = net(x)", "pred, y"),
    ("a, b", "(a - b).mean()", "a, b = net(x), net(y)", "a, b"),
    ("m, a, b", "nn.log_sigmoid(a - b).mean()", "a, b = net(x), net(y)", "net, a, b"),
])
def test_mlx033_forward_pass_outside_the_differentiated_function(params, body, before,
                                                                   args) -> None:
    assert fired(outside(params, body, before, args), "MLX033") == [8]


@pytest.mark.parametrize("params, body, before, args", [
    ("m, x, y", "nn.losses.mse_loss(m(x), y)", "pass", "net, x, y"),
    ("x, y", "nn.losses.mse_loss(net(x), y)", "pass", "x, y"),
    ("x, y", "helper(x, y)", "pass", "x, y"),
    ("*a", "loss_of(*a)", "pass", "*batch"),
    ("x, y", "nn.losses.mse_loss(forward(x), y)", "forward = net", "x, y"),
    ("x, y", "other_module.loss(x, y)", "pass", "x, y"),
    ("x, y", "agent.policy_loss(x, y)", "pass", "x, y"),
    ("m, a, b", "nn.log_sigmoid(m(a) - b).mean()", "pass", "net, x, y"),
])
def test_mlx033_model_reached_inside_is_clean(params, body, before, args) -> None:
    code = outside(params, body, before, args) + "\ndef helper(x, y):\n    return net(x).sum()\n"
    assert fired(code, "MLX033") == []


QAT = """
def fake_quant(w):
    scale = mx.stop_gradient(mx.abs(w).max()) / 7
    {line}

class QLinear(nn.Module):
    def __call__(self, x):
        return x @ fake_quant(self.weight).T

def loss_fn(model, x, y):
    return nn.losses.mse_loss(model(x), y)

step = nn.value_and_grad(model, loss_fn)
"""


@pytest.mark.parametrize("line", [
    "return mx.round(w / scale) * scale",
    "q = mx.floor(w * 8 + 0.5)\n    return q / 8",
    "return (w / scale).round() * scale",
])
def test_mlx034_rounding_in_the_forward_pass(line: str) -> None:
    assert fired(QAT.replace("{line}", line), "MLX034") == [4]


@pytest.mark.parametrize("line", [
    "return w + mx.stop_gradient(mx.round(w / scale) * scale - w)",
    "idx = mx.floor(w * 8).astype(mx.int32)\n    return w[idx]",
    "return mx.round(w)",
])
def test_mlx034_straight_through_or_index_is_clean(line: str) -> None:
    assert fired(QAT.replace("{line}", line), "MLX034") == []


def test_mlx034_rounding_outside_differentiated_code_is_clean() -> None:
    code = "def export(w, s):\n    return mx.round(w / s) * s\n"
    assert fired(code, "MLX034") == []


MASKED = """
import math
NEG = {neg}

class Attention(nn.Module):
    def __call__(self, q, k, keep):
        scores = q @ k.T
        scores = mx.where(keep, scores, {fill})
        return mx.softmax(scores, axis=-1)

def loss_fn(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")

vg = nn.value_and_grad(model, loss_fn)
"""


@pytest.mark.parametrize("neg, fill", [
    ("-math.inf", "NEG"),
    ("None", "-mx.inf"),
    ("None", "float('-inf')"),
    ("None", "-float('inf')"),
    ("None", "mx.array(-mx.inf, scores.dtype)"),
])
def test_mlx035_minus_infinity_mask_into_softmax(neg: str, fill: str) -> None:
    """mlx#2608: a fully masked row is softmax(-inf, ..., -inf) = NaN."""
    assert fired(MASKED.replace("{neg}", neg).replace("{fill}", fill), "MLX035") == [8]


@pytest.mark.parametrize("neg, fill", [
    ("-1e9", "NEG"),
    ("None", "mx.finfo(scores.dtype).min"),
    ("None", "0.0"),
])
def test_mlx035_finite_fill_is_clean(neg: str, fill: str) -> None:
    assert fired(MASKED.replace("{neg}", neg).replace("{fill}", fill), "MLX035") == []


def test_mlx035_inference_only_module_is_clean() -> None:
    """Sampling and inference code (no gradient in the module) masks with -inf safely."""
    code = MASKED.replace("{neg}", "None").replace("{fill}", "-mx.inf").split("def loss_fn")[0]
    assert fired(code, "MLX035") == []


STOPPED = """
class Sampler(nn.Module):
    def __call__(self, x):
        h = self.proj(x)
        offsets = mx.tanh(self.offsets(x))
        loc = mx.arange(8) + offsets
        {line}
        return h * loc{extra}

def loss_fn(model, x, y):
    return nn.losses.mse_loss(model(x), y)

vg = nn.value_and_grad(model, loss_fn)
"""


@pytest.mark.parametrize("line", [
    "loc = mx.stop_gradient(loc)",
    "loc = mx.stop_gradient(mx.arange(8) + offsets)",
])
def test_mlx036_layer_cut_from_the_loss(line: str) -> None:
    """mlx#1213: the offset layer feeds only a stop_gradient, so it never trains."""
    assert fired(STOPPED.replace("{line}", line).replace("{extra}", ""), "MLX036") == [7]


@pytest.mark.parametrize("line, extra", [
    ("lo = mx.stop_gradient(mx.floor(loc)).astype(mx.int32)", " + lo"),
    ("target = mx.stop_gradient(h)", " + target + self.proj(loc)"),
    ("loc = mx.stop_gradient(loc)", " + self.offsets(h)"),
    ("h = mx.stop_gradient(self.proj(x))", ""),
])
def test_mlx036_index_only_or_layer_used_elsewhere_is_clean(line: str, extra: str) -> None:
    assert fired(STOPPED.replace("{line}", line).replace("{extra}", extra), "MLX036") == []


def test_mlx036_frozen_teacher_is_clean() -> None:
    code = STOPPED.replace("{line}", "loc = mx.stop_gradient(loc)").replace("{extra}", "")
    assert fired(code + "model.offsets.freeze()\n", "MLX036") == []


def test_mlx035_additive_minus_infinity_bias_into_softmax() -> None:
    code = MASKED.replace("{neg}", "None").replace(
        "scores = mx.where(keep, scores, {fill})",
        "bias = mx.where(keep, 0.0, -mx.inf)\n        scores = scores + bias")
    assert fired(code, "MLX035") == [8]


HANDED = """
class Block(nn.Module):
    def __call__(self, x, bias):
        {attend}

class Model(nn.Module):
    def __call__(self, x, pad):
        bias = mx.where(pad[:, None, None, :], -mx.inf, 0.0)
        return self.block(x, bias)

def loss_fn(model, x, pad, y):
    return nn.losses.mse_loss(model(x, pad), y)

vg = nn.value_and_grad(model, loss_fn)
"""


@pytest.mark.parametrize("attend", [
    "return mx.softmax(x @ x.T + bias, axis=-1) @ x",
    "return mx.fast.scaled_dot_product_attention(x, x, x, scale=1.0, mask=bias)",
])
def test_mlx035_minus_infinity_mask_handed_to_the_attention(attend: str) -> None:
    """Built in one method, consumed in another: an additive -inf mask NaNs a padded row
    in softmax and in scaled_dot_product_attention alike (measured, mlx 0.32.4 CPU)."""
    assert fired(HANDED.replace("{attend}", attend), "MLX035") == [8]


def test_mlx035_boolean_mask_to_the_attention_is_clean() -> None:
    code = HANDED.replace("mx.where(pad[:, None, None, :], -mx.inf, 0.0)",
                          "~pad[:, None, None, :]").replace(
        "{attend}", "return mx.fast.scaled_dot_product_attention(x, x, x, scale=1.0, mask=bias)")
    assert fired(code, "MLX035") == []


@pytest.mark.parametrize("mask", [
    "keep = mx.tril(mx.ones((q.shape[0], q.shape[0]))) > 0",
    "keep = mx.arange(q.shape[0])[:, None] >= mx.arange(q.shape[0])[None]",
])
def test_mlx035_causal_mask_built_in_place_is_clean(mask: str) -> None:
    """A causal mask keeps the diagonal: no row is all -inf."""
    code = MASKED.replace("{neg}", "None").replace("{fill}", "-mx.inf").replace(
        "def __call__(self, q, k, keep):", "def __call__(self, q, k):\n        " + mask)
    assert fired(code, "MLX035") == []


def test_mlx035_causal_and_padding_mask_fires() -> None:
    code = MASKED.replace("{neg}", "None").replace("{fill}", "-mx.inf").replace(
        "def __call__(self, q, k, keep):",
        "def __call__(self, q, k, valid):\n        keep = mx.tril(mx.ones((4, 4))) * valid")
    assert fired(code, "MLX035") == [9]
