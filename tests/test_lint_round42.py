"""MLX141 (a keyword an mlx.core function does not take), MLX142 (a seed tested for its
truth) and MLX143 (an array attribute reset to a number, then written by index), from
fresh41's held-out half: each on small programs, its clean spellings beside it, and the
keyword table against the installed mlx."""

from __future__ import annotations

import re

import mlx.core as mx
import pytest
from lint_snippets import fired

from mlxprobe.lint.mlx_keywords import KEYWORDS, VERSION

LOOP = """
model = nn.Linear(4, 4)
opt = optim.SGD(1e-2)
vg = nn.value_and_grad(model, lambda m, x: m(x).sum())
def forward(x, cond):
    return mx.concatenate((cond, x), {keyword}=-1)
for step in range(10):
    loss, grads = vg(model, forward(mx.ones((2, 2)), mx.ones((2, 2))))
    opt.update(model, grads)
"""


@pytest.mark.parametrize("keyword, lines", [("dim", [6]), ("axis", [])])
def test_mlx141_a_keyword_the_function_does_not_take(keyword: str, lines: list[int]):
    assert fired(LOOP.format(keyword=keyword), "MLX141") == lines


def test_mlx141_reads_submodules_and_leaves_methods_and_kwargs_alone():
    code = LOOP.format(keyword="axis") + (
        "noise = mx.random.normal(size=(3,))\n"  # NumPy's spelling
        "top = mx.sum(loss, keepdim=True)\n"  # PyTorch's spelling
        "ok = loss.sum(keepdims=True)\n"  # a method: its signature is not the table's
        "kw = {'axis': 0}\nalso = mx.sum(loss, **kw)\n")
    assert fired(code, "MLX141") == [10, 11]


def test_the_keyword_table_matches_the_installed_mlx():
    if mx.__version__ != VERSION:
        pytest.skip(f"the table is of mlx {VERSION}; this is {mx.__version__}: regenerate it")
    for name, taken in KEYWORDS.items():
        module, _, function = name.rpartition(".")
        target = mx
        for part in module.split(".")[2:]:
            target = getattr(target, part)
        signatures = getattr(target, function).__nb_signature__
        found = {p for sig in signatures for p in re.findall(r"(\w+)\s*(?::|=|,|\))",
                                                             sig[0].split("(", 1)[1])}
        assert taken <= found, name


def test_the_optimizer_keyword_table_matches_the_installed_mlx():
    import inspect

    import mlx.optimizers as optim

    from mlxprobe.lint.mlx_keywords import OPTIMIZERS

    if mx.__version__ != VERSION:
        pytest.skip(f"the table is of mlx {VERSION}; this is {mx.__version__}: regenerate it")
    for name, taken in OPTIMIZERS.items():
        found = set(inspect.signature(getattr(optim, name.rsplit(".", 1)[1])).parameters)
        assert taken == found - {"self"}, name


SEEDED = """
def iterate_batches(data, seed=None):
    if {test}:
        np.random.seed(seed)
    return np.random.permutation(len(data))
"""


@pytest.mark.parametrize("test, lines", [("seed", [3]), ("not seed", []),
                                          ("seed is not None", [])])
def test_mlx142_a_seed_tested_for_its_truth(test: str, lines: list[int]):
    # `not seed` seeds nothing in its body, `is not None` takes 0 as a seed
    assert fired(SEEDED.format(test=test), "MLX142") == lines


def test_mlx142_reads_an_attribute_seed_and_needs_the_same_seed_seeded():
    attr = SEEDED.replace("if {test}:", "if args.data_seed:").replace(
        "np.random.seed(seed)", "mx.random.seed(args.data_seed)")
    other = SEEDED.format(test="seed").replace("np.random.seed(seed)", "np.random.seed(42)")
    assert fired(attr, "MLX142") == [3] and fired(other, "MLX142") == []


GRADS = """
class Param:
    def __init__(self, value):
        self.value = value
        self.grad = mx.zeros_like(value)
    def zero_grad(self):
        self.grad = {reset}

class Embedding:
    def __init__(self, n, d):
        self.table = Param(mx.zeros((n, d)))
    def backward(self, rows, d):
        for i, row in enumerate(rows):
            self.table.grad[row] += d[i]
"""


@pytest.mark.parametrize("reset, lines", [("0", [7]), ("mx.zeros_like(self.grad)", [])])
def test_mlx143_an_array_reset_to_a_number_then_written_by_index(reset: str, lines: list[int]):
    assert fired(GRADS.format(reset=reset), "MLX143") == lines


def test_mlx143_a_number_attribute_never_an_array_or_never_indexed_is_clean():
    counter = GRADS.format(reset="0").replace("self.grad = mx.zeros_like(value)",
                                              "self.grad = 0.0")
    whole = GRADS.format(reset="0").replace("self.table.grad[row] += d[i]",
                                            "self.table.grad = self.table.grad + d[i]")
    assert fired(counter, "MLX143") == [] and fired(whole, "MLX143") == []
