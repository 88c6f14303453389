"""From fresh58's and fresh68's halves: MLX173 (an interval truncated from a share,
`every = int(0.05 * len(loader))` with no floor, then `step % every`), in a function, at a
script's top level and as a class attribute, with the spellings beside them that must stay
silent (a floor, a guard, a whole-number factor, a divisor that is not the interval).

Cost: < 0.5 s (no MLX).
"""

from __future__ import annotations

import pytest
from lint_snippets import fired


@pytest.mark.parametrize("binding, use, fires", [
    ("every = int(0.05 * len(loader))", "step % every == 0", True),
    ("every = int(len(loader) / 20)", "step // every", True),
    ("every = max(1, int(0.05 * len(loader)))", "step % every == 0", False),  # floored
    ("every = int(0.05 * len(loader))", "every and step % every == 0", False),  # guarded
    ("every = int(len(loader) * 2)", "step % every == 0", False),  # never 0
    ("every = int(0.05 * len(loader))", "every % step == 0", False),  # not the divisor
    ("every = int(0.05 * len(loader))", "step * every", False),  # not a division
])
def test_mlx173_in_a_function(binding: str, use: str, fires: bool):
    code = f"""
def train(model, loader, opt):
    {binding}
    for step, batch in enumerate(loader):
        loss = model(batch)
        if {use}:
            print(step, loss.item())
"""
    assert bool(fired(code, "MLX173")) == fires


def test_mlx173_at_a_script_top_level_and_rebound_with_a_floor():
    code = """
steps = 62
report = int(0.015 * steps)
for it in range(steps):
    loss = mx.array(1.0)
    if it % report == 0:
        print(loss.item())
"""
    assert fired(code, "MLX173")
    assert not fired(code.replace("for it", "report = max(report, 1)\nfor it"), "MLX173")


TRAINER = """
class Trainer:
    def __init__(self, loader, log_every):
        self.loader = loader
        self.log_every = {binding}

    def fit(self, model):
        for i, batch in enumerate(self.loader):
            loss = model(batch)
            if i % self.log_every == 0:
                print(i, loss.item())
"""


@pytest.mark.parametrize("binding, fires", [
    ("int(log_every * len(self.loader))", True),
    ("max(1, int(log_every * len(self.loader)))", False),
    ("log_every", False),
])
def test_mlx173_on_a_class_attribute(binding: str, fires: bool):
    assert bool(fired(TRAINER.format(binding=binding), "MLX173")) == fires
