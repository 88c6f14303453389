"""dropped-remainder: micro-batches left over at the end of an epoch are never applied.

Source: ../shared/seeds/004_5bdaaef4cda6c98e.txt, Fix 4 "Apply Remaining Gradients at End of
Epoch": `if accumulation_step > 0 and accumulated_grads is not None: ... accumulated_grads[key]
/ accumulation_step; optimizer.update(model, accumulated_grads)`; the table's "Remaining
Gradients: Ignored -> Applied at epoch end".

Bug: the loop applies an update every ACCUM micro-batches; when the epoch ends with fewer than
ACCUM pending, their summed gradients are thrown away with the epoch's accumulator.
Symptom: nothing visible: the loss falls and no error is raised. The same samples (the tail of
an epoch whose micro-batch count is not a multiple of ACCUM) never reach the optimizer, epoch
after epoch.
Root cause: the update happens only inside `if count == ACCUM`; nothing after the loop flushes
what is left.
Fix (the seed's Fix 4, tested): after the loop, if micro-batches are pending, divide their sum
by THEIR OWN count (not ACCUM, which would shrink that step) and apply it.

The loop counts the samples the loader produced and the samples whose gradients went into an
applied update; the check compares the two for every epoch.

Measured here (mlx 0.32.4, CPU, 2 cores, 2026-11-21), default TinyLM, a fixed epoch of 44
windows of 32 tokens in micro-batches of 4 (11 per epoch), ACCUM = 4, AdamW lr 3e-3, 16
epochs, the same order every epoch (no shuffle), loss over the epoch's samples 5.70 at init.
Broken: 2 updates per epoch, 32 of 44 samples applied per epoch (12 = 27% dropped, 192 over
16 epochs); its logged loss looks healthy (5.30 -> 1.27, medians of the first and last 10% of
updates), but afterwards the loss is 1.12 on the 32 applied samples and 3.89 on the 12
never-applied ones. Fixed: 3 updates per epoch (the last averaged over its 3 micro-batches),
44 of 44 applied, loss afterwards 1.26 on the first 32 samples and 0.87 on the last 12, loss
over the whole epoch 5.70 -> 1.15. (With a loader that reshuffles every epoch a different
27% would be dropped each time: less data per epoch instead of never-seen samples.)
"""

from __future__ import annotations

import mlx.core as mx
import mlx.optimizers as optim

from ._lm import next_token_loss
from ._loops import Accumulated, GradAccumulator, LMSetup, check_drop, lm_setup, scale_grads
from ._text import batches

SCENARIO = {
    "id": "dropped-remainder",
    "title": "gradient accumulation drops the micro-batches left over at the end of each epoch",
    "source": ["004_5bdaaef4cda6c98e.txt"],
    "variants": {"broken": "wrong_result", "fixed": "pass"},
    "budget_s": 60,
}

EPOCH_SAMPLES, MICRO, SEQ, ACCUM = 44, 4, 32, 4
EPOCHS, LR = 16, 3e-3
MIN_DROP = 0.5  # the loss over all the epoch's samples must halve
HINT = ("after the epoch loop: if micro-batches are pending, divide their summed gradients by "
        "their own count and apply them")


def epoch_micro_batches(setup: LMSetup) -> list[mx.array]:
    """The epoch's data: EPOCH_SAMPLES fixed windows, in order, in micro-batches of MICRO."""
    windows = next(batches(setup.train, EPOCH_SAMPLES, SEQ, seed=1))
    return [windows[i:i + MICRO] for i in range(0, EPOCH_SAMPLES, MICRO)]


class Trainer:
    """An accumulating trainer that counts the samples its updates were made from."""

    def __init__(self, probe, setup: LMSetup, apply_remainder: bool) -> None:  # noqa: ANN001
        self.probe, self.setup, self.apply_remainder = probe, setup, apply_remainder
        self.optimizer = optim.AdamW(learning_rate=LR)

    def apply(self, step: Accumulated) -> int:
        """Average the summed gradients by their own count, update; the samples applied."""
        model = self.setup.model
        self.optimizer.update(model, scale_grads(step.grads, 1 / step.micro_batches))
        mx.eval(model.parameters(), self.optimizer.state)
        self.probe.step(loss=step.loss, micro_batches=step.micro_batches)
        return step.samples

    def epoch(self, micro_batches: list[mx.array]) -> tuple[int, int]:
        """One epoch; (samples the loader gave, samples applied)."""
        accumulator, loaded, applied = GradAccumulator(), 0, 0
        for tokens in micro_batches:
            loaded += tokens.shape[0]
            accumulator.add(*self.setup.loss_and_grad(self.setup.model, tokens), tokens.shape[0])
            if accumulator.count == ACCUM:
                applied += self.apply(accumulator.pop())
        if self.apply_remainder and accumulator.count:  # broken: the leftover is dropped here
            applied += self.apply(accumulator.pop())
        return loaded, applied


def _losses(setup: LMSetup, micro_batches: list[mx.array]) -> list[float]:
    """The model's loss on each micro-batch of the epoch."""
    return [next_token_loss(setup.model, tokens).item() for tokens in micro_batches]


def _mean(values: list[float]) -> float:
    return sum(values) / len(values)


def _train(probe, apply_remainder: bool) -> tuple[float, float]:  # noqa: ANN001 - a Probe
    """Run EPOCHS epochs and check the sample counts; (epoch loss before, after)."""
    setup = lm_setup()
    micro_batches = epoch_micro_batches(setup)
    trainer = Trainer(probe, setup, apply_remainder)
    before = _mean(_losses(setup, micro_batches))
    probe.reset_clock()
    counts = [trainer.epoch(micro_batches) for _ in range(EPOCHS)]
    after = _losses(setup, micro_batches)
    full = len(micro_batches) // ACCUM * ACCUM  # micro-batches in complete groups of ACCUM
    probe.check("every sample of each epoch reached the optimizer",
                all(loaded == applied for loaded, applied in counts), hint=HINT,
                samples_per_epoch=counts[0][0], applied_per_epoch=counts[0][1],
                dropped_total=sum(loaded - applied for loaded, applied in counts),
                epochs=EPOCHS, loss_grouped_samples=_mean(after[:full]),
                loss_tail_samples=_mean(after[full:]))
    return before, _mean(after)


def broken(probe) -> None:  # noqa: ANN001 - mlxprobe.probe.Probe
    _train(probe, apply_remainder=False)


def fixed(probe) -> None:  # noqa: ANN001 - mlxprobe.probe.Probe
    before, after = _train(probe, apply_remainder=True)
    check_drop(probe, "epoch_loss", before, after, MIN_DROP)
