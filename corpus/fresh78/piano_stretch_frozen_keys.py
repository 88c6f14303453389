"""Piano tuning: predict the stretch (cents off equal temperament) a tuner sets on each
key, from the key number and three string measurements.  The key number goes through a
fixed sinusoidal code table (an nn.Embedding we set by hand and freeze on purpose); only
the MLP behind it learns.  AdamW with a linear warm-up that starts at exactly 0."""
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

rng = np.random.default_rng(11)
N_KEYS, CODE = 88, 12


def simulate(n):
    key = rng.integers(0, N_KEYS, n)
    length = 2.0 * np.exp(-key / 40.0) + rng.normal(0, 0.03, n)        # m
    diam = 1.6 * np.exp(-key / 55.0) + rng.normal(0, 0.02, n)          # mm
    tension = 800 + 3 * key + rng.normal(0, 20, n)                      # N
    B = 1e-4 * diam ** 4 / (length ** 4 * tension / 800 + 1e-3)        # inharmonicity-ish
    stretch = 18 * np.tanh((key - 44) / 22.0) + 4.0 * np.log1p(200 * B) * np.sign(key - 44)
    stretch = stretch + 0.015 * (key - 44) ** 2 / 10
    y = stretch + rng.normal(0, 0.6, n)
    feats = np.stack([length, diam, (tension - 930) / 80], 1).astype(np.float32)
    return key.astype(np.int32), feats, y.astype(np.float32)


class StretchNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.keytab = nn.Embedding(N_KEYS, CODE)
        pos = np.arange(N_KEYS)[:, None]
        freq = np.exp(-np.arange(CODE // 2) * math.log(60.0) / (CODE // 2))[None] / 4
        table = np.concatenate([np.sin(pos * freq), np.cos(pos * freq)], 1)
        self.keytab.weight = mx.array(table.astype(np.float32))
        self.body = nn.Sequential(nn.Linear(CODE + 3, 64), nn.SiLU(),
                                  nn.Linear(64, 64), nn.SiLU(), nn.Linear(64, 1))

    def __call__(self, k, x):
        return self.body(mx.concatenate([self.keytab(k), x], axis=1)).squeeze(-1)


class Report:
    def __init__(self, **kw):
        self.kw = kw

    def __repr__(self):
        inner = ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
                          for k, v in self.kw.items())
        return f"Report({inner})"


k_tr, x_tr, y_tr = simulate(20000)
k_te, x_te, y_te = simulate(3000)
mu, sd = y_tr.mean(), y_tr.std()
Ktr, Xtr, Ytr = mx.array(k_tr), mx.array(x_tr), mx.array((y_tr - mu) / sd)
Kte, Xte = mx.array(k_te), mx.array(x_te)

model = StretchNet()
model.keytab.freeze()
mx.eval(model.parameters())
table0 = np.array(model.keytab.weight)

sched = optim.join_schedules([optim.linear_schedule(0.0, 2e-3, 200),
                              optim.cosine_decay(2e-3, 2800, 1e-5)], [200])
opt = optim.AdamW(learning_rate=sched, weight_decay=1e-4)


def loss_fn(m, k, x, y):
    return nn.losses.mse_loss(m(k, x), y)


step_fn = nn.value_and_grad(model, loss_fn)


def evaluate():
    pred = np.array(model(Kte, Xte)) * sd + mu
    err = np.abs(pred - y_te)
    return float(np.sqrt(np.mean(err ** 2))), float(100 * np.mean(err < 1.0))


rmse0, w0 = evaluate()
print(Report(stage="untrained", test_rmse_cents=rmse0, within_1c_pct=w0,
             predict_mean_rmse=float(y_te.std())))

BATCH, STEPS = 64, 3000
perm, cur = rng.permutation(len(y_tr)), 0
t0, window = time.time(), []
for step in range(1, STEPS + 1):
    if cur + BATCH > len(perm):
        perm, cur = rng.permutation(len(y_tr)), 0
    idx = mx.array(perm[cur:cur + BATCH]); cur += BATCH
    lr_now = float(opt.learning_rate)
    loss, grads = step_fn(model, Ktr[idx], Xtr[idx], Ytr[idx])
    if step == 1:
        flat = tree_flatten(grads)
        zero = [p for p, g in flat if float(mx.abs(g).max()) == 0.0]
        print(Report(stage="grad_check", trainable_leaves=len(flat), zero_leaves=str(zero),
                     frozen="keytab.weight", lr_first_update=lr_now))
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state, loss)
    window.append(loss.item())
    if step == 1 or step % 500 == 0:
        rmse, w1 = evaluate()
        print(Report(stage="train", step=step, lr=lr_now,
                     train_mse_std=float(np.mean(window)), test_rmse_cents=rmse,
                     within_1c_pct=w1, secs=round(time.time() - t0, 1)))
        window = []

drift = float(np.abs(np.array(model.keytab.weight) - table0).max())
print(Report(stage="done", noise_floor_cents=0.6, frozen_table_max_change=drift))
