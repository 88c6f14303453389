# Apothecary bench log: tincture potency (mg/mL) from 8 preparation readings.
# A frozen "pharmacopoeia" linear prior plus a trainable residual MLP, trained with
# Lion in two curriculum stages (fresh herbs, then aged herbs with a harder law);
# each stage warms the learning rate up from exactly 0.  Compiled step, JSON lines.
import json
import time
from functools import partial

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten

rng = np.random.default_rng(2024)
D = 8
W_PRIOR = np.array([2.0, 1.2, -0.8, 0.6, 0.0, 0.4, -0.3, 0.0], np.float32)


def batch_of(n, aged):
    x = rng.normal(size=(n, D)).astype(np.float32)
    y = x @ W_PRIOR + 0.9 * np.tanh(x[:, 0] * x[:, 1]) + 0.5 * np.sin(2.0 * x[:, 4])
    if aged:  # aged herbs: degradation depends on storage days x humidity
        y = y - 0.8 * np.maximum(x[:, 6], 0) * (1 + x[:, 7]) ** 2 / 2
    y = 10.0 + 2.0 * y + 0.3 * rng.normal(size=n)
    return mx.array(x), mx.array(y.astype(np.float32))


class Potency(nn.Module):
    def __init__(self):
        super().__init__()
        self.prior = nn.Linear(D, 1)
        self.prior.weight = mx.array(2.0 * W_PRIOR[None, :])
        self.prior.bias = mx.array([10.0])
        self.prior.freeze()  # the pharmacopoeia table is not learned
        self.res = nn.Sequential(nn.Linear(D, 64), nn.SiLU(), nn.Linear(64, 64), nn.SiLU(), nn.Linear(64, 1))

    def __call__(self, x):
        return (self.prior(x) + self.res(x)).squeeze(-1)


mx.random.seed(7)
model = Potency()
mx.eval(model.parameters())


def loss_fn(m, x, y):
    return nn.losses.huber_loss(m(x), y, delta=1.0, reduction="mean")


n_train = sum(v.size for _, v in tree_flatten(model.trainable_parameters()))
n_all = sum(v.size for _, v in tree_flatten(model.parameters()))
print(json.dumps({"event": "setup", "trainable": n_train, "total": n_all}))

xv_f, yv_f = batch_of(1000, aged=False)
xv_a, yv_a = batch_of(1000, aged=True)
prior_mae_a = mx.abs(model.prior(xv_a).squeeze(-1) - yv_a).mean().item()

STAGES = [("fresh", False, 700), ("aged", True, 900)]
t0 = time.time()
for sname, aged, steps in STAGES:
    sched = optim.join_schedules([optim.linear_schedule(0.0, 3e-4, 100), optim.cosine_decay(3e-4, steps - 100, 1e-5)], [100])
    opt = optim.Lion(learning_rate=sched, weight_decay=0.01)
    state = [model.state, opt.state]

    @partial(mx.compile, inputs=state, outputs=state)
    def step(x, y):
        loss, g = nn.value_and_grad(model, loss_fn)(model, x, y)
        opt.update(model, g)
        return loss

    if sname == "fresh":
        _, g = nn.value_and_grad(model, loss_fn)(model, *batch_of(256, False))
        norms = {k: round(mx.linalg.norm(v).item(), 4) for k, v in tree_flatten(g)}
        print(json.dumps({"event": "grad_check", "min_norm": min(norms.values()), "tensors": len(norms)}))

    run = 0.0
    for it in range(1, steps + 1):
        x, y = batch_of(128, aged)
        loss = step(x, y)
        mx.eval(loss, model.parameters(), opt.state)
        run += loss.item()
        if it % 100 == 0:
            lr = opt.learning_rate.item()
            mae_f = mx.abs(model(xv_f) - yv_f).mean().item()
            mae_a = mx.abs(model(xv_a) - yv_a).mean().item()
            print(json.dumps({"stage": sname, "step": it, "lr": float(f"{lr:.3g}"), "huber": round(run / 100, 4),
                              "mae_fresh_mg_ml": round(mae_f, 3), "mae_aged_mg_ml": round(mae_a, 3),
                              "prior_only_mae_aged": round(prior_mae_a, 3)}))
            run = 0.0

print(json.dumps({"event": "done", "seconds": round(time.time() - t0, 1),
                  "final_mae_aged": round(mx.abs(model(xv_a) - yv_a).mean().item(), 3),
                  "frozen_prior_unchanged": bool(mx.array_equal(model.prior.weight, mx.array(2.0 * W_PRIOR[None, :])).item())}))
