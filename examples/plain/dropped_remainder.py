"""dropped-remainder as a plain script: gradient accumulation that drops each epoch's leftover.

broken: an update every 4 micro-batches; the 3 left at the end of each 11-micro-batch epoch
are thrown away, so 12 of 44 samples never reach the optimizer (the loss still falls).
fixed: after the epoch, the pending gradients are averaged over their own count and applied.
"""

import mlx.core as mx
import mlx.optimizers as optim
from _common import Run
from mlxprobe_scenarios._lm import next_token_loss
from mlxprobe_scenarios._loops import GradAccumulator, check_drop, lm_setup, scale_grads
from mlxprobe_scenarios.dropped_remainder import (
    ACCUM,
    EPOCHS,
    HINT,
    LR,
    MIN_DROP,
    epoch_micro_batches,
)

run = Run(["broken", "fixed"], fmt="iter", doc=__doc__)
setup = lm_setup()
micro_batches = epoch_micro_batches(setup)
optimizer = optim.AdamW(learning_rate=LR)
updates = 0


def mean(values):
    return sum(values) / len(values)


def epoch_losses():
    return [next_token_loss(setup.model, tokens).item() for tokens in micro_batches]


def apply(pending):
    """Average the summed gradients by their own count and update; the samples applied."""
    global updates
    optimizer.update(setup.model, scale_grads(pending.grads, 1 / pending.micro_batches))
    mx.eval(setup.model.parameters(), optimizer.state)
    updates += 1
    run.step(updates, pending.loss, micro_batches=pending.micro_batches)
    return pending.samples


before = mean(epoch_losses())
counts = []
for _ in range(EPOCHS):
    accumulator, loaded, applied = GradAccumulator(), 0, 0
    for tokens in micro_batches:
        loaded += tokens.shape[0]
        accumulator.add(*setup.loss_and_grad(setup.model, tokens), tokens.shape[0])
        if accumulator.count == ACCUM:
            applied += apply(accumulator.pop())
    if run.variant == "fixed" and accumulator.count:  # broken: the leftover is dropped here
        applied += apply(accumulator.pop())
    counts.append((loaded, applied))

after = epoch_losses()
full = len(micro_batches) // ACCUM * ACCUM
print(f"epoch loss {before:.4f} -> {mean(after):.4f}")
run.check("every sample of each epoch reached the optimizer",
          all(loaded == applied for loaded, applied in counts), hint=HINT,
          samples_per_epoch=counts[0][0], applied_per_epoch=counts[0][1],
          dropped_total=sum(loaded - applied for loaded, applied in counts),
          epochs=EPOCHS, loss_grouped_samples=mean(after[:full]),
          loss_tail_samples=mean(after[full:]))
if run.variant == "fixed":
    check_drop(run, "epoch_loss", before, mean(after), MIN_DROP)
