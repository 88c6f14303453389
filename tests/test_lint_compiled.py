"""MLX053 on small programs: a compiled step whose declared state leaves out what it changes
(an optimizer, a module, the random state), and the complete lists that stay silent."""

from __future__ import annotations

import pytest
from lint_snippets import fired


@pytest.mark.parametrize("body", [
    "idx = mx.random.randint(0, 100, (16,))\n    return idx",
    "loss, g = loss_and_grad(model, x, y)\n    optimizer.update(model, g)\n"
    "    ema.update(model.parameters())\n    return loss",
])
def test_mlx053_step_changes_state_it_does_not_list(body: str) -> None:
    code = f"""
ema = nn.Linear(4, 1)
state = [model.state, optimizer.state]

@partial(mx.compile, inputs=state, outputs=state)
def step(x, y):
    {body}
"""
    assert fired(code, "MLX053") == [5]


def test_mlx053_a_dropout_model_trained_by_a_compiled_step() -> None:
    code = """
model = nn.Sequential(nn.Linear(4, 8), nn.Dropout(0.1), nn.Linear(8, 1))
state = [model.state, optimizer.state]

def step(x, y):
    loss, g = loss_and_grad(model, x, y)
    optimizer.update(model, g)
    return loss

step = mx.compile(step, inputs=state, outputs=state)
"""
    assert fired(code, "MLX053") == [10]


@pytest.mark.parametrize("state", [
    "[model.state, optimizer.state, mx.random.state, ema.state]",
    "[model.state, optimizer.state, mx.random.state, ema.parameters()]",
])
def test_mlx053_complete_lists_are_clean(state: str) -> None:
    code = f"""
ema = nn.Linear(4, 1)
model = nn.Sequential(nn.Linear(4, 8), nn.Dropout(0.1), nn.Linear(8, 1))
state = {state}

@partial(mx.compile, inputs=state, outputs=state)
def step(x, y):
    idx = mx.random.randint(0, 100, (16,))
    loss, g = loss_and_grad(model, x, y)
    optimizer.update(model, g)
    ema.update(model.parameters())
    return loss
"""
    assert fired(code, "MLX053") == []


def test_mlx053_explicit_keys_zero_dropout_and_unreadable_lists_are_clean() -> None:
    code = """
model = nn.Sequential(nn.Linear(4, 8), nn.Dropout(0.0))
state = [model.state, optimizer.state]

@partial(mx.compile, inputs=state, outputs=state)
def step(x, key):
    noise = mx.random.normal(x.shape, key=key)
    loss, g = loss_and_grad(model, x + noise, x)
    optimizer.update(model, g)
    return loss

@partial(mx.compile, inputs=make_state(), outputs=make_state())
def other(x):
    return mx.random.normal(x.shape)
"""
    assert fired(code, "MLX053") == []


@pytest.mark.parametrize("outputs, lines", [("", [5]), (", outputs=state", [])])
def test_mlx053_state_given_as_inputs_only(outputs: str, lines: list[int]) -> None:
    """b13_compile_state_inputs_only (fresh13): `inputs=state` alone, an optimizer updated
    inside; with `outputs=state` too it trains."""
    code = f"""
model = nn.Linear(4, 1)
state = [model.state, optimizer.state]

@partial(mx.compile, inputs=state{outputs})
def step(x, y):
    loss, g = loss_and_grad(model, x, y)
    optimizer.update(model, g)
    return loss
"""
    assert fired(code, "MLX053") == lines


def test_mlx053_inputs_only_over_a_function_that_changes_nothing_is_clean() -> None:
    code = """
state = [model.state]

@partial(mx.compile, inputs=state)
def predict(x):
    return model(x)
"""
    assert fired(code, "MLX053") == []
