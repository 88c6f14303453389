"""label-shift-batch-axis as a plain script: labels shifted with `input_ids[1:]` (batch axis).

broken (batch 8) and broken_batch1: ValueError from cross_entropy's shape check at the first
step. fixed: `input_ids[:, 1:]`.
"""

from _common import Run, train_lm
from mlxprobe_scenarios._lm import evaluate, make_model
from mlxprobe_scenarios._text import batches, split
from mlxprobe_scenarios._trainer import BATCH, SEQ, check_val_drop
from mlxprobe_scenarios.label_shift_batch_axis import (
    STEPS,
    seed_fixed_loss,
    sequence_shift_loss,
)

run = Run(["broken", "broken_batch1", "fixed"], fmt="iter", every=10, doc=__doc__)
loss_fn = sequence_shift_loss if run.variant == "fixed" else seed_fixed_loss
model = make_model(0)
train, valid = split()
before = evaluate(model, valid)
batch = 1 if run.variant == "broken_batch1" else BATCH
train_lm(run, model, loss_fn, batches(train, batch, SEQ, seed=1), STEPS)
if run.variant == "fixed":
    check_val_drop(run, before, evaluate(model, valid),
                   hint="shift labels on the sequence axis: input_ids[:, 1:]")
