"""MLX060 (rules/shapeless.py) on small programs: a shapeless compile (decorator, call,
`partial(...)(f)`) over code that reads an input's shape as a number fires, also through a
helper and through the model a compiled training step runs; shape-free code, `x.shape[-1]`,
parameter shapes and compiles without `shapeless=True` stay silent.

Cost: < 0.5 s (no MLX).
"""

from __future__ import annotations

import pytest
from lint_snippets import fired


@pytest.mark.parametrize("body", [
    "return x.reshape(x.shape[0], -1)",
    "return mx.zeros((x.shape[0], 8)) + x",
    "return sum(x[i] for i in range(x.shape[1]))",
    "B, L, D = x.shape\n    return x.reshape(B * L, D)",
    "return x + mx.random.normal(x.shape)",
    "return x.reshape(*x.shape[:2], 4, -1)",
])
def test_mlx060_shapeless_compile_reads_a_shape(body: str) -> None:
    code = f"""
@partial(mx.compile, shapeless=True)
def f(x):
    {body}
"""
    assert fired(code, "MLX060") == [4]


@pytest.mark.parametrize("wrap", [
    "g = mx.compile(f, shapeless=True)",
    "g = partial(mx.compile, shapeless=True)(f)",
])
def test_mlx060_compile_calls_and_helpers(wrap: str) -> None:
    code = f"""
def flat(h):
    return h.reshape(h.shape[0], -1)

def f(x):
    return flat(x) * 2

{wrap}
"""
    assert fired(code, "MLX060") == [3]


def test_mlx060_model_run_by_a_compiled_step() -> None:
    code = """
class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(64, 4)

    def __call__(self, x):
        return self.fc(x.reshape(x.shape[0], -1))

def loss_fn(model, x, y):
    return nn.losses.cross_entropy(model(x), y).mean()

model = Net()

@partial(mx.compile, inputs=model.state, outputs=model.state, shapeless=True)
def step(x, y):
    loss, grads = nn.value_and_grad(model, loss_fn)(model, x, y)
    return loss
"""
    assert fired(code, "MLX060") == [8]


@pytest.mark.parametrize("body", [
    "return x.reshape(-1, 64)",
    "return mx.flatten(x, 1)",
    "return x / x.shape[-1] ** 0.5",
    "return x @ mx.zeros(self.weight.shape)",
    "return mx.zeros_like(x) + x.sum(axis=0)",
    "return x.reshape(-1, 64) if len(x.shape) > 2 else x",
])
def test_mlx060_shape_free_code_is_clean(body: str) -> None:
    code = f"""
@partial(mx.compile, shapeless=True)
def f(x):
    {body}
"""
    assert fired(code, "MLX060") == []


def test_mlx060_compile_without_shapeless_is_clean() -> None:
    code = """
@mx.compile
def f(x):
    return x.reshape(x.shape[0], -1)

g = mx.compile(lambda x: x.reshape(x.shape[0], -1), shapeless=False)
h = partial(mx.compile, shapeless=False)(f)
"""
    assert fired(code, "MLX060") == []
