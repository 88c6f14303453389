"""custom-trainable-parameters as a plain script: the LM "frozen" by overriding
`trainable_parameters()` instead of calling `model.llm.freeze()`.

broken: the override returns a nested dict: on mlx 0.32 it works exactly like freeze(). broken_flat:
the override returns `{dotted path: array}`: ValueError from `model.update` at the first step.
fixed: `model.llm.freeze()`.
"""

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from _common import Run
from mlx.utils import tree_flatten
from mlxprobe_scenarios._series_train import BATCH, LR, check_frozen, check_held_out
from mlxprobe_scenarios._timeseries import (
    evaluate,
    loss_fn,
    make_timeseries_model,
    series_batches,
)
from mlxprobe_scenarios.custom_trainable_parameters import (
    CONFIG,
    HINT,
    STEPS,
    FlatOverrideModel,
    OverrideModel,
    _make_override,
)

run = Run(["broken", "broken_flat", "fixed"], fmt="iter", every=5, doc=__doc__)
if run.variant == "fixed":
    model = make_timeseries_model(config=CONFIG)  # model.llm.freeze() inside
else:
    model = _make_override(OverrideModel if run.variant == "broken" else FlatOverrideModel)
before, frozen = evaluate(model, CONFIG), model.llm.parameters()
optimizer = optim.AdamW(learning_rate=LR)
loss_and_grad = nn.value_and_grad(model, loss_fn)
graded = set()
data = series_batches(BATCH, CONFIG.channels, CONFIG.length, seed=1)
for n, (x, y) in zip(range(1, STEPS + 1), data):
    loss, grads = loss_and_grad(model, x, y)
    optimizer.update(model, grads)
    mx.eval(loss, model.parameters(), optimizer.state)
    graded.update(path for path, _ in tree_flatten(grads))
    run.step(n, loss.item())

llm_graded = sorted(p for p in graded if p.startswith("llm."))
run.check("no gradient computed for the LM", not llm_graded, hint=HINT,
          graded_arrays=len(graded), llm_graded=llm_graded[:5])
check_frozen(run, frozen, model.llm.parameters(), HINT)
check_held_out(run, model, before, CONFIG)
if run.variant == "broken":
    run.check("nn.value_and_grad used the override", model.override_calls >= STEPS,
              hint="this mlx no longer reads model.trainable_parameters(): use freeze()",
              override_calls=model.override_calls, steps=STEPS)
