"""swallowed-grad-error as a plain script: a forward-only fallback hides a gradient error.

broken: the step catches the ValueError that the gradient of a hard-token loss raises (mlx >=
0.32.1), computes the loss forward-only and logs it: no update ever happens, the logged loss
only wanders. surfaced: nothing caught: ValueError at step 1. fixed: `mx.stop_gradient` on
the selected indices, nothing caught.
"""

import itertools
from functools import partial

import mlx.core as mx
import mlx.optimizers as optim
from _common import Run
from mlxprobe_scenarios._lm import evaluate
from mlxprobe_scenarios._loops import check_drop, lm_setup, param_delta, snapshot
from mlxprobe_scenarios._text import batches
from mlxprobe_scenarios.swallowed_grad_error import (
    BATCH,
    LR,
    MIN_VAL_DROP,
    SEQ,
    STEPS,
    hard_tokens_loss,
)

run = Run(["broken", "surfaced", "fixed"], fmt="step", every=5, doc=__doc__)
fixed = run.variant == "fixed"
setup = lm_setup(loss=partial(hard_tokens_loss, stop_indices=True) if fixed else hard_tokens_loss)
optimizer = optim.AdamW(learning_rate=LR)


def train_step(tokens):
    """(loss, fell back)."""
    if run.variant == "broken":
        try:
            loss, grads = setup.loss_and_grad(setup.model, tokens)
        except Exception:  # BUG: every error, silently: "graceful degradation"
            return hard_tokens_loss(setup.model, tokens).item(), True
    else:
        loss, grads = setup.loss_and_grad(setup.model, tokens)
    optimizer.update(setup.model, grads)
    mx.eval(loss, setup.model.parameters(), optimizer.state)
    return loss.item(), False


before = evaluate(setup.model, setup.valid)
for n, tokens in enumerate(itertools.islice(batches(setup.train, BATCH, SEQ, seed=1), STEPS), 1):
    previous = snapshot(setup.model)
    loss, fell_back = train_step(tokens)
    run.step(n, loss, hidden=("fallback", "param_delta"), fallback=fell_back,
             param_delta=param_delta(previous, setup.model))
after = evaluate(setup.model, setup.valid)
print(f"validation loss {before:.4f} -> {after:.4f}")
if fixed:
    check_drop(run, "val_loss", before, after, MIN_VAL_DROP)
