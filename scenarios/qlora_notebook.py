"""qlora-notebook: the QLoRA notebook loop that "froze at step 0", and the report's own fix.

Source: ../shared/seeds/004_5bdaaef4cda6c98e.txt (the whole report). Its claims: the loop
froze at step 0 because (1) a manual log-softmax "is numerically unstable ... causes deadlocks
on Metal GPU", (2) the loss was not evaluated before `float()`, (3) the accumulated gradients
were not averaged, "causing exploding gradients". Its fix: `nn.losses.cross_entropy` on
`shift_labels = input_ids[1:]`, `mx.eval(loss_val)`, averaged accumulation, `mx.eval(model)`,
all around `loss_val, grads = mx.value_and_grad(loss_fn)(model)`, which the report leaves
unchanged (its "Fix 2" shows it), so the broken loop used it too.
Loop here (as the report's notebook): a 4-bit TinyLM base with q/v LoRA adapters
(`_qlora.make_qlora_model`), `loss_fn(model)` closing over the batch, gradient accumulation
over 2 micro-batches, AdamW lr 1e-2, batch 8 x seq 32 of the upper-cased corpus, 160
micro-batches (80 updates); the true metric is the next-token validation loss (`_lm.evaluate`).

What really happens (mlx 0.32.4, CPU, 2 cores, 2026-11-21):
- `mx.value_and_grad(loss_fn)(model)` differentiates with respect to EVERY array in the
  module: `freeze()` is ignored (only `nn.value_and_grad` reads `trainable_parameters()`). On
  the 4-bit base this raises at the first step: RuntimeError "[QuantizedMatmul::vjp] no
  gradient wrt the quantized weights." (On a float base, measured outside the scenario, it
  returns gradients for all 16 arrays instead of the 4 LoRA ones, and AdamW then trains the
  "frozen" base: the embedding moved by 0.03 in one step.)
- broken (the loop as the report's code and list of changes describe it: manual loss,
  `float(loss)` only, summed accumulation, `mx.value_and_grad`): crash:RuntimeError at step
  1, before any of claims (1)-(3) can matter. No freeze on CPU. (The report's fix also
  mentions try/except blocks that `continue` on errors; it does not show them, so they are
  not reproduced here. swallowed-grad-error covers a loop that hides a gradient error.)
- manual_loss (the report's broken loop with only the gradient call made right,
  `nn.value_and_grad(model, loss_fn)`): runs without a NaN or a stall. The manual
  log-softmax is the max-subtracted form, i.e. stable; claim (1) does not hold. Its real bug
  is one the report's deep dive also lists, "No label indexing": `-mean(log_probs)` averages
  over the whole vocabulary and is minimised by a uniform prediction (floor ln 256 = 5.55).
  The loop's loss falls (9.20 at step 1, window medians 7.09 -> 5.76: the loop looks
  healthy) while the real next-token validation loss rises 5.09 -> 6.05: wrong_result.
  Claim (2): `float()` evaluates, nothing builds up (RSS 57.6 -> 57.7 MB over the loop).
  Claim (3): with AdamW, summed and averaged accumulation give the same validation loss
  (3.35 vs 3.37 after 150 updates, measured): Adam normalises the gradient scale; nothing
  explodes.
- seed_fix (the report's corrected loss and gradient call as written, in the corrected
  loop): crash:ValueError at step 1, "Targets shape (231,) does not match logits shape (256,
  256)": `input_ids[1:]` drops the first SEQUENCE (batch axis), 7 x 33 labels for 8 x 32
  predictions. (With batch == sequence length it runs, silently misaligned; checked at 9 x 9.)
  Had the shapes matched, its `mx.value_and_grad` raises the RuntimeError above (checked).
- fixed: the report's corrected loop with labels `input_ids[:, 1:]` and
  `nn.value_and_grad(model, loss_fn)`: validation loss 5.09 -> 3.42 (-33%, check needs 20%);
  loop loss 5.44 at step 1, window medians 4.26 -> 3.31. One more change was needed: the
  report averages with `for key in accumulated_grads: accumulated_grads[key] =
  accumulated_grads[key] / N`, which divides the TOP-LEVEL entries of the gradient tree;
  here those are dicts and a list (`embed`, `blocks`, `norm`, `lm_head`), and it raises
  TypeError "unsupported operand type(s) for /: 'dict' and 'int'" (measured; the report
  does not show how it accumulated, so a flat dict there cannot be ruled out). The corrected
  loop here averages with `tree_map`.
Under mlxprobe (8 runs, 4 at 200 and 4 at 160 micro-batches; identical numbers for equal
settings): crash:RuntimeError, wrong_result, crash:ValueError, pass. ~8 ms a micro-step at
load ~2-4 (14-37 ms at load ~11 from other jobs); wall 1.1-1.3 s for the crashes (model load
and first evaluation) at load ~4, 2.7-3.5 s for the others at load ~5 (200 micro-batches),
5-9 s at load ~11.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_map

from ._lm import evaluate
from ._qlora import finetune_split, make_qlora_model
from ._text import batches
from ._trainer import check_val_drop

if TYPE_CHECKING:
    from mlxprobe.probe import Probe

SCENARIO = {
    "id": "qlora-notebook",
    "title": "QLoRA notebook loop: mx.value_and_grad on a 4-bit module, whole-vocab loss",
    "source": ["004_5bdaaef4cda6c98e.txt"],
    "variants": {"broken": "crash:RuntimeError", "manual_loss": "wrong_result",
                 "seed_fix": "crash:ValueError", "fixed": "pass"},
    "budget_s": 60,
}

BATCH, SEQ, LR = 8, 32, 1e-2
ACCUMULATION = 2  # the report: "Gradient accumulation (2 steps instead of 4)"
MICRO_STEPS = 160  # 80 optimizer updates
MIN_VAL_DROP = 0.2  # measured: the fixed run goes 5.09 -> 3.42 (-33%) in 80 updates
HINT = ("loss: nn.losses.cross_entropy(logits[:, :-1], input_ids[:, 1:]); gradients: "
        "nn.value_and_grad(model, loss_fn)")

LossFn = Callable[[nn.Module, mx.array], mx.array]
GradFn = Callable[[nn.Module, mx.array], tuple[mx.array, dict]]


def notebook_loss(model: nn.Module, input_ids: mx.array) -> mx.array:
    """The notebook's loss, verbatim: a log-softmax averaged over the whole vocabulary."""
    logits = model(input_ids)
    shift_logits = logits[:, :-1, :]
    max_logits = mx.max(shift_logits, axis=-1, keepdims=True)
    numerator = shift_logits - max_logits
    denominator = mx.log(mx.sum(mx.exp(numerator), axis=-1, keepdims=True))
    log_probs = numerator - denominator
    return -mx.mean(log_probs)  # BUG: no label gather


