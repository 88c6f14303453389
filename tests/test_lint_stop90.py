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


VAE = """
import mlx.core as mx
import mlx.nn as nn
from mlx.optimizers import AdamW


class VAE(nn.Module):
    def __init__(self, input_dim: int = 30, hidden_dim: int = 128):
        super().__init__()
        self.enc = nn.Linear(input_dim, hidden_dim)
        self.regressor = [nn.Linear(hidden_dim, 16), nn.ReLU(), nn.Linear(16, 1)]
        self.hidden_dim = hidden_dim

    def __call__(self, x):
        h = self.enc(x)
        for layer in self.regressor:
            h = layer(h)
        return h


model = VAE()
opt = AdamW(learning_rate=1e-3)
loss_and_grad_fn = mx.value_and_grad(lambda m, x: m(x).sum())
for x in batches:
    loss, grads = loss_and_grad_fn(model, x)
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state, loss)
"""


def test_a_module_of_layers_alone_given_to_mx_value_and_grad_is_quiet() -> None:
    # fresh347 `alloy_quench_latent_ok` (correct): MLX passes the module to the loss and
    # gives its gradients back as a dict of the same tree, which the optimizer takes
    assert fired(VAE, "MLX242") == []


def test_a_container_kept_on_the_module_or_a_freeze_is_still_found() -> None:
    widths = VAE.replace("self.hidden_dim = hidden_dim", "self.widths = [input_dim, 16]")
    assert fired(widths, "MLX242") == [25]
    listed = VAE.replace("self.hidden_dim = hidden_dim", "self.widths = list(sizes)")
    assert fired(listed, "MLX242") == [25]
    frozen = VAE.replace("opt = AdamW", "model.enc.freeze()\nopt = AdamW")
    assert fired(frozen, "MLX242") == [26]


SELFPLAY = """
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

GENS, STEPS = 8, 60


class PawnNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Linear(16, 16)

    def __call__(self, x):
        return self.body(x)


model = PawnNet()
opt = optim.Adam(learning_rate=1e-3)
vg = nn.value_and_grad(model, lambda m, x: (m(x) ** 2).mean())
gen = 0
while gen < GENS:
    prev = tree_unflatten([(k, mx.array(v)) for k, v in tree_flatten(model.parameters())])
    for i in range(STEPS):
        loss, grads = vg(model, mx.random.normal((8, 16)))
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
    old = PawnNet()
    old.update(prev)
    gen += 1
"""


def test_a_build_once_per_pass_of_a_while_loop_of_few_passes_is_quiet() -> None:
    # fresh348 `pawnfield_puct_selfplay` (correct): the previous generation's net rebuilt
    # once per generation, 8 of them
    assert fired(SELFPLAY, "MLX178") == []


def test_a_build_per_pass_of_a_long_or_unbounded_while_loop_is_still_found() -> None:
    assert fired(SELFPLAY.replace("GENS, STEPS = 8, 60", "GENS, STEPS = 5000, 60"),
                 "MLX178") == [29]
    assert fired(SELFPLAY.replace("while gen < GENS:", "while not done(gen):"),
                 "MLX178") == [29]
