"""Sugar-bush sap run: litres of sap per tap per day from one day's readings.

The training step is compiled with its state captured.  Every new batch shape
(the ramp 32 -> 64 -> 128 -> 256 and the short last batch of an epoch) costs one
trace; after that the cached graph is reused.  The trace counter shows this.
"""
import math
import time
from functools import partial

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

rng = np.random.default_rng(11)
mx.random.seed(11)


def make_days(n):
    night = rng.uniform(-14.0, 3.0, n)          # overnight minimum, deg C
    day = rng.uniform(-1.0, 13.0, n)            # daytime maximum, deg C
    since = rng.uniform(0.0, 45.0, n)           # days since the tap went in
    dbh = rng.uniform(25.0, 80.0, n)            # trunk diameter, cm
    vac = rng.uniform(0.0, 25.0, n)             # tubing vacuum, inHg
    brix = rng.uniform(1.2, 3.4, n)             # sap sugar, deg Brix (no effect on flow)
    thaw = np.maximum(day, 0.0)
    freeze = np.maximum(-night, 0.0)
    run = (0.9 * np.sqrt(thaw * freeze) * (1.0 + 0.03 * vac)
           * (dbh / 45.0) ** 0.7 * np.exp(-since / 40.0))
    noisy = run * np.exp(rng.normal(0.0, 0.12, n)) + rng.normal(0.0, 0.15, n)
    x = np.stack([night, day, since, dbh, vac, brix], axis=1).astype(np.float32)
    return x, noisy.astype(np.float32), run.astype(np.float32)


x_tr, y_tr, _ = make_days(9000)
x_va, y_va, clean_va = make_days(1500)
mu, sd = x_tr.mean(0), x_tr.std(0)
ym, ys = float(y_tr.mean()), float(y_tr.std())
Xtr = mx.array((x_tr - mu) / sd)
Ytr = mx.array((y_tr - ym) / ys)
Xva = mx.array((x_va - mu) / sd)

floor_rmse = float(np.sqrt(np.mean((y_va - clean_va) ** 2)))
mean_rmse = float(np.sqrt(np.mean((y_va - ym) ** 2)))


class TapRun(nn.Module):
    def __init__(self, d_in=6, h=64):
        super().__init__()
        self.inp = nn.Linear(d_in, h)
        self.mid = nn.Linear(h, h)
        self.out = nn.Linear(h, 1)

    def __call__(self, x):
        h = nn.silu(self.inp(x))
        h = h + nn.silu(self.mid(h))
        return self.out(h).squeeze(-1)


def loss_fn(model, x, y):
    return nn.losses.mse_loss(model(x), y, reduction="mean")


stages = [(32, 3), (64, 3), (128, 3), (256, 3)]
n = Xtr.shape[0]
total_steps = sum(e * math.ceil(n / b) for b, e in stages)
warm = 100
lr_sched = optim.join_schedules(
    [optim.linear_schedule(0.0, 2e-3, warm),
     optim.cosine_decay(2e-3, total_steps - warm, 1e-4)],
    [warm],
)

model = TapRun()
opt = optim.Adam(learning_rate=lr_sched)
opt.init(model.trainable_parameters())
state = [model.state, opt.state]
value_grad = nn.value_and_grad(model, loss_fn)
traces = 0


@partial(mx.compile, inputs=state, outputs=state)
def train_step(x, y):
    global traces
    traces += 1
    loss, grads = value_grad(model, x, y)
    opt.update(model, grads)
    return loss


def val_rmse():
    pred = model(Xva) * ys + ym
    return float(mx.sqrt(mx.mean((pred - mx.array(y_va)) ** 2)).item())


print(f"# sap days: train {n}, valid {Xva.shape[0]}; brix column carries no signal")
print(f"# valid RMSE of the training mean: {mean_rmse:.3f} L/tap/day; noise floor {floor_rmse:.3f}")
print("stage\tbatch\tepoch\tsteps\tlr_last\ttrain_mse\tvalid_rmse\tlast_batch\ttraces\tsecs")

t0 = time.time()
for s_idx, (bs, epochs) in enumerate(stages, 1):
    for ep in range(1, epochs + 1):
        perm = mx.array(rng.permutation(n))
        tot, cnt = 0.0, 0
        last_len = 0
        for i in range(0, n, bs):
            idx = perm[i:i + bs]
            loss = train_step(Xtr[idx], Ytr[idx])
            mx.eval(loss, model.state, opt.state)
            tot += loss.item() * idx.shape[0]
            cnt += idx.shape[0]
            last_len = idx.shape[0]
        lr_last = float(opt.learning_rate.item())
        print(f"{s_idx}\t{bs}\t{ep}\t{int(opt.step.item())}\t{lr_last:.2e}\t"
              f"{tot / cnt:.4f}\t{val_rmse():.4f}\t{last_len}\t{traces}\t{time.time() - t0:.1f}")

print(f"# done: {int(opt.step.item())} updates, compiled step traced {traces} time(s), "
      f"final valid RMSE {val_rmse():.3f} L/tap/day (floor {floor_rmse:.3f})")
