# Stained-glass studio: predict the opacity (%) of a grisaille paint line after
# firing, from kiln and paint records. Stage 1 learns on float glass only;
# stage 2 adds mouth-blown "antique" sheets, which fire differently.
import json
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

rng = np.random.default_rng(1517)


def make_sheets(n, antique):
    peak_c = rng.uniform(620, 690, n)          # kiln peak temperature
    hold_min = rng.uniform(2, 25, n)           # soak at peak
    layer_um = rng.uniform(8, 60, n)           # paint layer thickness
    flux = rng.uniform(0.15, 0.45, n)          # flux share in the paint
    cool = rng.uniform(40, 220, n)             # cooling rate degC/h
    seeds = rng.uniform(0, 1, n) if antique else np.zeros(n)  # bubble/seed density
    heat_work = (peak_c - 600) / 60 * np.log1p(hold_min) / 2.5
    sink = 1 - np.exp(-heat_work * (0.6 + 2.0 * flux))
    opacity = 100 * (1 - np.exp(-layer_um / 22)) * (1 - 0.55 * sink)
    if antique:
        opacity = opacity - 18 * seeds * sink + 6 * np.sin(cool / 35) + 9 * (flux > 0.33)
    opacity = opacity + rng.normal(0, 1.5, n)
    X = np.stack([(peak_c - 655) / 20, np.log(hold_min) - 2, (layer_um - 34) / 15,
                  (flux - 0.3) / 0.09, (cool - 130) / 52, seeds,
                  np.full(n, 1.0 if antique else 0.0)], axis=1)
    return X.astype(np.float32), opacity.astype(np.float32)


Xf, yf = make_sheets(2400, antique=False)
Xa, ya = make_sheets(2400, antique=True)
Xf_tr, yf_tr, Xf_te, yf_te = Xf[:2000], yf[:2000], Xf[2000:], yf[2000:]
Xa_tr, ya_tr, Xa_te, ya_te = Xa[:2000], ya[:2000], Xa[2000:], ya[2000:]

Y_MEAN, Y_SD = 60.0, 20.0  # fixed scaling of the target, in percent


class OpacityNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(7, 64)
        self.l2 = nn.Linear(64, 64)
        self.out = nn.Linear(64, 1)

    def __call__(self, x):
        h = nn.silu(self.l1(x))
        h = h + nn.silu(self.l2(h))
        return self.out(h).squeeze(-1)


def loss_fn(model, x, y):
    return nn.losses.mse_loss(model(x), (y - Y_MEAN) / Y_SD)


mx.random.seed(3)
model = OpacityNet()


def stage_schedule(steps, peak):
    warm = optim.linear_schedule(0.0, peak, 60)       # starts at exactly 0
    decay = optim.cosine_decay(peak, steps - 60, end=peak * 0.05)
    return optim.join_schedules([warm, decay], [60])


def rmse_pct(X, y):
    pred = model(mx.array(X)) * Y_SD + Y_MEAN
    return math.sqrt(mx.mean((pred - mx.array(y)) ** 2).item())


# one-off gradient audit before training
_, g0 = nn.value_and_grad(model, loss_fn)(model, mx.array(Xa_tr[:256]), mx.array(ya_tr[:256]))
audit = {k: round(float(mx.linalg.norm(v).item()), 5) for k, v in tree_flatten(g0)}
print(json.dumps({"event": "grad_audit", "zero_grads": [k for k, v in audit.items() if v == 0.0],
                  "min_norm": min(audit.values()), "n_tensors": len(audit)}))

stages = [
    {"stage": 1, "name": "float_only", "X": Xf_tr, "y": yf_tr, "steps": 500, "peak": 2e-3},
    {"stage": 2, "name": "float+antique", "X": np.concatenate([Xf_tr, Xa_tr]),
     "y": np.concatenate([yf_tr, ya_tr]), "steps": 900, "peak": 1.5e-3},
]
# predict-the-mean baselines, printed beside the model for reference
base_f = float(np.std(yf_te))
base_a = float(np.std(ya_te))
t0 = time.time()
for st in stages:
    sched = stage_schedule(st["steps"], st["peak"])
    opt = optim.RMSprop(learning_rate=sched, alpha=0.95)
    state = [model.state, opt.state]

    def train_step(x, y):
        loss, grads = nn.value_and_grad(model, loss_fn)(model, x, y)
        opt.update(model, grads)
        return loss

    train_step = mx.compile(train_step, inputs=state, outputs=state)

    X, y = st["X"], st["y"]
    n = len(X)
    run = 0.0
    for it in range(1, st["steps"] + 1):
        idx = rng.integers(0, n, 128)
        lr_now = float(sched(mx.array(it - 1)).item())
        loss = train_step(mx.array(X[idx]), mx.array(y[idx]))
        mx.eval(loss, model.parameters(), opt.state)
        run = loss.item() if it == 1 else 0.9 * run + 0.1 * loss.item()
        if it == 1 or it % 100 == 0:
            print(json.dumps({
                "stage": st["stage"], "it": it, "lr": round(lr_now, 7),
                "train_mse_z": round(run, 4),
                "float_rmse_pct": round(rmse_pct(Xf_te, yf_te), 3), "float_base": round(base_f, 3),
                "antique_rmse_pct": round(rmse_pct(Xa_te, ya_te), 3), "antique_base": round(base_a, 3),
            }))
    print(json.dumps({"event": "stage_done", "stage": st["stage"], "name": st["name"],
                      "seconds": round(time.time() - t0, 2)}))

print(json.dumps({"event": "final", "float_rmse_pct": round(rmse_pct(Xf_te, yf_te), 3),
                  "antique_rmse_pct": round(rmse_pct(Xa_te, ya_te), 3),
                  "float_vs_base_pct": round(100 * rmse_pct(Xf_te, yf_te) / base_f, 1),
                  "antique_vs_base_pct": round(100 * rmse_pct(Xa_te, ya_te) / base_a, 1)}))
