"""frozen-backbone-grads: the LM "frozen" by zeroing its gradients: AdamW still moves it.

Source: ../shared/seeds/003_a039be727e17cf61.txt, its frozen backbone ("Pre-trained Llama
3.2 1B (193M params) FROZEN ... skip gradient computation") and fix 3 "Use MLX's built-in
freeze method ... Let MLX handle gradient computation automatically". The report does not
zero gradients itself; this is the other common hand-made "freeze", tested against `freeze()`.
Bug: the LM is left trainable; after `nn.value_and_grad` the loop replaces `grads["llm"]`
with zeros before `optimizer.update`. Symptom: the "frozen" LM drifts a little every step
(nothing else looks wrong: the loss falls as usual), and the optimizer keeps state for it.
Root cause: AdamW's decoupled weight decay, `p <- p * (1 - lr * weight_decay)`, is applied to
every parameter in the gradient tree whatever its gradient; mlx's default weight_decay is
0.01. (Adam's own step is exactly 0 for a zero gradient: with weight_decay=0 the zeroed
weights stay bit-identical, measured.) Fix: `model.llm.freeze()`, so the LM is not in
`trainable_parameters()`, gets no gradient, no optimizer state and no update.

Measured here (mlx 0.32.4, CPU, 2 cores, 2026-11-21), batch 32, AdamW lr 3e-3, 200 steps:
- broken: LM max |change| 0.0060; the LM weights' norm ratio after/before is 0.994022, the
  decay alone predicts (1 - 3e-3 * 0.01)^200 = 0.994018: the whole change is weight decay.
  The loss falls as in fixed (window medians 1.39 -> 0.014), held-out loss 1.54 -> 0.017.
- fixed: LM bit-identical; loss 1.39 -> 0.014, held-out loss 1.54 -> 0.018.
- cost, from the loop (median step incl. its eval; `mx.get_peak_memory()` over the loop):
  peak memory 1.78 MB broken vs 1.18 MB fixed in every run (consistent with AdamW's two
  state arrays, the zero gradients and the updated copies of the 26,720 LM weights, ~0.5 MB).
  Step time is too noisy on this shared 2-core machine to rank the two:
  5.7-6.7 vs 4.9-5.8 ms (2 runs each, load ~4), 17-33 vs 16-28 ms (6 runs each, load ~9).
Under mlxprobe (8 runs): broken -> wrong_result (the frozen-weights check), fixed -> pass;
the LM change and norm ratio were identical in every run, peak memory within 0.01 MB. Wall
2.4-2.6 s at load ~5, 4.3-7.0 s at load ~9-11.
"""

from __future__ import annotations

import statistics
from typing import TYPE_CHECKING

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map

from ._series_train import BATCH, LR, check_frozen, check_held_out, run_steps
from ._timeseries import (
    SeriesConfig,
    TimeSeriesModel,
    evaluate,
    loss_fn,
    make_timeseries_model,
    series_batches,
)

if TYPE_CHECKING:
    from mlxprobe.probe import Probe

SCENARIO = {
    "id": "frozen-backbone-grads",
    "title": "LM 'frozen' by zeroing its gradients: AdamW weight decay still changes it",
    "source": ["003_a039be727e17cf61.txt"],
    "variants": {"broken": "wrong_result", "fixed": "pass"},
    "budget_s": 60,
}

STEPS = 200
CONFIG = SeriesConfig()
WEIGHT_DECAY = optim.AdamW(learning_rate=LR).weight_decay  # mlx's default, 0.01
HINT = "freeze the LM (model.llm.freeze()) instead of zeroing its gradients"


def _zero_llm(grads: dict) -> dict:
    grads["llm"] = tree_map(mx.zeros_like, grads["llm"])  # BUG: "freezing" after the fact
    return grads


def _train(probe: Probe, model: TimeSeriesModel, zero_llm: bool) -> list[float]:
    """The loop (AdamW with its default weight decay); the seconds of each step."""
    optimizer = optim.AdamW(learning_rate=LR)
    loss_and_grad = nn.value_and_grad(model, loss_fn)

    def step(x: mx.array, y: mx.array) -> dict[str, float]:
        loss, grads = loss_and_grad(model, x, y)
        optimizer.update(model, _zero_llm(grads) if zero_llm else grads)
        mx.eval(loss, model.parameters(), optimizer.state)
        return {"loss": loss.item()}

    mx.reset_peak_memory()
    data = series_batches(BATCH, CONFIG.channels, CONFIG.length, seed=1)
    return run_steps(probe, data, STEPS, step)


def _norm(tree: dict) -> float:
    return mx.sqrt(sum(mx.sum(mx.square(a)) for _, a in tree_flatten(tree))).item()


def _run(probe: Probe, model: TimeSeriesModel, zero_llm: bool) -> None:
    before, frozen = evaluate(model, CONFIG), model.llm.parameters()
    seconds = _train(probe, model, zero_llm)
    cost = {"step_ms_median": 1000 * statistics.median(seconds[1:]),
            "peak_memory_mb": mx.get_peak_memory() / 2**20}
    check_frozen(probe, frozen, model.llm.parameters(), HINT,
                 llm_norm_ratio=_norm(model.llm.parameters()) / _norm(frozen),
                 ratio_from_decay_alone=(1 - LR * WEIGHT_DECAY) ** STEPS, **cost)
    check_held_out(probe, model, before, CONFIG)


def broken(probe: Probe) -> None:
    _run(probe, make_timeseries_model(config=CONFIG, freeze=False), zero_llm=True)


def fixed(probe: Probe) -> None:
    _run(probe, make_timeseries_model(config=CONFIG), zero_llm=False)
