"""MLX045 (rules/quantization.py), MLX046 and MLX048 (rules/precision.py) on small
programs: weights loaded with strict=False into a model already quantized, bfloat16
parameters stepped by Adam with a learning rate <= 1e-4, and a float16 array squared and
averaged (directly or by a hand-written norm layer) fire; load-then-quantize, adapters
attached before the load, float32 parameters, a larger learning rate, nn.RMSNorm and an
upcast before the square stay silent.

Cost: < 0.5 s (no MLX).
"""

from __future__ import annotations

import pytest
from lint_snippets import fired

LOAD = """
model = Net()
{lines}
"""


@pytest.mark.parametrize("lines", [
    'nn.quantize(model, group_size=64, bits=4)\nmodel.load_weights("base.safetensors", '
    'strict=False)',
    'nn.quantize(model)\nmodel.freeze()\nmodel.load_weights(path, strict=False)',
])
def test_mlx045_loose_load_after_quantize(lines: str) -> None:
    assert len(fired(LOAD.replace("{lines}", lines), "MLX045")) == 1


@pytest.mark.parametrize("lines", [
    'model.load_weights("base.safetensors", strict=False)\nnn.quantize(model)',
    'nn.quantize(model)\nmodel.load_weights("q4.safetensors")',
    'nn.quantize(model)\nlinear_to_lora_layers(model, 8)\nmodel.load_weights(adapters, '
    'strict=False)',
    'nn.quantize(other)\nmodel.load_weights(path, strict=False)',
])
def test_mlx045_load_first_strict_or_adapters_are_clean(lines: str) -> None:
    assert fired(LOAD.replace("{lines}", lines), "MLX045") == []


TRAIN = """
LR = {lr}
model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))
model.set_dtype({dtype})
opt = optim.{opt}(learning_rate=LR)
lg = nn.value_and_grad(model, loss_fn)
for step in range(100):
    loss, grads = lg(model, x, y)
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state)
"""


def train(lr: str, dtype: str = "mx.bfloat16", opt: str = "AdamW") -> str:
    return TRAIN.replace("{lr}", lr).replace("{dtype}", dtype).replace("{opt}", opt)


@pytest.mark.parametrize("lr, opt", [("2e-5", "AdamW"), ("1e-4", "Adam"), ("5e-6", "Lion")])
def test_mlx046_bfloat16_with_small_adam_steps(lr: str, opt: str) -> None:
    assert fired(train(lr, opt=opt), "MLX046") == [4]


@pytest.mark.parametrize("code", [
    train("2e-5", dtype="mx.float32"),
    train("1e-3"),
    train("2e-5", opt="SGD"),
    train("2e-5", dtype="mx.float16"),
])
def test_mlx046_float32_large_steps_or_sgd_are_clean(code: str) -> None:
    assert fired(code, "MLX046") == []


NORM = """
class RMSNorm(nn.Module):
    def __init__(self, dims, eps=1e-6):
        super().__init__()
        self.weight = mx.ones((dims,))
        self.eps = eps

    def __call__(self, x):
        {norm}

class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = nn.Linear(32, 64)
        self.norm = {layer}

    def __call__(self, x):
        h = self.embed(x).astype(mx.float16)
        h = self.norm(h).astype(mx.float32)
        return h
"""
HAND = "return x * mx.rsqrt(mx.mean(x * x, axis=-1, keepdims=True) + self.eps) * self.weight"


def net(norm: str = HAND, layer: str = "RMSNorm(64)") -> str:
    return NORM.replace("{norm}", norm).replace("{layer}", layer)


@pytest.mark.parametrize("code, line", [
    (net(), 19),
    (net("return x * mx.rsqrt((x ** 2).mean(-1, keepdims=True) + self.eps)"), 19),
    ("def f(x):\n    h = x.astype(mx.float16)\n    return mx.mean(h * h, axis=-1)\n", 3),
])
def test_mlx048_float16_squared_and_averaged(code: str, line: int) -> None:
    assert fired(code, "MLX048") == [line]


@pytest.mark.parametrize("code", [
    net(layer="nn.RMSNorm(64)"),
    net("x32 = x.astype(mx.float32)\n        return mx.rsqrt(mx.mean(x32 * x32, -1) + 1e-6)"),
    net("x = x.astype(mx.float32)\n        return mx.rsqrt(mx.mean(x * x, -1) + 1e-6)"),
    "def f(x):\n    h = x.astype(mx.float32)\n    return mx.mean(h * h, axis=-1)\n",
    "def f(x):\n    h = x.astype(mx.float16)\n    h = h.astype(mx.float32)\n"
    "    return mx.mean(h * h, axis=-1)\n",
])
def test_mlx048_fused_norm_or_upcast_is_clean(code: str) -> None:
    assert fired(code, "MLX048") == []
