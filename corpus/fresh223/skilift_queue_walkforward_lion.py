"""Ski resort lift-line logger: forecast the wait (minutes) at the base chair for
the next 15-minute slot from the last 12 slots plus the day's snow report.
Walk-forward validation over the season: each fold retrains from scratch on all
earlier days and is scored on the next block of days."""
import json
import math
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_map, tree_flatten

SLOTS, HIST = 32, 12
rng = np.random.default_rng(11)


def make_season(n_days=120):
    t = np.arange(SLOTS) / SLOTS
    days = []
    for d in range(n_days):
        snow = max(0.0, rng.gamma(0.6, 12.0) - 4.0)           # cm overnight
        weekend = 1.0 if d % 7 in (5, 6) else 0.0
        base = 4 + 6 * weekend + 0.35 * snow
        shape = 1.2 * np.exp(-((t - 0.18) / 0.08) ** 2) + 0.4 * np.exp(-((t - 0.62) / 0.12) ** 2)
        wait = base * (0.5 + shape) + np.cumsum(rng.normal(0, 0.5, SLOTS))
        days.append((np.clip(wait, 0, None), snow, weekend))
    return days


def windows(days, lo, hi):
    X, S, Y, P = [], [], [], []
    for wait, snow, weekend in days[lo:hi]:
        for s in range(HIST, SLOTS):
            X.append(wait[s - HIST:s])
            S.append([snow / 10.0, weekend, s / SLOTS])
            Y.append(wait[s])
            P.append(wait[s - 1])                                  # persistence forecast
    f = lambda a: mx.array(np.asarray(a, np.float32))
    return f(X), f(S), f(Y), f(P)


class QueueNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv1d(1, 8, kernel_size=3)
        self.mix = nn.Linear(8 * (HIST - 2) + 3, 32)
        self.out = nn.Linear(32, 1)

    def __call__(self, x, s):
        h = nn.gelu(self.conv((x / 20.0)[..., None]))
        h = mx.concatenate([h.reshape(h.shape[0], -1), s], axis=1)
        return 20.0 * self.out(nn.gelu(self.mix(h))).squeeze(-1) + x[:, -1]


def loss_fn(model, x, s, y):
    return nn.losses.huber_loss(model(x, s), y, delta=2.0, reduction="mean")


def r2(pred, y):
    return 1.0 - (mx.sum((pred - y) ** 2) / mx.sum((y - mx.mean(y)) ** 2)).item()


season = make_season()
folds = [(0, 60, 80), (0, 80, 100), (0, 100, 120)]
summary = []
for k, (lo, mid, hi) in enumerate(folds, 1):
    mx.random.seed(100 + k)
    xt, st, yt, _ = windows(season, lo, mid)
    xv, sv, yv, pv = windows(season, mid, hi)
    model = QueueNet()
    mx.eval(model.parameters())
    warm = optim.linear_schedule(0.0, 1e-3, 40)
    decay = optim.cosine_decay(1e-3, 260, 1e-5)
    opt = optim.Lion(learning_rate=optim.join_schedules([warm, decay], [40]), weight_decay=0.01)
    vg = nn.value_and_grad(model, loss_fn)
    if k == 1:
        _, g0 = vg(model, xt[:256], st[:256], yt[:256])
        zero = [n for n, v in tree_flatten(g0) if mx.all(v == 0).item()]
        print(json.dumps({"event": "grad_audit", "params": len(tree_flatten(g0)), "zero_grad": zero}))
    best, best_params, bad, n = float("inf"), None, 0, xt.shape[0]
    persist_mae = mx.mean(mx.abs(pv - yv)).item()
    for epoch in range(1, 301):
        idx = mx.array(rng.permutation(n)[:256])
        loss, grads = vg(model, xt[idx], st[idx], yt[idx])
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        if epoch % 20 == 0:
            pred = model(xv, sv)
            mae = mx.mean(mx.abs(pred - yv)).item()
            print(json.dumps({"fold": k, "step": epoch, "lr": round(float(opt.learning_rate.item()), 7),
                              "huber": round(loss.item(), 4), "val_mae_min": round(mae, 3),
                              "persistence_mae_min": round(persist_mae, 3), "val_r2": round(r2(pred, yv), 4)}))
            if mae < best - 1e-3:
                best, bad = mae, 0
                best_params = tree_map(lambda a: mx.array(a), model.parameters())
            else:
                bad += 1
                if bad >= 4:
                    print(json.dumps({"fold": k, "event": "early_stop", "step": epoch, "best_val_mae_min": round(best, 3)}))
                    break
    model.update(best_params)
    pred = model(xv, sv)
    mae = mx.mean(mx.abs(pred - yv)).item()
    summary.append((k, mid, hi, mae, persist_mae, r2(pred, yv)))
    print(json.dumps({"fold": k, "event": "restored", "val_mae_min": round(mae, 3)}))

print("fold  days     mae(min)  persistence  r2")
for k, mid, hi, mae, pm, rr in summary:
    print(f"{k:>4}  {mid:3d}-{hi:3d}  {mae:8.3f}  {pm:11.3f}  {rr:6.3f}")
print(f"mean skill over persistence: {100 * (1 - np.mean([s[3] for s in summary]) / np.mean([s[4] for s in summary])):.1f}%")
