"""Stop 79's lint changes.

- MLX258 (new): `value or <an MLX array>` asks an array for its truth (fresh279
  `sextant_caption_batch`, mlx-vlm 869bbb7: `inputs.get("attention_mask") or
  mx.ones_like(input_ids)` raised at the first batch).
- MLX259 (new): `mx.save_safetensors(path, ...)` on a path the function made a directory
  (fresh279 `quarry_seam_mimic`, jina-ai/mlx-retrieval c40fb9d: the resume found no
  `adapters.safetensors` in the checkpoint directory).
- MLX028 leaves a helper that a training loop calls only at chosen steps (under an `if` that
  tests the loop's counter) alone: an evaluation, not a step (fresh281
  `hollowreed_mel_vocoder`, correct: `rms_p / rms_t` in a validation helper run twice).
- MLX247's text test asks for a `__call__` whose first input the text updates in place (files
  of the three packages it lets through 743 -> 19); signatures and subscripts laid out over
  lines still reach the check.
- MLX189 leaves a next-token loss on the model's own input ids alone: targets sliced from the
  array the logits were computed from hold no -100 (fresh277 `weir_sluice_drafter_ok`: a
  pretraining loss `ce(m(x[:, :-1]), x[:, 1:])` beside an adapter loss whose labels are
  padded with -100 and masked).

Cost: < 1 s (no MLX, no process).
"""

from __future__ import annotations

import pytest
from lint_snippets import fired

PRETRAINING = """
IGNORE = -100

def pad_labels(lab, n):
    return lab + [IGNORE] * (n - len(lab))

def lm_loss(m, x):
    {body}
"""


@pytest.mark.parametrize("body", [
    'return nn.losses.cross_entropy(m(x[:, :-1]), x[:, 1:], reduction="mean")',
    'logits = m(x[:, :-1])\n    return nn.losses.cross_entropy(logits, x[:, 1:], '
    'reduction="mean")',
])
def test_targets_sliced_from_the_models_own_input_are_no_padded_labels(body: str) -> None:
    assert fired(PRETRAINING.format(body=body), "MLX189") == []


@pytest.mark.parametrize("body", [
    'return nn.losses.cross_entropy(m(x[:, :-1]), y[:, 1:], reduction="mean")',
    'logits = m(x)\n    return nn.losses.cross_entropy(logits, labels[:, 1:], '
    'reduction="mean")',
])
def test_targets_from_another_array_still_fire(body: str) -> None:
    program = PRETRAINING.replace("(m, x)", "(m, x, y, labels)").format(body=body)
    assert fired(program, "MLX189") == [8 + body.count("\n")]


# MLX008: a sum over one update's micro-batches, evaluated with that update, where the update
# is `params = opt.apply_gradients(grads, params)` (fresh278 `wheel_spoke_recompute`, correct)
MICRO = """
params = init_params()
opt = optim.AdamW(learning_rate=1e-3)
grad_fn = mx.value_and_grad(loss_fn)
for step in range(steps):
    acc_g, acc_loss = None, 0.0
    for mb in MICRO:
        loss, g = grad_fn(params, x, y)
        acc_g = g if acc_g is None else tree_map(mx.add, acc_g, g)
        acc_loss += loss
    params = opt.apply_gradients(acc_g, params)
    mx.eval(params, opt.state{evaluated})
    print(acc_loss.item())
"""


def test_micro_batch_sum_evaluated_with_each_apply_gradients_step_is_silent() -> None:
    assert fired(MICRO.format(evaluated=", acc_loss"), "MLX008") == []


def test_the_same_sum_left_out_of_the_eval_still_fires() -> None:
    kept = MICRO.replace("    print(acc_loss.item())\n", "    history.append(acc_loss)\n")
    assert fired(kept.format(evaluated=""), "MLX008") != []


@pytest.mark.parametrize("line", [
    'mask = inputs.get("attention_mask") or mx.ones_like(input_ids)',
    "cell = cell or mx.zeros((B, hidden), x.dtype)",
    "noise = self.noise or mx.random.normal(x.shape)",
])
def test_a_value_or_an_array_fallback_fires(line: str) -> None:
    assert fired(f"def get(inputs, input_ids, cell, B, hidden, x):\n    {line}\n", "MLX258") \
        == [2]


