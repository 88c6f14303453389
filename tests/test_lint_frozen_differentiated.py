"""MLX110 (rules/frozen_differentiated.py): `mx.value_and_grad` over a module the program
freezes or quantizes, with its near misses (`nn.value_and_grad`, the trainable parameters
handed over, another module frozen, a module never frozen)."""

from __future__ import annotations

from lint_snippets import fired

QLORA = """
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

class Policy(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(64, 64)
    def __call__(self, x):
        return self.l1(x)

policy = Policy()
nn.quantize(policy, group_size=32, bits=4)
policy.freeze()
optimizer = optim.Adam(learning_rate=1e-3)

def loss_fn(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")

for x, y in []:
    loss, grads = mx.value_and_grad(loss_fn)(policy, x, y)
    optimizer.update(policy, grads)
    mx.eval(policy.parameters(), optimizer.state)
"""

TRAINER = """
import mlx.core as mx
import mlx.nn as nn

class Trainer:
    def __init__(self, model):
        self.model = model
        self.model.backbone.freeze()
        self.grad_fn = mx.value_and_grad(self.loss)

    def loss(self, model, x):
        return model(x).sum()

    def step(self, x):
        return self.grad_fn(self.model, x)
"""


def test_a_quantized_frozen_module_differentiated_by_mx_value_and_grad_is_found():
    assert fired(QLORA, "MLX110") == [22]


def test_a_part_frozen_on_self_and_a_gradient_function_bound_on_self_are_found():
    assert fired(TRAINER, "MLX110") == [15]


def test_the_fixes_and_the_near_misses_are_quiet():
    fixed = QLORA.replace("mx.value_and_grad(loss_fn)(policy, x, y)",
                          "nn.value_and_grad(policy, loss_fn)(policy, x, y)")
    assert fired(fixed, "MLX110") == []
    trainable = QLORA.replace("mx.value_and_grad(loss_fn)(policy, x, y)",
                              "mx.value_and_grad(loss_fn)(policy.trainable_parameters(), x, y)")
    assert fired(trainable, "MLX110") == []
    never_frozen = QLORA.replace("nn.quantize(policy, group_size=32, bits=4)\n", "") \
        .replace("policy.freeze()\n", "")
    assert fired(never_frozen, "MLX110") == []
    other = QLORA.replace("policy.freeze()", "teacher.freeze()") \
        .replace("nn.quantize(policy", "nn.quantize(teacher")
    assert fired(other, "MLX110") == []
    not_differentiated = QLORA.replace("mx.value_and_grad(loss_fn)(policy, x, y)",
                                       "mx.value_and_grad(loss_fn, argnums=1)(policy, x, y)")
    assert fired(not_differentiated, "MLX110") == []
