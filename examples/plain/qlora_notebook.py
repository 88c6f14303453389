"""qlora-notebook as a plain script: the QLoRA notebook loop and the report's own fix.

broken: `mx.value_and_grad(loss_fn)` on a 4-bit model: RuntimeError "[QuantizedMatmul::vjp] no
gradient wrt the quantized weights." at the first step. manual_loss: `nn.value_and_grad`, but
the loss averages log-probabilities over the whole vocabulary: the loop's loss falls while the
real validation loss rises. seed_fix: the report's corrected loss, `input_ids[1:]`: ValueError
at the first step. fixed: labels `input_ids[:, 1:]` and `nn.value_and_grad`. Notebook-style
progress lines (`Step N: loss = X`).
"""

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from _common import Run
from mlx.utils import tree_map
from mlxprobe_scenarios._lm import evaluate
from mlxprobe_scenarios._qlora import finetune_split, make_qlora_model
from mlxprobe_scenarios._text import batches
from mlxprobe_scenarios._trainer import check_val_drop
from mlxprobe_scenarios.qlora_notebook import (
    ACCUMULATION,
    BATCH,
    HINT,
    LR,
    MICRO_STEPS,
    MIN_VAL_DROP,
    SEQ,
    notebook_loss,
    seed_fix_loss,
    shifted_loss,
)

run = Run(["broken", "manual_loss", "seed_fix", "fixed"], fmt="notebook", every=5,
          doc=__doc__)
loss = {"broken": notebook_loss, "manual_loss": notebook_loss, "seed_fix": seed_fix_loss,
        "fixed": shifted_loss}[run.variant]
model = make_qlora_model()
train, valid = finetune_split()
before = evaluate(model, valid)
if run.variant in ("broken", "seed_fix"):
    grad_fn = mx.value_and_grad(loss)  # the report's call: gradients for every array
else:
    grad_fn = nn.value_and_grad(model, loss)
optimizer = optim.AdamW(learning_rate=LR)
data = zip(range(1, MICRO_STEPS + 1), batches(train, BATCH, SEQ, seed=1))
accumulated, count = None, 0
for n, input_ids in data:
    loss_val, grads = grad_fn(model, input_ids)
    accumulated = grads if accumulated is None else tree_map(mx.add, accumulated, grads)
    count += 1
    if run.variant in ("broken", "manual_loss"):  # the notebook's loop
        if count >= ACCUMULATION:
            optimizer.update(model, accumulated)  # summed, never averaged
            accumulated, count = None, 0
    else:  # the report's corrected loop
        mx.eval(loss_val)
        if count >= ACCUMULATION:
            optimizer.update(model, tree_map(lambda g: g / ACCUMULATION, accumulated))
            mx.eval(model)
            accumulated, count = None, 0
    run.step(n, float(loss_val))
after = evaluate(model, valid)
print(f"validation loss {before:.4f} -> {after:.4f}")
check_val_drop(run, before, after, HINT, min_drop=MIN_VAL_DROP)
