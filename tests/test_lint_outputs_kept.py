"""MLX105 (rules/outputs_kept.py) on small programs: a training step that appends the model's
output (directly, or the auxiliary output of a value_and_grad) to a list that outlives the
step fires; the argmax appended, the loss appended, a list made inside the step and a step
with no optimizer update stay silent.

Cost: < 0.5 s (no MLX).
"""

from __future__ import annotations

import pytest
from lint_snippets import fired

CODE = """
class Trainer:
    def __init__(self, model):
        self.model = model
        self.opt = optim.Adam(learning_rate=1e-3)
        self.grad_fn = nn.value_and_grad(model, self.loss_fn)
        self.kept = []

    def loss_fn(self, model, x, y):
        logits = model(x)
        return nn.losses.cross_entropy(logits, y, reduction="mean"), logits

    def train_step(self, x, y):
        (loss, logits), grads = self.grad_fn(self.model, x, y)
        self.opt.update(self.model, grads)
        mx.eval(self.model.parameters(), self.opt.state, loss, logits)
        {keep}
        return loss.item()

model = nn.Linear(4, 3)
trainer = Trainer(model)
"""


@pytest.mark.parametrize("keep", ["self.kept.append(logits)",
                                  "out = model(x)\n        self.kept.append(out)"])
def test_mlx105_model_output_kept_across_steps(keep: str) -> None:
    assert len(fired(CODE.replace("{keep}", keep), "MLX105")) == 1


@pytest.mark.parametrize("keep", [
    "self.kept.append(mx.argmax(logits, axis=-1))",
    "self.kept.append(loss)",
    "kept = []\n        kept.append(logits)",
])
def test_mlx105_reduced_or_step_local_is_clean(keep: str) -> None:
    assert fired(CODE.replace("{keep}", keep), "MLX105") == []


@pytest.mark.parametrize("made, found", [("preds = []\n    for x, y in data:", [9]),
                                         ("for x, y in data:\n        preds = []", [])])
def test_mlx105_list_made_before_or_inside_the_loop(made: str, found: list[int]) -> None:
    code = f"""
def fit(model, opt, data):
    loss_and_grad = nn.value_and_grad(model, lambda m, x, y: m(x).sum())
    {made}
        loss, grads = loss_and_grad(model, x, y)
        opt.update(model, grads)
        out = model(x)
        preds.append(out)

model = nn.Linear(4, 3)
"""
    assert fired(code, "MLX105") == found


def test_mlx105_no_optimizer_step_is_clean() -> None:
    code = CODE.replace("{keep}", "self.kept.append(logits)").replace(
        "        self.opt.update(self.model, grads)\n", "")
    assert fired(code, "MLX105") == []


@pytest.mark.parametrize("keep", [
    "logits = logits.item()\n        self.kept.append(logits)",  # fresh191 kiln_tile_glaze
    "logits = mx.mean(mx.argmax(logits, axis=-1) == y)\n        self.kept.append(logits)",
    "out = model(x) == y\n        self.kept.append(out)",
])
def test_mlx105_a_name_rebound_to_a_reduction_before_the_append_is_clean(keep: str) -> None:
    assert fired(CODE.replace("{keep}", keep), "MLX105") == []


def test_mlx105_an_auxiliary_accuracy_is_not_the_output() -> None:
    code = CODE.replace("return nn.losses.cross_entropy(logits, y, reduction=\"mean\"), logits",
                        "return nn.losses.cross_entropy(logits, y), mx.mean(logits == y)")
    assert fired(code.replace("{keep}", "self.kept.append(logits)"), "MLX105") == []
