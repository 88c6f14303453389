"""MLX115: PyTorch's `torch.autograd.grad(loss, params)` spelled with MLX, on small programs:
a transformation given a loss array, or a parameter tree where argnums goes, fires; a
transformation of a function, with or without argnums, stays clean."""

from __future__ import annotations

from lint_snippets import fired

TORCH = """
def step(model, batch):
    loss = batch["loss"]
    grads = mx.grad(loss, model.trainable_parameters())
    out = model(batch["x"])
    total = mx.mean(out)
    also = mx.value_and_grad(total)
    return grads, also
"""
RIGHT = """
def step(model, x, y, params):
    def loss_fn(p):
        model.update(p)
        return mx.mean((model(x) - y) ** 2)
    g = mx.grad(loss_fn)(params)
    h = mx.value_and_grad(loss_fn, argnums=0)(params)
    k = mx.grad(loss_fn, 0)(params)
    return g, h, k
"""


def test_mlx115_a_loss_and_a_parameter_tree_fire():
    assert fired(TORCH, "MLX115") == [4, 7]


def test_mlx115_a_transformed_function_is_clean():
    assert fired(RIGHT, "MLX115") == []
