"""Rules about what is applied to a whole module (MLX054-MLX056) on small programs: each
fires on its bug however it is spelled, and stays silent on the fixed form and near misses."""

from __future__ import annotations

import pytest
from lint_snippets import fired

# MLX054: one constant initialiser on every parameter ----------------------------------------

def test_mlx054_constant_applied_to_every_parameter() -> None:
    code = """
    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 1))
    model.apply(nn.init.constant(0.0))
    zero = nn.init.constant(0.5)
    model.apply(zero)
    """
    assert fired(code, "MLX054") == [3, 5]


def test_mlx054_filtered_or_random_initialisers_are_clean() -> None:
    code = """
    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 1))
    model.apply(nn.init.normal(std=0.02))
    model.apply(nn.init.constant(0.0), filter_fn=lambda m, k, v: k == "bias")
    model.apply(nn.init.constant(0.0), lambda m, k, v: k == "bias")
    """
    assert fired(code, "MLX054") == []


# MLX055: BatchNorm statistics outside the loop's evaluation ---------------------------------

BN_LOOP = """
class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.l = nn.Linear(4, 8)
        self.bn = nn.BatchNorm(8{extra})

for step in range(100):
    loss, grads = loss_and_grad(model, x, y)
    optimizer.update(model, grads)
    mx.eval({evaluated}, optimizer.state, loss)
"""


def test_mlx055_only_trainable_parameters_evaluated() -> None:
    code = BN_LOOP.format(extra="", evaluated="model.trainable_parameters()")
    assert fired(code, "MLX055") == [11]


@pytest.mark.parametrize("extra, evaluated", [
    ("", "model.parameters()"),
    ("", "model.trainable_parameters(), model.state"),
    (", track_running_stats=False", "model.trainable_parameters()"),
])
def test_mlx055_stats_evaluated_or_not_tracked_is_clean(extra: str, evaluated: str) -> None:
    code = BN_LOOP.format(extra=extra, evaluated=evaluated)
    assert fired(code, "MLX055") == []


# MLX056: mx.checkpoint over a module ---------------------------------------------------------

def test_mlx056_checkpoint_of_a_layer() -> None:
    code = """
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.blocks = [nn.Linear(8, 8) for _ in range(4)]
            self.head = nn.Linear(8, 1)

        def __call__(self, h):
            for blk in self.blocks:
                h = mx.checkpoint(blk)(h)
            return mx.checkpoint(self.head)(h)
    """
    assert fired(code, "MLX056") == [10, 11]


def test_mlx056_module_aware_or_explicit_parameter_checkpoints_are_clean() -> None:
    """nn.utils.checkpoint passes the parameters in; mlx-lm's own form checkpoints a function
    of the trainable parameters."""
    code = """
    from mlx.nn.utils import checkpoint

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.blocks = [nn.Linear(8, 8) for _ in range(4)]

        def __call__(self, h):
            for blk in self.blocks:
                h = checkpoint(blk)(h)
            return h

    def grad_checkpoint(layer):
        fn = type(layer).__call__
        def checkpointed_fn(model, *args):
            def inner_fn(params, *args):
                model.update(params)
                return fn(model, *args)
            return mx.checkpoint(inner_fn)(model.trainable_parameters(), *args)
        return checkpointed_fn
    """
    assert fired(code, "MLX056") == []
