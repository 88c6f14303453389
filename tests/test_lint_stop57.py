"""Stop 57's lint changes, on small programs with the spellings beside them that must stay
silent: MLX177, an argument whose only reads are its shape before its name is bound again from
something else, so its values never reach the result (failure corpus fresh109
`attn_pool_probe_ignored`, mlx-embeddings PR 45: the pooling probe passed as `queries` got
no gradient and never trained); MLX023 stands down on a step compiled again with `inputs=` /
`outputs=` (fresh114 `piano_partials_allsum_warmup`, a correct loop); MLX178, a layer or
model built inside the differentiated loss (fresh115 `ropeway_sag_nll_bf16`, a loop that leaks);
MLX028 reads a gradient only audited once per fold as no step (fresh117
`lava_runout_kfold_gauss_nll`).

Cost: < 0.5 s (no MLX).
"""

from __future__ import annotations

import pytest
from lint_snippets import fired

PROGRAM = """
class Pool(nn.Module):
    def __init__(self, dims):
        super().__init__()
        self.probe = mx.random.normal((1, 1, dims))
        self.in_proj = nn.Linear(dims, 3 * dims)

    def attend(self, queries, keys):
        {body}
        scores = (queries @ keys.transpose(0, 2, 1)) / math.sqrt(D)
        return mx.softmax(scores, axis=-1) @ values

    def __call__(self, x):
        return self.attend(mx.broadcast_to(self.probe, (x.shape[0], 1, x.shape[2])), x)
"""

IGNORED = """B, L, D = queries.shape
        queries, keys, values = mx.split(self.in_proj(keys), 3, axis=-1)"""


def test_an_argument_read_only_for_its_shape_and_then_rebound_is_found() -> None:
    assert fired(PROGRAM.format(body=IGNORED), "MLX177") == [10]


@pytest.mark.parametrize("body", [
    # projected from itself: its values are read
    """B, L, D = queries.shape
        queries = queries @ self.in_proj.weight[:D].T
        keys, values = mx.split(keys @ self.in_proj.weight[D:].T, 2, axis=-1)""",
    # rebound only in a branch: the original may stay
    """B, L, D = queries.shape
        if L == 0:
            queries, keys, values = mx.split(self.in_proj(keys), 3, axis=-1)
        values = keys""",
    # rebound with no shape read before: nothing says it was meant to be read
    """D = keys.shape[-1]
        queries, keys, values = mx.split(self.in_proj(keys), 3, axis=-1)""",
])
def test_arguments_whose_values_are_read_or_never_looked_at_are_left_alone(body: str) -> None:
    assert fired(PROGRAM.format(body=body), "MLX177") == []


def test_a_helper_that_wants_only_a_shape_and_never_rebinds_is_left_alone() -> None:
    helper = """
def causal_mask(x):
    L = x.shape[1]
    return mx.triu(mx.full((L, L), -1e9), k=1)
"""
    assert fired(helper, "MLX177") == []


COMPILED_TWICE = """
state = [model.state, opt.state]

@mx.compile
def _step(x, y):
    loss, grads = vg(model, x, y)
    opt.update(model, grads)
    return loss

{wrap}
for x, y in batches:
    loss = step(x, y)
    mx.eval(loss)
"""


def test_a_step_compiled_again_with_its_state_declared_is_left_alone_by_mlx023() -> None:
    # fresh114 `piano_partials_allsum_warmup`: the outer compile's trace captures the state
    declared = "step = mx.compile(_step, inputs=state, outputs=state)"
    assert fired(COMPILED_TWICE.format(wrap=declared), "MLX023") == []
    assert fired(COMPILED_TWICE.format(wrap="step = _step"), "MLX023") == [4]


LOSS_WITH_COPY = """
class SagNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(5, 48)
        self.mu = nn.Linear(48, 1)

    def __call__(self, x):
        return self.mu(nn.silu(self.l1(x)))

{before}
def gaussian_nll(model, x, y):
    params16 = tree_map(lambda p: p.astype(mx.bfloat16), model.parameters())
    {copy}
    model16.update(params16)
    return ((model16(x.astype(mx.bfloat16)) - y) ** 2).mean()

model = SagNet()
loss_and_grad = nn.value_and_grad(model, gaussian_nll)
for step in range(1000):
    loss, grads = loss_and_grad(model, X, Y)
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state)
"""


def test_a_model_built_inside_the_differentiated_loss_is_found() -> None:
    # fresh115 `ropeway_sag_nll_bf16`: RSS +17.6 KB a step from the chained random key
    assert fired(LOSS_WITH_COPY.format(before="", copy="model16 = SagNet()"), "MLX178") == [14]
    layer = LOSS_WITH_COPY.format(before="", copy="model16 = nn.Linear(5, 1)")
    assert fired(layer, "MLX178") == [14]


@pytest.mark.parametrize("before, copy", [
    ("COPY = SagNet()", "model16 = COPY"),  # built once, outside the loss
    ("", "model16 = SagNet(); mx.eval(mx.random.state)"),  # the key evaluated
    ("", "model16 = nn.ReLU()"),  # a layer with no random weights
])
def test_a_copy_built_once_or_a_key_kept_evaluated_is_left_alone(before: str, copy: str) -> None:
    assert fired(LOSS_WITH_COPY.format(before=before, copy=copy), "MLX178") == []


FOLDS = """
def run_fold(fold, X, y):
    x_mu, x_sd = X.mean(0), X.std(0)
    xtr = mx.array((X - x_mu) / x_sd)
    if fold == 0:
        {audit}
    for epoch in range(30):
        loss, grads = loss_and_grad(model, xtr, y)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state)

for k in range(5):
    run_fold(k, X, y)
"""


def test_a_gradient_only_audited_once_per_fold_makes_no_step_of_the_fold_loop() -> None:
    # fresh117 `lava_runout_kfold_gauss_nll`: the fold's standardisation ran once per fold
    audit = "_, g0 = loss_and_grad(model, xtr[:64], y[:64]); print(len(tree_flatten(g0)))"
    assert fired(FOLDS.format(audit=audit), "MLX028") == []
    # a gradient applied by hand at the fold level is a step: the division runs per step
    step = "_, g0 = loss_and_grad(model, xtr, y); model.update(tree_map(sgd, params, g0))"
    assert fired(FOLDS.format(audit=step), "MLX028") == [4]