def _flat_cross_entropy(logits: mx.array, labels: mx.array) -> mx.array:
    logits_flat = logits.reshape(-1, logits.shape[-1])
    return nn.losses.cross_entropy(logits_flat, labels.reshape(-1), reduction="mean")


def seed_fix_loss(model: nn.Module, input_ids: mx.array) -> mx.array:
    """The report's corrected loss, verbatim, with its label shift on the batch axis."""
    return _flat_cross_entropy(model(input_ids)[:, :-1, :], input_ids[1:])  # BUG: batch axis


def shifted_loss(model: nn.Module, input_ids: mx.array) -> mx.array:
    """The corrected loss with labels shifted along the sequence axis."""
    return _flat_cross_entropy(model(input_ids)[:, :-1, :], input_ids[:, 1:])


def seed_grad(model: nn.Module, loss: LossFn) -> GradFn:
    """The report's call, `mx.value_and_grad(loss_fn)(model)`: gradients for every array."""
    return mx.value_and_grad(loss)


def _accumulate(accumulated: dict | None, grads: dict) -> dict:
    return grads if accumulated is None else tree_map(mx.add, accumulated, grads)


def notebook_loop(probe: Probe, model: nn.Module, grad_fn: GradFn,
                  data: Iterator[mx.array]) -> None:
    """The report's broken loop: summed accumulation, the loss only ever `float()`-ed."""
    optimizer = optim.AdamW(learning_rate=LR)
    accumulated, count = None, 0
    for _, input_ids in zip(range(MICRO_STEPS), data):
        loss, grads = grad_fn(model, input_ids)
        accumulated, count = _accumulate(accumulated, grads), count + 1
        if count >= ACCUMULATION:
            optimizer.update(model, accumulated)  # summed, never averaged
            accumulated, count = None, 0
        probe.step(loss=float(loss))


def corrected_loop(probe: Probe, model: nn.Module, grad_fn: GradFn,
                   data: Iterator[mx.array]) -> None:
    """The report's corrected loop: mx.eval(loss), averaged accumulation, mx.eval(model)."""
    optimizer = optim.AdamW(learning_rate=LR)
    accumulated, count = None, 0
    for _, input_ids in zip(range(MICRO_STEPS), data):
        loss_val, grads = grad_fn(model, input_ids)
        mx.eval(loss_val)
        accumulated, count = _accumulate(accumulated, grads), count + 1
        if count >= ACCUMULATION:
            optimizer.update(model, tree_map(lambda g: g / ACCUMULATION, accumulated))
            mx.eval(model)
            accumulated, count = None, 0
        probe.step(loss=float(loss_val))


Loop = Callable[["Probe", nn.Module, GradFn, Iterator[mx.array]], None]


def _run(probe: Probe, loop: Loop, loss: LossFn,
         value_and_grad: Callable[[nn.Module, LossFn], GradFn]) -> None:
    model = make_qlora_model()
    train, valid = finetune_split()
    before = evaluate(model, valid)
    probe.reset_clock()
    loop(probe, model, value_and_grad(model, loss), batches(train, BATCH, SEQ, seed=1))
    check_val_drop(probe, before, evaluate(model, valid), HINT, min_drop=MIN_VAL_DROP)


def broken(probe: Probe) -> None:
    _run(probe, notebook_loop, notebook_loss, seed_grad)


def manual_loss(probe: Probe) -> None:
    _run(probe, notebook_loop, notebook_loss, nn.value_and_grad)


def seed_fix(probe: Probe) -> None:
    _run(probe, corrected_loop, seed_fix_loss, seed_grad)


def fixed(probe: Probe) -> None:
    _run(probe, corrected_loop, shifted_loss, nn.value_and_grad)
