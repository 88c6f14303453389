"""manual-log-softmax as a plain script: `-mean(log_softmax(logits))` with no label gather.

broken: the loss is the cross-entropy against a uniform distribution; the model learns to
predict every byte equally (train loss 5.72 -> ln 256 = 5.545, validation stuck there too).
fixed: `nn.losses.cross_entropy` on the shifted labels. Both print a validation line every
10 steps (`Iter N: Val loss X`, the format of older mlx-lm).
"""

import math

from _common import Run, train_lm
from mlxprobe_scenarios._lm import evaluate, make_model, next_token_loss
from mlxprobe_scenarios._text import batches, split
from mlxprobe_scenarios._trainer import BATCH, SEQ, check_val_drop
from mlxprobe_scenarios.manual_log_softmax import EVAL_EVERY, STEPS, seed_loss

run = Run(["broken", "fixed"], fmt="iter", every=5, doc=__doc__)
model = make_model(0)
train, valid = split()
before = evaluate(model, valid)
loss_fn = next_token_loss if run.variant == "fixed" else seed_loss  # broken: no labels
train_lm(run, model, loss_fn, batches(train, BATCH, SEQ, seed=1), STEPS, valid, EVAL_EVERY)
after = evaluate(model, valid)
print(f"validation loss {before:.4f} -> {after:.4f} (uniform: {math.log(256):.4f})")
run.note(val_loss_before=before, val_loss_after=after, uniform_loss=math.log(256))
if run.variant == "fixed":
    check_val_drop(run, before, after, hint="nn.losses.cross_entropy(logits, labels)")