@pytest.mark.parametrize("line", [
    'mask = inputs.get("attention_mask", mx.ones_like(input_ids))',
    "cell = cell if cell is not None else mx.zeros((B, hidden))",
    "group = group or mx.distributed.init()",
    "slow = flag or mx.default_device() != mx.gpu",
    "n = count or mx.array(0).item()",
])
def test_defaults_that_ask_no_array_for_its_truth_are_silent(line: str) -> None:
    assert fired(f"def get(inputs, input_ids, cell, B, hidden, group, flag, count):\n"
                 f"    {line}\n", "MLX258") == []


SAVED = """
import os

def checkpoint(model, output_dir, step):
    {make}
    weights = dict(tree_flatten(model.trainable_parameters()))
    mx.save_safetensors({target}, weights)
"""


@pytest.mark.parametrize(("make", "target"), [
    ("os.makedirs(output_dir, exist_ok=True)", "str(output_dir)"),
    ("os.makedirs(output_dir, exist_ok=True)", "output_dir"),
    ("output_dir.mkdir(parents=True, exist_ok=True)", "os.fspath(output_dir)"),
])
def test_weights_saved_to_the_directory_just_made_fire(make: str, target: str) -> None:
    assert fired(SAVED.format(make=make, target=target), "MLX259") == [7]


@pytest.mark.parametrize(("make", "target"), [
    ("os.makedirs(output_dir, exist_ok=True)",
     'os.path.join(output_dir, "adapters.safetensors")'),
    ("os.makedirs(os.path.dirname(output_dir), exist_ok=True)", "output_dir"),
    ("output_dir.parent.mkdir(parents=True)", "str(output_dir)"),
    ("os.makedirs(output_dir, exist_ok=True)", 'str(output_dir / "adapters.safetensors")'),
])
def test_a_file_inside_the_directory_or_a_parent_made_is_silent(make: str, target: str) -> None:
    assert fired(SAVED.format(make=make, target=target), "MLX259") == []


SCHEDULED = """
def evaluate(model, x):
    pred = model(x)
    rms_p = mx.sqrt(mx.mean(pred ** 2))
    rms_t = mx.sqrt(mx.mean(x ** 2))
    return (rms_p / rms_t).item()

def loss_fn(model, x, y):
    return mx.mean((model(x) - y) ** 2)

step_fn = nn.value_and_grad(model, loss_fn)
for step in range(steps):
    loss, grads = step_fn(model, x, y)
    optimizer.update(model, grads)
    mx.eval(model.parameters(), optimizer.state)
    {call}
print(evaluate(model, x))
"""


def test_a_helper_called_only_at_chosen_steps_is_no_training_step() -> None:
    called = "if step in (100, steps - 1):\n        print(evaluate(model, x))"
    assert fired(SCHEDULED.format(call=called), "MLX028") == []
    periodic = "if step % 40 == 0:\n        print(evaluate(model, x))"
    assert fired(SCHEDULED.format(call=periodic), "MLX028") == []


def test_the_same_helper_called_at_every_step_still_fires() -> None:
    assert fired(SCHEDULED.format(call="print(evaluate(model, x))"), "MLX028") == [6]
    flagged = "if verbose:\n        print(evaluate(model, x))"
    assert fired(SCHEDULED.format(call=flagged), "MLX028") == [6]


FORWARD = """
class Block(nn.Module):
    def __call__(
        self,
        x: mx.array,
        mask=None,
    ):
        {update}
        return x
"""


@pytest.mark.parametrize("update", [
    "x += self.ff(x)",
    "x *= self.scale",
    "x[\n            ..., :4\n        ] = 2 * x[..., :4]",
])
def test_an_input_updated_in_place_fires_however_it_is_laid_out(update: str) -> None:
    assert fired(FORWARD.format(update=update), "MLX247") == [8]


@pytest.mark.parametrize("update", ["y = x\n        y += 1", "x = x + self.ff(x)",
                                    "cache[key] = x"])
def test_a_forward_that_writes_no_input_in_place_is_silent(update: str) -> None:
    assert fired(FORWARD.format(update=update), "MLX247") == []
