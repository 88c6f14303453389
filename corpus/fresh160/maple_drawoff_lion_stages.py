"""Sugarhouse evaporator: predict draw-off syrup density (deg Brix) from evaporator readings.

Two-stage curriculum: early-season clear sap first, then the whole season including
late 'buddy' sap (noisier, different chemistry).  Lion optimizer, lr warmup from 0 and
cosine warm restarts inside each stage; compiled train step; JSON-lines log.
"""
import json
import math
from functools import partial

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

mx.random.seed(11)

N_FEAT = 6  # sap sugar %, flue temp, boil rate, pan depth, defoamer flag, days into season


def simulate(n, late_share):
    sap = mx.random.uniform(1.2, 3.2, (n,))
    flue = mx.random.uniform(480, 760, (n,))
    boil = mx.random.uniform(0.5, 1.5, (n,))
    depth = mx.random.uniform(2.0, 5.0, (n,))
    defoam = (mx.random.uniform(0, 1, (n,)) < 0.4).astype(mx.float32)
    late = (mx.random.uniform(0, 1, (n,)) < late_share).astype(mx.float32)
    day = mx.where(late > 0, mx.random.uniform(30, 45, (n,)), mx.random.uniform(0, 30, (n,)))
    brix = (58.0 + 3.2 * mx.log(sap) + 0.012 * (flue - 600) - 2.5 * (boil - 1.0) ** 2
            - 0.9 * (depth - 3.5) + 0.6 * defoam - 0.09 * late * mx.maximum(day - 30, 0.0) ** 1.2
            + 1.5 * mx.tanh((flue - 650) / 60) * (depth < 3.0))
    noise_sd = 0.35 + 0.9 * late
    brix = brix + noise_sd * mx.random.normal((n,))
    X = mx.stack([sap, flue, boil, depth, defoam, day], axis=1)
    return X, brix


X_tr, y_tr = simulate(6000, late_share=0.3)
X_va, y_va = simulate(1500, late_share=0.3)
mu, sd = X_tr.mean(axis=0), X_tr.std(axis=0)
y_mu, y_sd = y_tr.mean(), y_tr.std()
norm = lambda X: (X - mu) / sd
Xn_tr, Xn_va = norm(X_tr), norm(X_va)
yn_tr = (y_tr - y_mu) / y_sd
is_early_tr = X_tr[:, 5] < 30
is_early_va = X_va[:, 5] < 30


class DrawOffNet(nn.Module):
    def __init__(self, width=48):
        super().__init__()
        self.l1 = nn.Linear(N_FEAT, width)
        self.l2 = nn.Linear(width, width)
        self.head = nn.Linear(width, 1)

    def __call__(self, x):
        h = nn.silu(self.l1(x))
        h = h + nn.silu(self.l2(h))
        return self.head(h).squeeze(-1)


model = DrawOffNet()
mx.eval(model.parameters())

STEPS_PER_EPOCH, BATCH = 40, 128
STAGES = [("early_clear_sap", 8), ("full_season", 12)]
CYCLE = 4 * STEPS_PER_EPOCH  # restart every 4 epochs


def lr_at(step_in_stage, peak):
    warm = STEPS_PER_EPOCH
    if step_in_stage < warm:
        return peak * step_in_stage / warm  # starts at exactly 0.0
    c = (step_in_stage - warm) % CYCLE
    return peak * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * c / CYCLE)))


opt = optim.Lion(learning_rate=0.0, weight_decay=1e-3)


def mse(m, x, y):
    return ((m(x) - y) ** 2).mean()


state = [model.state, opt.state]


@partial(mx.compile, inputs=state, outputs=state)
def train_step(x, y):
    loss, grads = nn.value_and_grad(model, mse)(model, x, y)
    opt.update(model, grads)
    return loss


# gradient audit before training: every parameter we train should get a signal
_, g0 = nn.value_and_grad(model, mse)(model, Xn_tr[:256], yn_tr[:256])
zero = [k for k, v in tree_flatten(g0) if mx.abs(v).max().item() == 0.0]
print(json.dumps({"event": "grad_audit", "n_tensors": len(tree_flatten(g0)), "zero_grad": zero}))

mean_baseline_mae = mx.abs(y_va - y_mu).mean().item()


def val_report():
    pred = model(Xn_va) * y_sd + y_mu
    err = mx.abs(pred - y_va)
    return {
        "val_mae_brix": round(err.mean().item(), 4),
        "val_mae_early": round((err * is_early_va).sum().item() / is_early_va.sum().item(), 4),
        "val_mae_late": round((err * (1 - is_early_va)).sum().item() / (1 - is_early_va).sum().item(), 4),
        "within_1brix_pct": round(100 * (err < 1.0).astype(mx.float32).mean().item(), 2),
        "ref_mean_mae": round(mean_baseline_mae, 4),
    }


summary = []
for stage_name, n_epochs in STAGES:
    if stage_name == "early_clear_sap":
        idx = mx.array([i for i, e in enumerate(is_early_tr.tolist()) if e])
    else:
        idx = mx.arange(Xn_tr.shape[0])
    pool_x, pool_y = Xn_tr[idx], yn_tr[idx]
    step_in_stage = 0
    for epoch in range(1, n_epochs + 1):
        tot = 0.0
        for _ in range(STEPS_PER_EPOCH):
            opt.learning_rate = lr_at(step_in_stage, 1e-3)
            b = mx.random.randint(0, pool_x.shape[0], (BATCH,))
            loss = train_step(pool_x[b], pool_y[b])
            mx.eval(state, loss)
            tot += loss.item()
            step_in_stage += 1
        rec = {"stage": stage_name, "epoch": epoch, "lr": round(float(opt.learning_rate.item()), 7),
               "train_mse_z": round(tot / STEPS_PER_EPOCH, 5)}
        rec.update(val_report())
        print(json.dumps(rec))
    summary.append((stage_name, rec["val_mae_brix"], rec["val_mae_early"], rec["val_mae_late"]))

print("\nstage            | val MAE (Brix) | early | late | mean-predictor MAE")
for s, a, e, l in summary:
    print(f"{s:<16} | {a:14.3f} | {e:5.3f} | {l:4.3f} | {mean_baseline_mae:.3f}")
