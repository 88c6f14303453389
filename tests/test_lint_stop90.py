"""Stop 90's lint changes, each on the shape of the corpus script that showed it:
- MLX014 leaves alone a loop that puts a tree into the model drawn afresh at each pass from
  values the loop does not carry (fresh345 `skep_swarm_ivon`, correct: posterior samples of
  an IVON fit, `model.update(theta)` 24 times before one evaluation), and still finds a loop
  whose tree reads what it rebinds or the gradients.

Cost: < 1 s (no MLX, no process).
"""

from __future__ import annotations

from lint_snippets import fired

SAMPLES = """
import mlx.core as mx
import mlx.nn as nn
from mlx.utils import tree_map

model = nn.Linear(4, 1)
mean = model.parameters()
hess = tree_map(mx.ones_like, mean)
loss_and_grad = nn.value_and_grad(model, lambda m, x, y: ((m(x) - y) ** 2).mean())


def train(batches):
    for x, y in batches:
        loss, grads = loss_and_grad(model, x, y)
        mx.eval(loss, grads)


def predictive(x, samples=24):
    sigma = tree_map(lambda h: 1.0 / mx.sqrt(100.0 * h), hess)
    probs = []
    for _ in range(samples):
        theta = tree_map(lambda m, s: m + s * mx.random.normal(m.shape), mean, sigma)
        model.update(theta)
        probs.append(mx.sigmoid(model(x)))
    p = mx.stack(probs).mean(0)
    mx.eval(p)
    return p
"""


def test_a_tree_drawn_afresh_at_each_pass_is_no_growing_graph() -> None:
    assert fired(SAMPLES, "MLX014") == []


def test_a_tree_built_from_what_the_loop_rebinds_is_still_found() -> None:
    walk = SAMPLES.replace("    probs = []\n", "    probs = []\n    theta = mean\n").replace(
        "mx.random.normal(m.shape), mean, sigma)", "mx.random.normal(m.shape), theta, sigma)")
    assert fired(walk, "MLX014") == [24]  # a random walk: each tree builds on the last


def test_a_tree_built_from_the_models_own_parameters_is_still_found() -> None:
    own = SAMPLES.replace("mean, sigma)", "model.parameters(), sigma)")
    assert fired(own, "MLX014") == [23]
