"""step2-hang as a plain script: `optimizer.update` with no `mx.eval` of the parameters.

broken: nothing evaluates the update; the loop logs only every 2000 steps, so the lazy graph
grows and the first log line (`loss.item()`) has to compute the whole backlog: no output for a
long time (~17 s+ on a 2-core CPU) with a busy CPU. fixed: one `mx.eval` per step.
"""

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from _common import Run
from mlxprobe_scenarios._lm import evaluate, make_model, next_token_loss
from mlxprobe_scenarios._text import batches, split
from mlxprobe_scenarios.step2_hang import BATCH, FIXED_STEPS, LOG_EVERY, LR, MIN_VAL_DROP, SEQ

run = Run(["broken", "fixed"], fmt="step", every=10, doc=__doc__)
model = make_model(0)
optimizer = optim.AdamW(learning_rate=LR)
train, valid = split()
loss_and_grad = nn.value_and_grad(model, next_token_loss)

if run.variant == "broken":
    for n, tokens in enumerate(batches(train, BATCH, SEQ, seed=1), start=1):
        loss, grads = loss_and_grad(model, tokens)
        optimizer.update(model, grads)  # BUG: nothing evaluates parameters or optimizer state
        if n % LOG_EVERY == 0:
            run.step(n, loss.item())  # the first log line: the whole backlog runs here
            break
        run.step(n, loss, show=False)  # --probe only: an un-evaluated array, type only
else:
    before = evaluate(model, valid)
    for n, tokens in zip(range(1, FIXED_STEPS + 1), batches(train, BATCH, SEQ, seed=1)):
        loss, grads = loss_and_grad(model, tokens)
        optimizer.update(model, grads)
        mx.eval(loss, model.parameters(), optimizer.state)  # the fix: one eval per step
        run.step(n, loss.item())
    after = evaluate(model, valid)
    print(f"validation loss {before:.4f} -> {after:.4f}")
    run.check("validation loss fell by a clear margin", (before - after) / before >= MIN_VAL_DROP,
              val_loss_before=before, val_loss_after=after, min_drop=MIN_VAL_DROP)
