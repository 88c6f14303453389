"""MLX144 (a model with dropout evaluated in training mode) and MLX145 (the keys of a nested
parameter tree tested as dotted paths) and MLX146 (a bare weight glob where the program saves
two kinds of weight file), from fresh42's held-out half: on small programs,
with the spellings that are right beside them."""

from __future__ import annotations

import pytest
from lint_snippets import fired

PROGRAM = """
class Net(nn.Module):
    def __init__(self, p{default}):
        super().__init__()
        self.fc = nn.Linear(8, 4)
        self.drop = nn.Dropout({rate})
    def __call__(self, x):
        return self.fc(self.drop(x))
model = Net()
opt = optim.Adam(1e-3)
vg = nn.value_and_grad(model, lambda m, x, y: nn.losses.cross_entropy(m(x), y).mean())
def test_epoch(model, x, y):
{evaluation}
for step in range(100):
    loss, grads = vg(model, mx.ones((4, 8)), mx.zeros((4,), dtype=mx.int32))
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state)
print(test_epoch(model, mx.ones((4, 8)), mx.zeros((4,), dtype=mx.int32)))
"""
PLAIN = "    return (mx.argmax(model(x), axis=1) == y).mean().item()"
SAMPLED = ("    preds = mx.stack([model(x) for _ in range(8)])  # Monte Carlo dropout\n"
           "    return (mx.argmax(preds.mean(0), axis=1) == y).mean().item()")
SWITCHED = "    model.eval()\n" + PLAIN


@pytest.mark.parametrize("default, rate, evaluation, lines", [
    ("=0.5", "0.25", PLAIN, [12]),  # a literal rate, no .eval() anywhere
    ("=0.1", "p", PLAIN, [12]),  # a parameter whose default is above 0
    ("=0.1", "p=p", PLAIN, [12]),
    ("=0.0", "p", PLAIN, []),  # dropout off by default: nothing is dropped
    ("=0.5", "0.0", PLAIN, []),
    ("=0.5", "0.25", SWITCHED, []),  # the mode switched
    ("=0.5", "0.25", SAMPLED, []),  # sampled on purpose and averaged
])
def test_mlx144_dropout_at_evaluation(default: str, rate: str, evaluation: str,
                                      lines: list[int]):
    code = PROGRAM.format(default=default, rate=rate, evaluation=evaluation)
    assert fired(code, "MLX144") == lines


def test_mlx144_needs_an_evaluation_function_and_leaves_mx_eval_alone():
    code = PROGRAM.format(default="=0.5", rate="0.25", evaluation=PLAIN)
    assert fired(code.replace("test_epoch", "run_batches"), "MLX144") == []
    assert fired(code + "mx.eval()\n", "MLX144") == [12]  # mx.eval() switches no mode
    assert fired(code + "model.train(False)\n", "MLX144") == []


TARGETS = """
model = nn.Sequential(nn.Linear(4, 4), nn.Linear(4, 2))
def targets(model):
    keys = []
    for {loop}:
        if {test}:
            keys.append(name)
    return keys
found = targets(model)
opt = optim.SGD(1e-2)
vg = nn.value_and_grad(model, lambda m, x: m(x).sum())
for step in range(10):
    loss, grads = vg(model, mx.ones((2, 4)))
    opt.update(model, grads)
"""


@pytest.mark.parametrize("loop, test, lines", [
    ("name, _ in model.parameters().items()", 'name.endswith(".weight")', [5]),
    ("name in model.trainable_parameters().keys()", '"." in name', [5]),
    ("name, _ in model.parameters().items()", 'name.split(".")[-1] == "weight"', [5]),
    ("name, _ in tree_flatten(model.parameters())", 'name.endswith(".weight")', []),
    ("name, _ in model.parameters().items()", 'name == "layers"', []),  # a top-level key
])
def test_mlx145_dotted_keys_of_a_nested_tree(loop: str, test: str, lines: list[int]):
    assert fired(TARGETS.format(loop=loop, test=test), "MLX145") == lines


def test_mlx145_reads_comprehensions_too():
    code = TARGETS.format(loop="name in []", test="name") + (
        "decay = [k for k, v in model.parameters().items() if k.endswith('.bias')]\n")
    assert fired(code, "MLX145") == [15]


RELOAD = """
import glob, os
model = nn.Linear(4, 4)
opt = optim.SGD(1e-2)
vg = nn.value_and_grad(model, lambda m, x: m(x).sum())
for step in range(10):
    loss, grads = vg(model, mx.ones((2, 4)))
    opt.update(model, grads)
model.save_weights(os.path.join("ckpt", "model.safetensors"))
{second}
def load_base(folder):
    weights = {{}}
    for f in glob.glob(os.path.join(folder, "{pattern}")):
        weights.update(mx.load(f))
    model.load_weights(list(weights.items()))
"""


@pytest.mark.parametrize("second, pattern, lines", [
    ('mx.save_safetensors(os.path.join("ckpt", "adapters.safetensors"), {})',
     "*.safetensors", [13]),
    ('mx.save_safetensors(os.path.join("ckpt", "adapters.safetensors"), {})',
     "model*.safetensors", []),  # the fix: the base weights only
    ("print('one kind of file saved')", "*.safetensors", []),  # shards of a download
])
def test_mlx146_bare_weight_glob(second: str, pattern: str, lines: list[int]):
    assert fired(RELOAD.format(second=second, pattern=pattern), "MLX146") == lines
