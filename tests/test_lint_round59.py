"""From fresh58's and fresh61's halves: MLX170 (a share of a collection's size divided first,
`len(rows) // 10 * 8`) and MLX171 (an MLX array sliced with an MLX array as a bound, the
array followed through the callers that hand it over), with the spellings right beside them
that must stay silent.

Cost: < 0.5 s (no MLX).
"""

from __future__ import annotations

import pytest
from lint_snippets import fired


@pytest.mark.parametrize("expression, fires", [
    ("len(rows) // 10 * 8", True),
    ("3 * (len(rows) // 4)", True),
    ("len(rows) * 8 // 10", False),  # multiplied first
    ("len(rows) // batch * batch", False),  # a multiple of the batch
    ("len(rows) // 8 * 8", False),
    ("(n // 100) * 13", False),  # not a collection's size
])
def test_mlx170_a_share_divided_first(expression: str, fires: bool):
    code = f"""
def split(rows, batch, n):
    cut = {expression}
    return rows[:cut], rows[cut:]
"""
    assert bool(fired(code, "MLX170")) == fires


CROP = """
def crop(series, offsets):
    out = []
    for b in range(len(offsets)):
        s = offsets[b]{cast}
        out.append(series[s : s + 8])
    return mx.stack(out)

def loss_fn(model, series, offsets):
    return nn.losses.mse_loss(model(crop(series, offsets)), 0.0)

def main(model):
    series = mx.arange(100.0)
    step = nn.value_and_grad(model, loss_fn)
    offsets = {offsets}
    return step(model, series, offsets), loss_fn(model, series, [0, 7, 14])
"""


@pytest.mark.parametrize("cast, offsets, lines", [
    ("", "mx.random.randint(0, 90, (4,))", [6]),  # through value_and_grad and a helper
    (".item()", "mx.random.randint(0, 90, (4,))", []),  # a Python int
    ("", "[3, 9, 27, 81]", []),  # a list: its elements slice fine
])
def test_mlx171_an_array_as_a_slice_bound(cast: str, offsets: str, lines: list[int]):
    code = CROP.format(cast=cast, offsets=offsets)
    assert fired(code, "MLX171") == lines


def test_mlx171_a_distributed_rank_is_no_array():
    """fresh55 dp_allreduce_group_as_count: `x[rank:n:size]` with `rank, size =
    world.rank(), world.size()` of `mx.distributed.init()`, which returns a Group."""
    code = """
world = mx.distributed.init()
rank, size = world.rank(), world.size()
x = mx.arange(100.0)
shard = x[rank:64:size]
"""
    assert fired(code, "MLX171") == []


LOSS = """
def loss_fn(model, x, y):
    p = mx.sigmoid(model(x))
    t = p * y
    t = {detach}
    return ({left} * mx.log(p + 1e-8)).sum()

def train(model, x, y):
    step = nn.value_and_grad(model, loss_fn)
    return step(model, x, y)
"""


@pytest.mark.parametrize("detach, left, lines", [
    ("np.asarray(t)", "(t - p)", [6]),  # fresh65 stable_focal_numpy_detach
    ("np.asarray(t)", "-t", [6]),
    ("mx.stop_gradient(t)", "(t - p)", []),  # detached in MLX
    ("np.asarray(t)", "(p - t)", []),  # the MLX array on the left: an MLX result
])
def test_mlx172_numpy_on_the_left_inside_a_differentiated_function(detach: str, left: str,
                                                                   lines: list[int]):
    assert fired(LOSS.format(detach=detach, left=left), "MLX172") == lines


def test_mlx172_numpy_arithmetic_outside_a_gradient_is_silent():
    code = """
def report(p):
    t = np.asarray(p)
    return (t - p).sum()
"""
    assert fired(code, "MLX172") == []


VALIDATED = """
def evaluate(model, x):
    model.eval()
    return model(x).mean()

def train(model, opt, x, y, loss_and_grad):
    model.train()
    for step in range(100):
        loss, grads = loss_and_grad(model, x, y)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state)
        if step % 10 == 0:
            evaluate(model, x){after}
"""


@pytest.mark.parametrize("after, lines", [
    ("", [3]),  # fresh67 dropout_off_after_val: train() once, before the first validation
    ("\n            model.train()", []),  # the fix
])
def test_mlx124_a_validation_in_the_loop_with_no_train_after_it(after: str, lines: list[int]):
    assert fired(VALIDATED.format(after=after), "MLX124") == lines
