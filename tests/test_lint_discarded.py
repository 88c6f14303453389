"""MLX102 (rules/discarded.py) on small programs: an MLX op, a clip of the gradients, a loss or
a new-array method on an array called as a statement fire; the same calls kept, the stateful
mlx.core calls (eval, saving, seeding, memory), a name mlx lacks and a method on a non-array
stay silent.

Cost: < 0.5 s (no MLX).
"""

from __future__ import annotations

import pytest
from lint_snippets import fired

CODE = """
model = nn.Linear(4, 2)
optimizer = optim.SGD(learning_rate=0.1)
loss_and_grad = nn.value_and_grad(model, lambda m, x, y: ((m(x) - y) ** 2).mean())

def step(x, y):
    loss, grads = loss_and_grad(model, x, y)
    w = model.weight
    {line}
    optimizer.update(model, grads)
    mx.eval(model.parameters(), optimizer.state)
    return loss
"""


@pytest.mark.parametrize("line", [
    "mx.clip(w, -1.0, 1.0)",
    "optim.clip_grad_norm(grads, max_norm=1.0)",
    "loss.astype(mx.float16)",
    "mx.stop_gradient(w)",
    "nn.losses.mse_loss(model(x), y)",
    "mx.random.normal((4,))",
    "optimizer.apply_gradients(grads, model.parameters())",
])
def test_mlx102_result_thrown_away(line: str) -> None:
    assert fired(CODE.replace("{line}", line), "MLX102") == [9]


@pytest.mark.parametrize("line", [
    "w = mx.clip(w, -1.0, 1.0)",
    "grads, _ = optim.clip_grad_norm(grads, max_norm=1.0)",
    "mx.eval(loss)",
    "mx.async_eval(loss)",
    "mx.random.seed(0)",
    "mx.clear_cache()",
    "mx.save_safetensors('w.safetensors', dict(tree_flatten(model.parameters())))",
    "mx.set_default_device(mx.cpu)",
    "mx.simplify(loss)",
    "np.clip(np.zeros(3), 0, 1)",
    "print(mx.sum(w))",
    "x.__class__.sum([1, 2])",
    "model.update(optimizer.apply_gradients(grads, model.parameters()))",
    "new = optimizer.apply_gradients(grads, model.parameters())",
    "trainer.apply_gradients(grads)",
])
def test_mlx102_kept_or_stateful_calls_are_left_alone(line: str) -> None:
    assert fired(CODE.replace("{line}", line), "MLX102") == []


def test_mlx102_method_on_a_plain_python_object_is_left_alone() -> None:
    code = """
    import json
    def report(rows):
        table = json.loads(rows)
        table.sum()
        return table
    """
    assert fired(code, "MLX102") == []
