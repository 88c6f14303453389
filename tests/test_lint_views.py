"""MLX066 on small programs: a slice of a step's array kept across steps, and the copies,
per-step lists and non-training code that stay silent."""

from __future__ import annotations

from lint_snippets import fired

TRAINER = """
class Trainer:
    def __init__(self):
        self.vg = nn.value_and_grad(model, loss_fn)
        self.bank = []

    def train_step(self, x, y):
        (loss, h), grads = self.vg(model, x, y)
        optimizer.update(model, grads)
        emb = {kept}
        mx.eval(model.parameters(), optimizer.state, emb)
        self.bank.append(emb)
        return loss.item()

for x, y in data:
    trainer.train_step(x, y)
"""


def test_mlx066_a_kept_slice_of_the_steps_activation() -> None:
    assert fired(TRAINER.format(kept="mx.stop_gradient(h[:, -1, :])"), "MLX066") == [12]


def test_mlx066_a_slice_appended_in_a_module_loop() -> None:
    code = """
    last = []
    for x, y in batches:
        loss, grads = loss_and_grad(model, x, y)
        optimizer.update(model, grads)
        h = mx.tanh(model.encode(x))
        last.append(h[:, 0, :])
    """
    assert fired(code, "MLX066", header=HEADER) == [7]


def test_mlx066_copies_and_per_step_lists_are_clean() -> None:
    assert fired(TRAINER.format(kept="mx.contiguous(h[:, -1, :])"), "MLX066") == []
    code = """
    for x, y in batches:
        loss, grads = loss_and_grad(model, x, y)
        optimizer.update(model, grads)
        h = mx.tanh(model(x))
        rows = []
        rows.append(h[:, 0, :])
    """
    assert fired(code, "MLX066", header=HEADER) == []


HEADER = """\
import mlx.core as mx
import mlx.nn as nn
loss_and_grad = nn.value_and_grad(model, loss_fn)
"""
