"""no-grad-clipping as a plain script: SGD at a high learning rate without clip_grad_norm.

broken: raw gradients at lr 2.0: the loss spikes (~1e8 at step 10) and is nan from step 16
on. fixed: `optim.clip_grad_norm(grads, 0.25)` before the update.
"""

import itertools

import mlx.core as mx
import mlx.optimizers as optim
from _common import Run
from mlxprobe_scenarios._lm import evaluate
from mlxprobe_scenarios._loops import MAX_NORM, check_drop, global_norm, high_lr_sgd, lm_setup
from mlxprobe_scenarios._text import batches
from mlxprobe_scenarios.no_grad_clipping import BATCH, MIN_VAL_DROP, SEQ, STEPS

run = Run(["broken", "fixed"], fmt="bar", doc=__doc__)
clip = run.variant == "fixed"
setup = lm_setup()
model, optimizer = setup.model, high_lr_sgd()
before = evaluate(model, setup.valid)
for n, tokens in enumerate(itertools.islice(batches(setup.train, BATCH, SEQ, seed=1), STEPS), 1):
    loss, grads = setup.loss_and_grad(model, tokens)
    if clip:
        grads, norm = optim.clip_grad_norm(grads, MAX_NORM)  # the fix
    else:
        norm = global_norm(grads)  # BUG: logged only, never clipped
    optimizer.update(model, grads)
    mx.eval(loss, norm, model.parameters(), optimizer.state)
    value = norm.item()
    run.step(n, loss.item(), grad_norm=value, clipped=clip and value > MAX_NORM)
after = evaluate(model, setup.valid)
print(f"validation loss {before:.4f} -> {after:.4f}")
if clip:
    check_drop(run, "val_loss", before, after, MIN_VAL_DROP)
