"""tree-flatten-tuples: hand-written clipping iterates `tree_flatten` as if it yielded arrays.

Source: ../shared/seeds/003_a039be727e17cf61.txt, fix 2 "tree_flatten Tuple Extraction":
"`tree_flatten()` returns list of `(path, value)` tuples, not direct arrays"; the wrong code
`for param in tree_flatten(params): if isinstance(param, mx.array): ...` was in both the
parameter count and the trainer's gradient-norm computation.

Bug: `for leaf in tree_flatten(grads): if isinstance(leaf, mx.array): total += sum(leaf**2)`.
Every `leaf` is a `(path, array)` tuple, the `isinstance` test is never true, nothing is added.
Symptom: the log says 0 trainable parameters and a gradient norm of 0.0 every step, no error;
at a learning rate that needs clipping the loss spikes and turns NaN, although the loop "clips".
Root cause: the norm the clipping compares with `max_norm` is always 0.0, so the clip never
fires: the loop trains unclipped (the same run as no-grad-clipping's broken variant).
Fix: unpack the pairs, `for _, leaf in tree_flatten(grads)` (or use `optim.clip_grad_norm`).

The loop logs the norm its clipping saw as `clip_norm_seen`; `grad_norm` is the true global
norm of the gradients before clipping (`_loops.global_norm`), so the probe shows both.

Measured here (mlx 0.32.4, CPU, 2 cores, 2026-11-21), default TinyLM, batch 8 x seq 32, SGD
lr 2.0 momentum 0.9, clip at a norm of 0.25 (`_loops`), 100 steps. Broken: counts 0 of the
26,720 trainable parameters; its clipping saw a norm of 0.0 at all 100 steps while the true
norm was 1.075 at step 1 and up to 3.7e8 at step 10; the clip never fired; loss 5.77 -> 1.25e8
at step 10 -> NaN from step 16 to the end: the same losses and norms, to the last printed
digit, as no-grad-clipping's unclipped run. Fixed: counts 26,720, sees the true norm (0.259
to 1.74), clips at all 100 steps, loss 4.13 -> 2.99 (medians of the first and last 10% of steps),
validation 5.73 -> 3.14 (3.12 with `optim.clip_grad_norm`, which divides by norm + 1e-6).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable

import mlx.core as mx
from mlx.utils import tree_flatten

from ._lm import evaluate
from ._loops import MAX_NORM, check_drop, global_norm, high_lr_sgd, lm_setup, scale_grads
from ._text import batches

SCENARIO = {
    "id": "tree-flatten-tuples",
    "title": "clipping norm summed over tree_flatten's (path, value) pairs: always 0, never clips",
    "source": ["003_a039be727e17cf61.txt"],
    "variants": {"broken": "diverged", "fixed": "pass"},
    "budget_s": 60,
}

BATCH, SEQ, STEPS = 8, 32, 100
MIN_VAL_DROP = 0.25
Leaves = Callable[[dict], Iterable[object]]


def leaves_as_written(tree: dict) -> Iterable[object]:
    return tree_flatten(tree)  # BUG: yields (path, value) pairs, never arrays


def leaves_unpacked(tree: dict) -> Iterable[object]:
    return (value for _, value in tree_flatten(tree))


def count_params(tree: dict, leaves: Leaves) -> int:
    return sum(leaf.size for leaf in leaves(tree) if isinstance(leaf, mx.array))


def hand_norm(grads: dict, leaves: Leaves) -> float:
    """The trainer's own global gradient norm, as a Python float."""
    total = sum(mx.sum(leaf * leaf) for leaf in leaves(grads) if isinstance(leaf, mx.array))
    return float(total) ** 0.5


def _train(probe, leaves: Leaves) -> tuple[float, float]:  # noqa: ANN001 - mlxprobe Probe
    """Run the loop with the trainer's clipping; (validation loss before, after)."""
    setup = lm_setup()
    model, optimizer = setup.model, high_lr_sgd()
    counted = count_params(model.trainable_parameters(), leaves)
    print(f"trainable parameters: {counted}")
    probe.note(trainable_params=counted)
    before = evaluate(model, setup.valid)
    probe.reset_clock()
    for tokens in itertools.islice(batches(setup.train, BATCH, SEQ, seed=1), STEPS):
        loss, grads = setup.loss_and_grad(model, tokens)
        norm = global_norm(grads)  # the true norm, for the log
        seen = hand_norm(grads, leaves)
        if seen > MAX_NORM:
            grads = scale_grads(grads, MAX_NORM / seen)
        optimizer.update(model, grads)
        mx.eval(loss, norm, model.parameters(), optimizer.state)
        probe.step(loss=loss.item(), grad_norm=norm.item(), clip_norm_seen=seen)
    return before, evaluate(model, setup.valid)


def broken(probe) -> None:  # noqa: ANN001 - mlxprobe.probe.Probe
    _train(probe, leaves_as_written)


def fixed(probe) -> None:  # noqa: ANN001 - mlxprobe.probe.Probe
    before, after = _train(probe, leaves_unpacked)  # the fix: `for _, leaf in tree_flatten(...)`
    check_drop(probe, "val_loss", before, after, MIN_VAL_DROP)
