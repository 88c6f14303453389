"""Heart-rate response of a cyclist to power, cadence and grade.

3-fold CV of a small causal Conv1d net; each fold starts a fresh model with a
learning-rate warmup from exactly 0 (Lion), early-stops on validation MAE (bpm)
and restores its best weights. Logs JSON lines.
"""
import json
import math

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten, tree_map

mx.set_default_device(mx.cpu)
rng = np.random.default_rng(11)

N_RIDES, T = 180, 32


def simulate(n):
    power = np.zeros((n, T)); cad = np.zeros((n, T)); grade = np.zeros((n, T)); hr = np.zeros((n, T))
    for i in range(n):
        base_p = rng.uniform(120, 260)
        g = np.cumsum(rng.normal(0, 0.6, T)).clip(-6, 9)
        p = base_p + 14 * g + rng.normal(0, 25, T)
        p[rng.integers(6, 26):][:5] += rng.uniform(150, 300)          # one sprint
        c = 92 - 1.8 * g + rng.normal(0, 4, T)
        h = np.empty(T); h[0] = 70 + 0.2 * base_p
        for t in range(1, T):
            target = 58 + 0.42 * p[t] - 0.25 * (c[t] - 90)
            h[t] = h[t - 1] + 0.18 * (target - h[t - 1])
        power[i], cad[i], grade[i], hr[i] = p, c, g, h + rng.normal(0, 2.0, T)
    x = np.stack([(power - 200) / 80, (cad - 90) / 8, grade / 4], -1).astype(np.float32)
    return x, hr.astype(np.float32)


X, HR = simulate(N_RIDES)
HR_MU, HR_SD = float(HR.mean()), float(HR.std())


class CausalConv(nn.Module):
    def __init__(self, cin, cout, k, dil=1):
        super().__init__()
        self.pad = (k - 1) * dil
        self.conv = nn.Conv1d(cin, cout, k, dilation=dil)

    def __call__(self, x):
        x = mx.pad(x, [(0, 0), (self.pad, 0), (0, 0)])
        return self.conv(x)


class HRNet(nn.Module):
    def __init__(self, h=16):
        super().__init__()
        self.c1 = CausalConv(3, h, 5)
        self.c2 = CausalConv(h, h, 5, dil=2)
        self.c3 = CausalConv(h, h, 5, dil=4)
        self.out = nn.Linear(h, 1)

    def __call__(self, x):
        y = nn.gelu(self.c1(x))
        y = y + nn.gelu(self.c2(y))
        y = y + nn.gelu(self.c3(y))
        return self.out(y)[..., 0]


def loss_fn(model, x, yz):
    return mx.mean((model(x) - yz) ** 2)


def mae_bpm(model, x, y):
    pred = model(x) * HR_SD + HR_MU
    return mx.mean(mx.abs(pred - y))


folds = np.array_split(rng.permutation(N_RIDES), 3)
summary = []
for fold, val_idx in enumerate(folds, start=1):
    tr_idx = np.setdiff1d(np.arange(N_RIDES), val_idx)
    xtr, ytr = mx.array(X[tr_idx]), mx.array(HR[tr_idx])
    xva, yva = mx.array(X[val_idx]), mx.array(HR[val_idx])
    ytr_z = (ytr - HR_MU) / HR_SD
    baseline = float(mx.mean(mx.abs(yva - mx.mean(ytr))))   # constant-mean predictor

    mx.random.seed(100 + fold)
    model = HRNet()
    steps_per_epoch = math.ceil(len(tr_idx) / 32)
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, 6e-4, 20), optim.cosine_decay(6e-4, 40 * steps_per_epoch, 5e-5)], [20]
    )
    opt = optim.Lion(learning_rate=sched, weight_decay=1e-3)
    step_fn = nn.value_and_grad(model, loss_fn)

    if fold == 1:
        _, g0 = step_fn(model, xtr[:32], ytr_z[:32])
        norms = {k: float(mx.linalg.norm(v.reshape(-1))) for k, v in tree_flatten(g0)}
        print(json.dumps({"event": "grad_audit", "tensors": len(norms), "min_norm": round(min(norms.values()), 6),
                          "zero": [k for k, v in norms.items() if v == 0.0]}))

    best, best_state, best_epoch, wait, step = float("inf"), None, 0, 0, 0
    for epoch in range(1, 41):
        perm = mx.array(rng.permutation(len(tr_idx)))
        tot = 0.0
        lr_start = float(opt.learning_rate)
        for s in range(0, len(tr_idx), 32):
            b = perm[s:s + 32]
            lr_now = float(opt.learning_rate)
            loss, grads = step_fn(model, xtr[b], ytr_z[b])
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
            tot += loss.item() * b.size
            step += 1
        val = mae_bpm(model, xva, yva).item()
        if val < best - 0.01:
            best, best_epoch, wait = val, epoch, 0
            best_state = tree_map(lambda a: a, model.parameters())
        else:
            wait += 1
        if epoch % 4 == 0 or epoch == 1:
            print(json.dumps({"fold": fold, "epoch": epoch, "step": step, "lr_start": round(lr_start, 7), "lr_end": round(lr_now, 7),
                              "train_mse_z": round(tot / len(tr_idx), 4), "val_mae_bpm": round(val, 2),
                              "baseline_mae_bpm": round(baseline, 2)}))
        if wait >= 6:
            print(json.dumps({"fold": fold, "event": "early_stop", "epoch": epoch, "restore_epoch": best_epoch}))
            break
    model.update(best_state)
    mx.eval(model.parameters())
    restored = mae_bpm(model, xva, yva).item()
    summary.append({"fold": fold, "best_epoch": best_epoch, "val_mae_bpm": round(restored, 2),
                    "baseline_mae_bpm": round(baseline, 2), "skill_pct": round(100 * (1 - restored / baseline), 1)})
    print(json.dumps({"fold": fold, "event": "restored", **summary[-1]}))

print(json.dumps({"event": "cv_summary",
                  "mean_val_mae_bpm": round(sum(s["val_mae_bpm"] for s in summary) / 3, 2),
                  "mean_skill_pct": round(sum(s["skill_pct"] for s in summary) / 3, 1)}))
