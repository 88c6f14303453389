"""Stop 57's lint changes, on small programs with the spellings beside them that must stay
silent: MLX177, an argument whose only reads are its shape before its name is bound again from
something else, so its values never reach the result (failure corpus fresh109
`attn_pool_probe_ignored`, mlx-embeddings PR 45: the pooling probe passed as `queries` got
no gradient and never trained); MLX023 stands down on a step compiled again with `inputs=` /
`outputs=` (fresh114 `piano_partials_allsum_warmup`, a correct loop).

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
