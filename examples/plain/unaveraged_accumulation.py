"""unaveraged-accumulation as a plain script: summed micro-batch gradients, never averaged.

broken: the sum of 8 micro-batch gradients goes to SGD (lr 0.3, momentum 0.9): an 8-fold
step; the loss spikes and is nan from update 15 on. fixed: divided by the micro-batch count.
"""

import itertools

import mlx.core as mx
import mlx.optimizers as optim
from _common import Run
from mlxprobe_scenarios._lm import evaluate
from mlxprobe_scenarios._loops import (
    GradAccumulator,
    check_drop,
    global_norm,
    lm_setup,
    scale_grads,
)
from mlxprobe_scenarios._text import batches
from mlxprobe_scenarios.unaveraged_accumulation import (
    ACCUM,
    LR,
    MICRO,
    MIN_VAL_DROP,
    MOMENTUM,
    SEQ,
    UPDATES,
)

run = Run(["broken", "fixed"], fmt="iter", doc=__doc__)
average = run.variant == "fixed"
setup = lm_setup()
model, optimizer = setup.model, optim.SGD(learning_rate=LR, momentum=MOMENTUM)
before = evaluate(model, setup.valid)
accumulator = GradAccumulator()
updates = 0
for tokens in itertools.islice(batches(setup.train, MICRO, SEQ, seed=1), UPDATES * ACCUM):
    accumulator.add(*setup.loss_and_grad(model, tokens), samples=MICRO)
    if accumulator.count < ACCUM:
        continue
    pending = accumulator.pop()
    grads = scale_grads(pending.grads, 1 / pending.micro_batches) if average else pending.grads
    norm = global_norm(grads)
    optimizer.update(model, grads)  # broken: the SUM of ACCUM gradients
    mx.eval(norm, model.parameters(), optimizer.state)
    updates += 1
    run.step(updates, pending.loss, grad_norm=norm.item())
after = evaluate(model, setup.valid)
print(f"validation loss {before:.4f} -> {after:.4f}")
if average:
    check_drop(run, "val_loss", before, after, MIN_VAL_DROP)
