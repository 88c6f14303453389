"""Stop 62's lint changes, on small programs with the spellings beside them that must stay
silent. MLX047: a name nothing binds, read after the training loop of its own function (a
closing summary; failure corpus fresh157 `pretrain_summary_metrics`, mlx-cuda-distributed-
pretraining 19a02e5: `{metrics}` in the final log lines, NameError after the last
checkpoint).

Cost: < 0.5 s (no MLX).
"""

from __future__ import annotations

import pytest
from lint_snippets import fired

SUMMARY = """
class Trainer:
    def train(self):
        step_fn = nn.value_and_grad(self.model, loss_fn)
        logged = {{}}
        for step in range(self.steps):
            loss, grads = step_fn(self.model, *self.batch(step))
            self.optimizer.update(self.model, grads)
            mx.eval(self.model.parameters(), self.optimizer.state)
            logged = {{"loss": loss.item()}}
        {closing}
"""


@pytest.mark.parametrize("closing, line", [
    ('print(f"final metrics: {metrics}")', 11),
    ("self.log.write(str(metrics))", 11),
    ("with open(self.path, 'a') as f:\n            f.write(f'{metrics}')", 12),
])
def test_a_name_nothing_binds_read_after_the_loop_fires(closing: str, line: int) -> None:
    assert fired(SUMMARY.format(closing=closing), "MLX047") == [line]


@pytest.mark.parametrize("closing", [
    'print(f"final metrics: {logged}")',  # bound in the function
    'print(f"final metrics: {len(logged)}")',  # a builtin
    "metrics = dict(logged)\n        print(metrics)",  # bound, then read
])
def test_a_bound_name_after_the_loop_stays_silent(closing: str) -> None:
    assert fired(SUMMARY.format(closing=closing), "MLX047") == []


def test_an_unbound_name_before_any_loop_is_left_to_pyflakes() -> None:
    """Read before the loop, it fails at once: not this rule's (late) failure."""
    text = SUMMARY.format(closing="pass").replace("logged = {}", "logged = dict(metrics)")
    assert fired(text, "MLX047") == []
