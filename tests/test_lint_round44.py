"""From fresh43's held-out half: MLX147 (a method MLX's optimizers do not have, called on
one) with its table checked against the installed mlx, and MLX008 left quiet on the losses
of a few micro-batches kept for one update."""

from __future__ import annotations

import subprocess
import sys

import pytest
from lint_snippets import fired

from mlxprobe.lint.mlx_api import OPTIMIZER_ATTRIBUTES, OPTIMIZER_METHODS, VERSION

STEP = """
model = nn.Linear(4, 4)
optimizer = optim.AdamW(learning_rate=1e-2)
vg = nn.value_and_grad(model, lambda m, x: m(x).sum())
for step in range(10):
    loss, grads = vg(model, mx.ones((2, 4)))
    {call}
    optimizer.update(model, grads)
    mx.eval(model.parameters(), optimizer.state)
"""


@pytest.mark.parametrize("call, lines", [
    ("optimizer.set_learning_rate(1e-3)", [7]),
    ("optimizer.zero_grad()", [7]),  # PyTorch's habit
    ("optimizer.step()", [7]),  # a property holding an array: TypeError
    ("optimizer.learning_rate = 1e-3", []),  # the settable attribute
    ("optimizer.init(model.trainable_parameters())", []),
])
def test_mlx147_a_method_mlx_optimizers_do_not_have(call: str, lines: list[int]):
    assert fired(STEP.format(call=call), "MLX147") == lines


def test_mlx147_leaves_other_objects_and_own_subclasses_alone():
    code = STEP.format(call="pass") + "sched = Scheduler()\nsched.step()\n"
    assert fired(code, "MLX147") == []
    own = ("class Mine(optim.Optimizer):\n    def set_learning_rate(self, lr):\n"
           "        self.learning_rate = lr\n")
    assert fired(own + STEP.format(call="optimizer.set_learning_rate(1e-3)"), "MLX147") == []


def test_the_optimizer_table_matches_the_installed_mlx():
    probe = ("import inspect, json, mlx.core as mx, mlx.optimizers as o; print(mx.__version__);"
             " classes = [c for c in vars(o).values() if inspect.isclass(c) and "
             "issubclass(c, o.Optimizer)]; print(json.dumps(sorted({a for c in classes for a "
             "in dir(c) if not a.startswith('__')})))")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    if done.returncode or done.stdout.split()[0] != VERSION:
        pytest.skip(f"mlx {VERSION} is not installed here")
    import json
    assert set(json.loads(done.stdout.split("\n", 1)[1])) == OPTIMIZER_ATTRIBUTES
    assert OPTIMIZER_METHODS < OPTIMIZER_ATTRIBUTES


ACCUMULATED = """
model = nn.Linear(4, 4)
optimizer = optim.SGD(1e-2)
def loss_fn(m, x):
    return m(x).sum()
grad_fn = nn.value_and_grad(model, loss_fn)
accum_steps = {count}
step = 0
while step < 100:
    acc, losses = None, []
    for _ in range(accum_steps):
        loss, g = grad_fn(model, mx.ones((2, 4)))
        acc = g if acc is None else tree_map(mx.add, acc, g)
        losses.append(loss)
    optimizer.update(model, acc)
    mx.eval(model.parameters(), optimizer.state)
    step += 1
    if step % 10 == 0:
        print(float(np.mean([l.item() for l in losses])))
"""


@pytest.mark.parametrize("count, lines", [(4, []), (4096, [14])])
def test_mlx008_a_few_micro_batches_losses_kept_for_one_update_are_not_a_leak(count, lines):
    assert fired(ACCUMULATED.format(count=count), "MLX008") == lines


RESUME = """
import argparse
model = nn.Linear(4, 4)
opt = optim.SGD(1e-2)
vg = nn.value_and_grad(model, lambda m, x: m(x).sum())
def train(args):
    if args.resume_adapter_file is not None:
        print(f"resuming from {{{name}}}")
    for step in range(10):
        loss, grads = vg(model, mx.ones((2, 4)))
        opt.update(model, grads)
train(argparse.Namespace(resume_adapter_file=None))
"""


@pytest.mark.parametrize("name, lines", [("resume_adapter_file", [8]),
                                         ("args.resume_adapter_file", [])])
def test_mlx047_an_unbound_name_on_a_path_a_function_takes_only_sometimes(name, lines):
    assert fired(RESUME.format(name=name), "MLX047") == lines
