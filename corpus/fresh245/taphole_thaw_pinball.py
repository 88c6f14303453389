import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

rng = np.random.default_rng(7)
WIN, HOR = 48, 6          # 48 h of history, forecast next 6 h
QS = mx.array([0.1, 0.5, 0.9])


def make_season(days, shift):
    t = np.arange(days * 24)
    temp = -2.0 + shift + 6.0 * np.sin(2 * np.pi * (t % 24 - 8) / 24) + 3.0 * np.sin(2 * np.pi * t / (24 * 9))
    thaw = np.clip(temp, 0, None)
    flow = 0.8 * thaw + 0.4 * np.convolve(thaw, np.ones(6) / 6, mode="same")
    flow = flow + rng.gamma(2.0, 0.25, size=t.shape) * (thaw > 0)
    feats = np.stack([flow, temp / 5.0, np.sin(2 * np.pi * (t % 24) / 24), np.cos(2 * np.pi * (t % 24) / 24)], -1)
    return feats.astype(np.float32)


def windows(feats):
    X, Y, naive = [], [], []
    for s in range(0, len(feats) - WIN - HOR, 1):
        X.append(feats[s:s + WIN].reshape(-1))
        Y.append(feats[s + WIN:s + WIN + HOR, 0])
        naive.append(feats[s + WIN - 24:s + WIN - 24 + HOR, 0])   # same hours yesterday
    return np.array(X), np.array(Y), np.array(naive)


class QuantileMLP(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(WIN * 4, 128), nn.GELU(), nn.Linear(128, 64), nn.GELU())
        self.head = nn.Linear(64, HOR * 3)

    def __call__(self, x):
        return self.head(self.body(x)).reshape(-1, HOR, 3)


def pinball(model, x, y):
    q = model(x)
    err = y[..., None] - q
    return mx.mean(mx.maximum(QS * err, (QS - 1) * err))


def evaluate(model, X, Y, naive):
    q = model(mx.array(X))
    med = np.array(q[..., 1])
    lo, hi = np.array(q[..., 0]), np.array(q[..., 2])
    mae = np.abs(med - Y).mean()
    cover = ((Y >= lo) & (Y <= hi)).mean()
    return float(mae), float(np.abs(naive - Y).mean()), float(cover)


def run_stage(name, model, X, Y, Xv, Yv, Nv, epochs, lr, warm):
    steps_per = math.ceil(len(X) / 64)
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, lr, warm), optim.cosine_decay(lr, epochs * steps_per - warm, 1e-5)], [warm])
    opt = optim.AdamW(learning_rate=sched, weight_decay=1e-4)
    step_fn = nn.value_and_grad(model, pinball)
    for ep in range(epochs):
        perm = rng.permutation(len(X))
        tot = 0.0
        for i in range(0, len(X), 64):
            idx = mx.array(perm[i:i + 64])
            loss, g = step_fn(model, mx.array(X)[idx], mx.array(Y)[idx])
            opt.update(model, g)
            mx.eval(model.parameters(), opt.state)
            tot += loss.item() * len(perm[i:i + 64])
        mae, nmae, cov = evaluate(model, Xv, Yv, Nv)
        print(f"[{name}] epoch {ep + 1:2d} lr {float(opt.learning_rate):.2e} pinball {tot / len(X):.4f} "
              f"val_mae {mae:.3f} yesterday_mae {nmae:.3f} p10-p90_cover {cov * 100:.1f}%")


t0 = time.time()
early = make_season(40, 0.0)
late = make_season(20, 2.5)          # warmer late-season regime
X, Y, _ = windows(early[:24 * 32])
Xv, Yv, Nv = windows(early[24 * 32:])
X2, Y2, _ = windows(late[:24 * 14])
Xv2, Yv2, Nv2 = windows(late[24 * 14:])
print(f"early train {len(X)} val {len(Xv)} | late train {len(X2)} val {len(Xv2)}")

mx.random.seed(0)
model = QuantileMLP()
mx.eval(model.parameters())
run_stage("early", model, X, Y, Xv, Yv, Nv, epochs=14, lr=2e-3, warm=60)
print("late-season check before adapting:", "val_mae %.3f yesterday_mae %.3f cover %.1f%%" %
      (lambda r: (r[0], r[1], r[2] * 100))(evaluate(model, Xv2, Yv2, Nv2)))
run_stage("late", model, X2, Y2, Xv2, Yv2, Nv2, epochs=10, lr=5e-4, warm=20)
mae, nmae, cov = evaluate(model, Xv2, Yv2, Nv2)
print(f"final late-season val_mae {mae:.3f} (yesterday baseline {nmae:.3f}), cover {cov * 100:.1f}%, "
      f"{time.time() - t0:.1f}s")
