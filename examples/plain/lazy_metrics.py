"""lazy-metrics as a plain script: each step's loss kept as an un-evaluated array.

broken: the update is evaluated, the loss is not; the loop keeps the arrays for the epoch's
mean, so each one pins its step's logits and memory climbs every step (the progress lines
carry no loss: printing it would evaluate it). fixed: the loss is evaluated with the step and
kept as a Python float.
"""

import mlx.core as mx
import mlx.optimizers as optim
from _common import Run
from mlxprobe_scenarios._lm import evaluate
from mlxprobe_scenarios._loops import lm_setup
from mlxprobe_scenarios._text import batches
from mlxprobe_scenarios._trainer import BATCH, LR, SEQ, check_val_drop
from mlxprobe_scenarios.lazy_metrics import STEPS

run = Run(["broken", "fixed"], fmt="bar", every=10, doc=__doc__)
lm = lm_setup()
optimizer = optim.AdamW(learning_rate=LR)
data = zip(range(1, STEPS + 1), batches(lm.train, BATCH, SEQ, seed=1))

if run.variant == "broken":
    running = []
    for n, tokens in data:
        loss, grads = lm.loss_and_grad(lm.model, tokens)
        optimizer.update(lm.model, grads)
        mx.eval(lm.model.parameters(), optimizer.state)
        running.append(loss)  # BUG: an un-evaluated array, kept until the epoch ends
        run.step(n, loss)
    epoch_loss = mx.mean(mx.stack(running)).item()
else:
    before = evaluate(lm.model, lm.valid)
    running = []
    for n, tokens in data:
        loss, grads = lm.loss_and_grad(lm.model, tokens)
        optimizer.update(lm.model, grads)
        mx.eval(loss, lm.model.parameters(), optimizer.state)  # the fix: the loss too
        running.append(loss.item())  # a Python float
        run.step(n, running[-1])
    epoch_loss = sum(running) / len(running)
print(f"epoch mean loss {epoch_loss:.4f}")
run.note(epoch_loss=epoch_loss)
if run.variant == "fixed":
    check_val_drop(run, before, evaluate(lm.model, lm.valid),
                   hint="mx.eval(loss, model.parameters(), optimizer.state); keep loss.item()")
