"""Hive telemetry: one shared trunk, two heads, trained round-robin (one task per step).

Odd steps: daily hive-weight change regression (kg, MSE) on the scale-log batch.
Even steps: colony state, 3 classes (queenright / queenless / swarming), on the inspection batch.
The two tasks come from different data sources, so each step only sees one loss.
Learning rate warms up linearly from exactly 0, then cosine decays.
"""
import math

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np

rng = np.random.default_rng(11)


def make_scale_log(n):
    # temp, humidity, forage index, brood frames, hive age, rain mm
    x = rng.normal(size=(n, 6)).astype(np.float32)
    dw = 0.9 * x[:, 2] + 0.5 * x[:, 3] - 0.4 * np.maximum(x[:, 5], 0) + 0.3 * x[:, 0] * x[:, 2]
    dw += 0.25 * rng.normal(size=n)
    return x, dw.astype(np.float32)[:, None]


def make_inspections(n):
    x = rng.normal(size=(n, 6)).astype(np.float32)
    score_ql = 1.4 * x[:, 4] - 1.0 * x[:, 3]
    score_sw = 1.3 * x[:, 3] + 0.8 * x[:, 0]
    logits = np.stack([np.zeros(n), score_ql - 0.5, score_sw - 0.5], 1)
    p = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    y = np.array([rng.choice(3, p=pi) for pi in p], dtype=np.int32)
    return x, y


class HiveNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.trunk = nn.Sequential(nn.Linear(6, 48), nn.SiLU(), nn.Linear(48, 48), nn.SiLU())
        self.weight_head = nn.Linear(48, 1)
        self.state_head = nn.Linear(48, 3)

    def __call__(self, x):
        h = self.trunk(x)
        return self.weight_head(h), self.state_head(h)


def weight_loss(model, x, y):
    return nn.losses.mse_loss(model(x)[0], y)


def state_loss(model, x, y):
    return nn.losses.cross_entropy(model(x)[1], y, reduction="mean")


def main():
    xs_tr, ys_tr = make_scale_log(3000)
    xs_va, ys_va = make_scale_log(600)
    xi_tr, yi_tr = make_inspections(3000)
    xi_va, yi_va = make_inspections(600)
    mu_w = float(ys_tr.mean())
    base_rmse = float(np.sqrt(((ys_va - mu_w) ** 2).mean()))
    majority = np.bincount(yi_tr).argmax()
    base_acc = float((yi_va == majority).mean())
    print(f"baselines: weight RMSE (predict mean) {base_rmse:.3f} kg | state acc (majority) {base_acc:.3f}")

    model = HiveNet()
    mx.eval(model.parameters())
    steps = 800
    warm = 80
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, 4e-3, warm), optim.cosine_decay(4e-3, steps - warm, 2e-4)], [warm]
    )
    opt = optim.AdamW(learning_rate=sched, weight_decay=1e-4)
    g_weight = nn.value_and_grad(model, weight_loss)
    g_state = nn.value_and_grad(model, state_loss)

    Xs, Ys = mx.array(xs_tr), mx.array(ys_tr)
    Xi, Yi = mx.array(xi_tr), mx.array(yi_tr)
    bs = 64
    for step in range(steps):
        if step % 2 == 0:
            idx = mx.array(rng.integers(0, len(xs_tr), bs))
            loss, grads = g_weight(model, Xs[idx], Ys[idx])
            task = "weight"
        else:
            idx = mx.array(rng.integers(0, len(xi_tr), bs))
            loss, grads = g_state(model, Xi[idx], Yi[idx])
            task = "state "
        lr_now = opt.learning_rate.item()
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state)
        # quiet during the middle of cosine decay; report early steps and every 100 after
        if step < 6 or step % 100 == 99 or step % 100 == 98:
            print(f"step {step + 1:4d} [{task}] loss {loss.item():.4f}  lr {lr_now:.2e}")

    pw, _ = model(mx.array(xs_va))
    _, ps = model(mx.array(xi_va))
    rmse = math.sqrt(float(mx.mean((pw - mx.array(ys_va)) ** 2)))
    acc = float(mx.mean(mx.argmax(ps, axis=1) == mx.array(yi_va)))
    print(f"val weight RMSE {rmse:.3f} kg (baseline {base_rmse:.3f})")
    print(f"val state acc   {acc:.3f} (baseline {base_acc:.3f})")


if __name__ == "__main__":
    main()
