"""frozen-backbone-grads as a plain script: the LM "frozen" by zeroing its gradients.

broken: the LM stays trainable and its gradients are replaced by zeros before the update;
AdamW's weight decay still shrinks it a little every step (the loss falls as usual).
fixed: `model.llm.freeze()`.
"""

import statistics
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from _common import Run
from mlxprobe_scenarios._series_train import BATCH, LR, check_frozen, check_held_out
from mlxprobe_scenarios._timeseries import (
    evaluate,
    loss_fn,
    make_timeseries_model,
    series_batches,
)
from mlxprobe_scenarios.frozen_backbone_grads import (
    CONFIG,
    HINT,
    STEPS,
    WEIGHT_DECAY,
    _norm,
    _zero_llm,
)

run = Run(["broken", "fixed"], fmt="step", every=10, doc=__doc__)
zero_llm = run.variant == "broken"
model = make_timeseries_model(config=CONFIG, freeze=not zero_llm)
before, frozen = evaluate(model, CONFIG), model.llm.parameters()
optimizer = optim.AdamW(learning_rate=LR)
loss_and_grad = nn.value_and_grad(model, loss_fn)
mx.reset_peak_memory()
seconds = []
data = series_batches(BATCH, CONFIG.channels, CONFIG.length, seed=1)
for n, (x, y) in zip(range(1, STEPS + 1), data):
    start = time.perf_counter()
    loss, grads = loss_and_grad(model, x, y)
    optimizer.update(model, _zero_llm(grads) if zero_llm else grads)  # broken: zeroed LM grads
    mx.eval(loss, model.parameters(), optimizer.state)
    value = loss.item()
    seconds.append(time.perf_counter() - start)
    run.step(n, value)

cost = {"step_ms_median": 1000 * statistics.median(seconds[1:]),
        "peak_memory_mb": mx.get_peak_memory() / 2**20}
check_frozen(run, frozen, model.llm.parameters(), HINT,
             llm_norm_ratio=_norm(model.llm.parameters()) / _norm(frozen),
             ratio_from_decay_alone=(1 - LR * WEIGHT_DECAY) ** STEPS, **cost)
check_held_out(run, model, before, CONFIG)
