"""no-label-shift as a plain script: `cross_entropy(model(tokens), tokens)`, no shift.

broken: position t learns to copy token t: the training loss collapses toward 0 (the run
looks perfect) while the next-token validation loss gets worse than at init (5.73 -> ~12.4).
fixed: predict `tokens[:, 1:]` from `tokens[:, :-1]`.
"""

from _common import Run, train_lm
from mlxprobe_scenarios._lm import evaluate, make_model, next_token_loss
from mlxprobe_scenarios._text import batches, split
from mlxprobe_scenarios._trainer import BATCH, SEQ, check_val_drop
from mlxprobe_scenarios.no_label_shift import STEPS, unshifted_loss

run = Run(["broken", "fixed"], fmt="iter", every=5, doc=__doc__)
model = make_model(0)
train, valid = split()
before = evaluate(model, valid)
loss_fn = next_token_loss if run.variant == "fixed" else unshifted_loss  # broken: no shift
last = train_lm(run, model, loss_fn, batches(train, BATCH, SEQ, seed=1), STEPS)
after = evaluate(model, valid)
print(f"validation loss {before:.4f} -> {after:.4f}")
check_val_drop(run, before, after, hint="shift: predict tokens[:, 1:] from tokens[:, :-1]",
               last_train_loss=last)
