"""MLX108 (rules/update_target.py) on small programs: an optimizer updating a dict of a
model's parts (a display, or a name bound to one) fires; the model itself, a dict of arrays
(functional parameters) and a dict update that is not an optimizer's stay silent.

Cost: < 0.5 s (no MLX).
"""

from __future__ import annotations

import pytest
from lint_snippets import fired

CODE = """
class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = nn.Linear(4, 4)
        self.b = nn.Linear(4, 2)

model = Net()
opt = optim.Adam(learning_rate=1e-3)
grad_fn = nn.value_and_grad(model, lambda m, x: m.b(m.a(x)).sum())
for step in range(10):
    loss, grads = grad_fn(model, mx.ones((2, 4)))
    {update}
"""


@pytest.mark.parametrize("update", [
    'opt.update({"a": model.a, "b": model.b}, grads)',
    'group = {"a": model.a}\n    opt.update(group, {"a": grads["a"]})',
])
def test_mlx108_optimizer_updates_a_dict_of_parts(update: str) -> None:
    assert len(fired(CODE.replace("{update}", update), "MLX108")) == 1


@pytest.mark.parametrize("update", [
    'opt.update(model, {"a": grads["a"]})',
    'params = {"w": mx.zeros(3)}\n    opt.update(params, grads)',
    'cache = {"a": model.a}\n    cache.update({"a": model.b})',
])
def test_mlx108_model_or_arrays_stay_silent(update: str) -> None:
    assert fired(CODE.replace("{update}", update), "MLX108") == []
