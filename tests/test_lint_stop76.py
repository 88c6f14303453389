"""Stop 76's lint rule MLX255 (module state under a `_` name, updated from itself and never
evaluated), on the spelling its corpus case had and on the correct shapes it must leave alone.

Cost: < 0.5 s (no MLX).
"""

from __future__ import annotations

from lint_snippets import fired

NORM = """
class Norm(nn.Module):
    def __init__(self, d):
        super().__init__()
        self.weight = mx.ones((d,))
        self._running_mean = mx.zeros((d,))

    def __call__(self, x):
        if self.training:
            mean = x.mean(axis=0)
            self._running_mean = 0.9 * self._running_mean + 0.1 * mean
            EVALUATED
        else:
            mean = self._running_mean
        return self.weight * (x - mean)


model = nn.Sequential(nn.Linear(4, 4), Norm(4))
optimizer = optim.Adam(learning_rate=1e-3)
loss_and_grad = nn.value_and_grad(model, lambda m, x: m(x).sum())
for x in batches():
    loss, grads = loss_and_grad(model, x)
    optimizer.update(model, grads)
    mx.eval(model.parameters(), optimizer.state, loss)
    VALIDATION
"""


def _norm(evaluated: str = "pass", validation: str = "pass") -> str:
    return NORM.replace("EVALUATED", evaluated).replace("VALIDATION", validation)


def test_private_running_state_never_evaluated_is_found_at_its_update() -> None:
    # fresh26 bn_hidden_stats_lazy_graph (softgrad d2dfaec): RSS 49.7 -> 95.8 MB in 1,280 steps
    assert fired(_norm(), "MLX255") == [11]


def test_private_running_state_evaluated_after_its_update_is_left_alone() -> None:
    assert fired(_norm("mx.eval(self._running_mean)"), "MLX255") == []


def test_a_loop_that_switches_to_evaluation_mode_computes_the_chain_each_pass() -> None:
    # fresh212 rennet_curd_runstats_ckpt: accuracy() in eval mode each epoch reads the state
    assert fired(_norm(validation="model.eval(); model(x); model.train()"), "MLX255") == []


def test_public_running_state_is_not_this_rule() -> None:
    assert fired(_norm().replace("_running_mean", "running_mean"), "MLX255") == []


SPECTRAL = """
class SNLinear(nn.Module):
    def __init__(self, d):
        super().__init__()
        self.weight = mx.random.normal((d, d))
        self._u = mx.random.normal((d,))

    def __call__(self, x):
        self._u = self.weight @ self._u / mx.linalg.norm(self.weight @ self._u)
        sigma = self._u @ self.weight @ self._u
        return x @ (self.weight / sigma).T
"""


def test_a_private_vector_read_by_the_output_after_its_update_is_left_alone() -> None:
    # the output depends on it: it is computed whenever the loss is
    assert fired(SPECTRAL, "MLX255") == []
