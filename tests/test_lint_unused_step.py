"""MLX109 (rules/unused_step.py): an optimizer or a gradient function built and never used,
with its near misses (read once, handed on, a library's class, a module-level name)."""

from __future__ import annotations

from lint_snippets import fired

TRAINER = """
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

class Trainer:
    def __init__(self, model):
        self.model = model
        self.optimizer = optim.AdamW(learning_rate=1e-3)
        self.loss_and_grad = nn.value_and_grad(model, self.loss)

    def loss(self, model, x, y):
        return nn.losses.cross_entropy(model(x), y, reduction="mean")

    def step(self, x, y):
        loss = self.loss(self.model, x, y)  # forward only, for now
        mx.eval(loss)
        return loss.item()

trainer = Trainer(nn.Linear(4, 2))
"""

LOCAL = """
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

def train(model, batches):
    opt = optim.SGD(learning_rate=0.1)
    for x, y in batches:
        loss = nn.losses.mse_loss(model(x), y)
        mx.eval(loss)
"""


def test_mlx109_a_trainers_optimizer_and_gradient_function_never_used():
    assert fired(TRAINER, "MLX109") == [9, 10]


def test_mlx109_a_local_optimizer_never_read():
    assert fired(LOCAL, "MLX109") == [7]


def test_mlx109_near_misses_read_handed_on_a_library_class_and_module_level():
    forward = "        loss = self.loss(self.model, x, y)  # forward only, for now\n"
    stepped = TRAINER.replace(forward, "        loss, g = self.loss_and_grad(self.model, x, y)\n"
                                       "        self.optimizer.update(self.model, g)\n")
    assert fired(stepped, "MLX109") == []
    assert fired(TRAINER.replace("trainer = Trainer(nn.Linear(4, 2))\n", ""), "MLX109") == []
    handed = LOCAL.replace("        mx.eval(loss)\n", "        step(model, opt, x, y)\n")
    assert fired(handed, "MLX109") == []
    module_level = "import mlx.optimizers as optim\noptimizer = optim.Adam(learning_rate=1e-3)\n"
    assert fired(module_level, "MLX109") == []
    dynamic = TRAINER.replace("trainer = Trainer", "o = getattr(Trainer, 'optimizer')\nt = Trainer")
    assert fired(dynamic, "MLX109") == []
