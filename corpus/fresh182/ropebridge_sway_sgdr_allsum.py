"""Rope footbridge sway: predict peak lateral deck sway (mm) from a crossing log.

Synthetic logs, RMSprop, cosine warm restarts whose first cycle starts at lr = 0,
gradients averaged through mx.distributed (a one-process group here, same code
runs under mpirun), one JSON object per epoch.
"""
import json
import math
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map

rng = np.random.default_rng(1827)
N_TRAIN, N_VAL = 7000, 1500


def make_logs(n):
    walkers = rng.integers(1, 25, n).astype(np.float32)          # people on the deck
    pace_hz = rng.normal(1.9, 0.25, n).clip(1.2, 2.8)             # footfall frequency
    span_m = rng.uniform(20, 90, n)
    tension_kn = rng.uniform(40, 220, n)
    wind_ms = rng.gamma(2.0, 2.5, n)
    spacing_m = rng.uniform(0.6, 3.0, n)
    f_nat = 0.5 * np.sqrt(tension_kn / 60.0) * (60.0 / span_m)    # lateral mode (Hz)
    lock = np.exp(-((pace_hz / 2 - f_nat) ** 2) / 0.02)           # lateral lock-in
    crowd = walkers / (1 + spacing_m)
    sway = 4 + 1.6 * crowd * (1 + 5 * lock) + 0.35 * wind_ms ** 1.5 + 0.04 * span_m
    sway = sway * np.exp(rng.normal(0, 0.08, n))
    X = np.stack([walkers, pace_hz, span_m, tension_kn, wind_ms, spacing_m], 1)
    return X.astype(np.float32), sway.astype(np.float32)


Xtr, ytr = make_logs(N_TRAIN)
Xva, yva = make_logs(N_VAL)
mu, sd = Xtr.mean(0), Xtr.std(0)
y_mu, y_sd = ytr.mean(), ytr.std()
Xtr_n, Xva_n = (Xtr - mu) / sd, (Xva - mu) / sd
Xtr_m, Xva_m = mx.array(Xtr_n), mx.array(Xva_n)
ytr_m = mx.array((ytr - y_mu) / y_sd)
baseline_mae = float(np.abs(yva - np.median(ytr)).mean())


class SwayNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(6, 96)
        self.l2 = nn.Linear(96, 96)
        self.l3 = nn.Linear(96, 1)

    def __call__(self, x):
        h = nn.silu(self.l1(x))
        h = nn.silu(self.l2(h)) + h
        return self.l3(h).squeeze(-1)


group = mx.distributed.init()
world = group.size()
mx.random.seed(5)
net = SwayNet()
mx.eval(net.parameters())

BATCH = 125
STEPS_PER_EPOCH = N_TRAIN // BATCH
CYCLES = [4, 8, 12]                      # epochs per warm-restart cycle
PEAK = [2e-3, 1.2e-3, 6e-4]
EPOCHS = sum(CYCLES)


def lr_at(epoch, step):
    # cycle 0 ramps up from exactly 0 over its first epoch, later cycles restart at their peak
    start = 0
    for c, (length, peak) in enumerate(zip(CYCLES, PEAK)):
        if epoch < start + length:
            t = (epoch - start) * STEPS_PER_EPOCH + step
            total = length * STEPS_PER_EPOCH
            if c == 0 and t < STEPS_PER_EPOCH:
                return c, peak * t / STEPS_PER_EPOCH
            return c, peak * 0.5 * (1 + math.cos(math.pi * t / total))
        start += length
    return len(CYCLES) - 1, 0.0


opt = optim.RMSprop(learning_rate=0.0, alpha=0.95)


def loss_fn(model, xb, yb):
    return nn.losses.huber_loss(model(xb), yb, delta=1.0, reduction="mean")


grad_fn = nn.value_and_grad(net, loss_fn)

# audit: every parameter receives a gradient before training starts
_, g0 = grad_fn(net, Xtr_m[:256], ytr_m[:256])
zero = [k for k, g in tree_flatten(g0) if float(mx.abs(g).max()) == 0.0]
print(json.dumps({"event": "grad_audit", "tensors": len(tree_flatten(g0)), "zero_grad": zero}))


def step(xb, yb):
    loss, grads = grad_fn(net, xb, yb)
    grads = tree_map(lambda g: mx.distributed.all_sum(g, group=group) / world, grads)
    opt.update(net, grads)
    return loss


for epoch in range(EPOCHS):
    perm = mx.array(rng.permutation(N_TRAIN))
    tot = 0.0
    for s in range(STEPS_PER_EPOCH):
        cyc, opt.learning_rate = lr_at(epoch, s)
        idx = perm[s * BATCH:(s + 1) * BATCH]
        loss = step(Xtr_m[idx], ytr_m[idx])
        mx.eval(loss, net.parameters(), opt.state)
        tot += loss.item()
    pred = net(Xva_m) * y_sd + y_mu
    mae = float(mx.abs(pred - mx.array(yva)).mean())
    rel = 100.0 * float((mx.abs(pred - mx.array(yva)) / mx.array(yva)).mean())
    print(json.dumps({"epoch": epoch + 1, "cycle": cyc, "lr_end": round(float(opt.learning_rate.item()), 7),
                      "train_huber": round(tot / STEPS_PER_EPOCH, 5), "val_mae_mm": round(mae, 3),
                      "median_baseline_mae_mm": round(baseline_mae, 3), "val_rel_err_pct": round(rel, 2)}))

print(json.dumps({"event": "done", "world": world, "final_val_mae_mm": round(mae, 3),
                  "baseline_mae_mm": round(baseline_mae, 3)}))
