"""Kombucha second fermentation: predict bottle carbonation (bar) after F2.

Synthetic brewing log, a small GELU MLP, SGD+momentum with a learning rate
that warms up from exactly 0, repeated over three seeds. One JSON object per
report line; the 'mean predictor' baseline is printed beside the model.
"""
import json
import math

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

FEATURES = ["sugar_g_per_l", "temp_c", "hours", "headspace_pct", "starter_ph", "fruit"]


def brew_log(n, key):
    k1, k2 = mx.random.split(key)
    u = mx.random.uniform(shape=(n, 6), key=k1)
    sugar = 4 + 16 * u[:, 0]
    temp = 18 + 10 * u[:, 1]
    hours = 24 + 120 * u[:, 2]
    head = 2 + 10 * u[:, 3]
    ph = 2.6 + 0.9 * u[:, 4]
    fruit = (u[:, 5] > 0.5).astype(mx.float32)
    rate = 0.012 * mx.exp(0.07 * (temp - 22)) * (1 + 0.4 * fruit) * (3.6 - ph)
    co2 = sugar * (1 - mx.exp(-rate * hours)) * 0.22
    bar = co2 / (1 + 0.06 * head) + 0.15 * mx.random.normal((n,), key=k2)
    x = mx.stack([sugar, temp, hours, head, ph, fruit], axis=1)
    return x, bar


class FizzNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(6, 32)
        self.l2 = nn.Linear(32, 32)
        self.l3 = nn.Linear(32, 1)

    def __call__(self, x):
        return self.l3(nn.gelu(self.l2(nn.gelu(self.l1(x))))).squeeze(-1)


def run(seed, steps=360, batch=128):
    mx.random.seed(seed)
    xtr, ytr = brew_log(3000, mx.random.key(100 + seed))
    xva, yva = brew_log(600, mx.random.key(900 + seed))
    mu, sd = xtr.mean(0), xtr.std(0) + 1e-6
    xtr, xva = (xtr - mu) / sd, (xva - mu) / sd
    baseline_mae = mx.abs(yva - ytr.mean()).mean().item()

    model = FizzNet()
    warm = optim.linear_schedule(0.0, 0.05, 40)
    decay = optim.cosine_decay(0.05, steps - 40, 0.002)
    lr = optim.join_schedules([warm, decay], [40])
    opt = optim.SGD(learning_rate=lr, momentum=0.9)

    def loss_fn(m, xb, yb):
        return ((m(xb) - yb) ** 2).mean()

    vg = nn.value_and_grad(model, loss_fn)

    _, g0 = vg(model, xtr[:batch], ytr[:batch])
    flat = tree_flatten(g0)
    nz = sum(1 for _, g in flat if mx.abs(g).max().item() > 0)
    print(json.dumps({"seed": seed, "audit": "grad_nonzero", "tensors": f"{nz}/{len(flat)}"}))

    for step in range(steps + 1):
        idx = mx.random.randint(0, xtr.shape[0], shape=(batch,))
        cur_lr = opt.learning_rate.item()
        loss, grads = vg(model, xtr[idx], ytr[idx])
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        if step % 60 == 0:
            val_mae = mx.abs(model(xva) - yva).mean().item()
            print(json.dumps({"seed": seed, "step": step, "lr": round(cur_lr, 5),
                              "mse_bar2": round(loss.item(), 4), "val_mae_bar": round(val_mae, 4),
                              "baseline_mae_bar": round(baseline_mae, 4)}))
    return val_mae, baseline_mae


def main():
    rows = []
    for seed in (3, 5, 8):
        rows.append((seed,) + run(seed))
    print("seed | val MAE (bar) | mean-guess MAE (bar) | skill")
    for seed, m, b in rows:
        print(f"{seed:4d} | {m:13.3f} | {b:20.3f} | {100 * (1 - m / b):5.1f}%")
    avg = sum(r[1] for r in rows) / len(rows)
    print(f"mean val MAE over seeds: {avg:.3f} bar")


if __name__ == "__main__":
    main()
