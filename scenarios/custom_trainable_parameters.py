"""custom-trainable-parameters: "freezing" the LM by overriding `trainable_parameters()`.

Source: ../shared/seeds/003_a039be727e17cf61.txt, fix 3 "MLX Built-in Freeze: Custom
`trainable_parameters()` method wasn't compatible with `nn.value_and_grad`", fixed by
`self.llm.freeze()` ("Don't override `trainable_parameters()`"). The report does not show its
override. Tested: what an override really does on current mlx.
Claimed bug: the model leaves its LM unfrozen and overrides `trainable_parameters()` to return
only the encoder, projector and head. Claimed symptom: "not compatible", listed among the
fixes for gradients that did not flow ("grad_norm = 886.13 (was 0.00!)"); that zero is
explained by the report's fix 4, see closure-value-and-grad.

What really happens on mlx 0.32.4: `nn.value_and_grad(model, fn)` calls
`model.trainable_parameters()` (so the override is used), traces those arrays, puts them into
the model with `model.update(params)` (strict: every key must name an existing parameter), and
differentiates only them; `optimizer.update` touches only the keys of the gradient tree. So:
- broken (the override returns a nested dict, the shape `parameters()` has): it works exactly
  like `freeze()`. The override is called once per step, gradients exist only for encoder,
  projector and head, the LM weights are bit-identical after training, and every loss and
  held-out number equals the fixed run's bit for bit (same seeds). Verdict: pass.
- broken_flat (the override returns `{path: array}` flattened with `tree_flatten`, the way the
  report's other code walked parameters): the first step raises ValueError 'Module does not
  have parameter named "encoder.layers.0.weight".' from `model.update` (a list of arrays
  raises KeyError 0 there instead). This shape is a guess: the report does not show its code.
- fixed: `model.llm.freeze()`, the mlx way: pass.
So the report's claim does not hold for a correctly shaped override: a wrong shape fails
loudly, a right one works. `freeze()` is still the simpler fix: with the override the
module's own flags disagree with what trains (`model.llm.trainable_parameters()` still lists
every LM weight), so any code that asks the submodule gets the wrong answer.

Measured here (mlx 0.32.4, CPU, 2 cores, 2026-11-21), batch 32, AdamW lr 3e-3, 150 steps:
broken and fixed alike: loss 1.41 -> 0.020 (window medians), held-out loss 1.54 -> 0.026,
accuracy 31% -> 99%, LM max |change| 0.0, 8 arrays got gradients (none under `llm`); broken:
150 override calls for 150 steps. broken_flat: the ValueError above at step 1.
Under mlxprobe (8 runs, identical numbers each time): pass, crash:ValueError, pass. Wall
1.2-1.3 s per training variant at load ~4, 3.5-4.9 s at load ~9-11.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

from ._lm import make_model
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
    "id": "custom-trainable-parameters",
    "title": "LM 'frozen' by overriding trainable_parameters(): works if shaped right (mlx 0.32)",
    "source": ["003_a039be727e17cf61.txt"],
    "variants": {"broken": "pass", "broken_flat": "crash:ValueError", "fixed": "pass"},
    "budget_s": 60,
}

STEPS = 150
CONFIG = SeriesConfig()
HINT = "freeze the LM with model.llm.freeze() instead of overriding trainable_parameters()"


class OverrideModel(TimeSeriesModel):
    """The report's approach: the LM stays unfrozen; `trainable_parameters()` leaves it out."""

    def __init__(self, config: SeriesConfig, llm: nn.Module) -> None:
        super().__init__(config, llm)
        self.override_calls = 0  # a plain attribute: not a parameter

    def trainable_parameters(self) -> dict:
        self.override_calls += 1
        return {"encoder": self.encoder.parameters(), "projector": self.projector.parameters(),
                "head": self.head.parameters()}


class FlatOverrideModel(OverrideModel):
    """The same override returning `{dotted path: array}` (a guess at another shape)."""

    def trainable_parameters(self) -> dict:
        return dict(tree_flatten(super().trainable_parameters()))


def _make_override(cls: type[OverrideModel], seed: int = 0) -> OverrideModel:
    """As `make_timeseries_model(seed, freeze=False)`, but of class `cls` (same weights)."""
    llm = make_model(seed)
    mx.random.seed(seed)
    model = cls(CONFIG, llm)
    mx.eval(model.parameters())
    return model


def _train(probe: Probe, model: TimeSeriesModel) -> set[str]:
    """The correct loop; the set of parameter paths that ever got a gradient."""
    optimizer = optim.AdamW(learning_rate=LR)
    loss_and_grad = nn.value_and_grad(model, loss_fn)
    graded: set[str] = set()

    def step(x: mx.array, y: mx.array) -> dict[str, float]:
        loss, grads = loss_and_grad(model, x, y)
        optimizer.update(model, grads)
        mx.eval(loss, model.parameters(), optimizer.state)
        graded.update(path for path, _ in tree_flatten(grads))
        return {"loss": loss.item()}

    run_steps(probe, series_batches(BATCH, CONFIG.channels, CONFIG.length, seed=1), STEPS, step)
    return graded


def _run_and_check(probe: Probe, model: TimeSeriesModel) -> None:
    before, frozen = evaluate(model, CONFIG), model.llm.parameters()
    graded = _train(probe, model)
    llm_graded = sorted(p for p in graded if p.startswith("llm."))
    probe.check("no gradient computed for the LM", not llm_graded, hint=HINT,
                graded_arrays=len(graded), llm_graded=llm_graded[:5])
    check_frozen(probe, frozen, model.llm.parameters(), HINT)
    check_held_out(probe, model, before, CONFIG)


def broken(probe: Probe) -> None:
    model = _make_override(OverrideModel)
    _run_and_check(probe, model)
    probe.check("nn.value_and_grad used the override", model.override_calls >= STEPS,
                hint="this mlx no longer reads model.trainable_parameters(): use freeze()",
                override_calls=model.override_calls, steps=STEPS)


def broken_flat(probe: Probe) -> None:
    _run_and_check(probe, _make_override(FlatOverrideModel))


def fixed(probe: Probe) -> None:
    _run_and_check(probe, make_timeseries_model(config=CONFIG))  # model.llm.freeze() inside
