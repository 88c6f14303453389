"""Espresso extraction-yield model.

Predict the extraction yield (%) of an espresso shot from the grinder setting,
dose, brew ratio, water temperature, pump pressure, shot time and bean roast
level.  The data come from a made-up (but coffee-plausible) response surface
with refractometer noise.  A gated MLP (GLU style) is trained with
Muon on the 2-D weight matrices and Adam on everything else (MultiOptimizer),
log-cosh loss, two micro-batches per optimizer step (gradients averaged).

The whole log imitates tcpdump output.
"""
import math
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten, tree_map

T0 = time.time()
rng = np.random.default_rng(20261126)


def make_shots(n):
    grind = rng.uniform(1.0, 10.0, n)          # grinder dial, finer = smaller
    dose = rng.uniform(16.0, 21.0, n)          # g
    ratio = rng.uniform(1.5, 3.0, n)           # out/in
    temp = rng.uniform(88.0, 96.0, n)          # C
    bar = rng.uniform(6.0, 10.0, n)            # bar
    roast = rng.uniform(0.0, 1.0, n)           # 0 light .. 1 dark
    # shot time follows from grind, dose and pressure (plus puck noise)
    shot_t = 12.0 + 28.0 * np.exp(-0.18 * grind) * (dose / 18.0) * (9.0 / bar) ** 0.5
    shot_t = shot_t * rng.lognormal(0.0, 0.06, n)
    ey = (
        13.0
        + 3.2 * np.log(ratio / 1.5 + 0.3)
        + 0.22 * (temp - 88.0)
        + 2.4 * roast
        + 0.9 * np.log(shot_t / 12.0)
        - 0.55 * (grind - 4.0) ** 2 / 9.0
        - 1.1 * np.maximum(0.0, shot_t - 38.0) / 10.0      # channeling in slow shots
        + 0.6 * np.tanh(bar - 8.5)
    )
    ey = ey + rng.normal(0.0, 0.25, n)                       # refractometer noise
    X = np.stack([grind, dose, ratio, temp, bar, shot_t, roast], 1).astype(np.float32)
    return X, ey.astype(np.float32)


Xtr, ytr = make_shots(6000)
Xva, yva = make_shots(1200)
mu, sd = Xtr.mean(0), Xtr.std(0)
ymu, ysd = float(ytr.mean()), float(ytr.std())
Xtr_n, Xva_n = (Xtr - mu) / sd, (Xva - mu) / sd
Xtr_m, ytr_m = mx.array(Xtr_n), mx.array((ytr - ymu) / ysd)
Xva_m = mx.array(Xva_n)


class GatedBlock(nn.Module):
    def __init__(self, d_in, d_out):
        super().__init__()
        self.proj = nn.Linear(d_in, 2 * d_out)

    def __call__(self, x):
        a, g = mx.split(self.proj(x), 2, axis=-1)
        return a * mx.sigmoid(g)


class ShotNet(nn.Module):
    def __init__(self, d=7, h=48):
        super().__init__()
        self.b1 = GatedBlock(d, h)
        self.b2 = GatedBlock(h, h)
        self.norm = nn.LayerNorm(h)
        self.out = nn.Linear(h, 1)

    def __call__(self, x):
        h = self.b1(x)
        h = h + self.b2(self.norm(h))
        return self.out(h).squeeze(-1)


mx.random.seed(7)
model = ShotNet()
mx.eval(model.parameters())


def loss_fn(m, x, y):
    return nn.losses.log_cosh_loss(m(x), y, reduction="mean")


grad_fn = nn.value_and_grad(model, loss_fn)

opt = optim.MultiOptimizer(
    [optim.Muon(learning_rate=0.02, momentum=0.95, weight_decay=0.0), optim.Adam(learning_rate=2e-3)],
    [lambda path, w: w.ndim == 2],
)

PID = 4711
SEQ = [1000]


def tcp(flags, length, payload):
    t = time.time() - T0
    hh = int(t // 3600)
    mm = int(t // 60) % 60
    ss = t % 60
    s = SEQ[0]
    SEQ[0] += length
    print(
        f"{hh:02d}:{mm:02d}:{ss:09.6f} IP trainer.{PID} > barista.443: Flags [{flags}], "
        f"seq {s}:{s + length}, ack 1, win 502, length {length}: {payload}",
        flush=True,
    )


def val_metrics():
    pred = model(Xva_m) * ysd + ymu
    err = np.array(pred) - yva
    return float(np.sqrt((err ** 2).mean())), float(np.abs(err).mean()), float(np.mean(np.abs(err) < 0.5))


n_params = sum(v.size for _, v in tree_flatten(model.parameters()))
print(f"tcpdump: verbose output suppressed, use -v[v]... for full protocol decode")
print(f"listening on lo0, link-type EN10MB (Ethernet), snapshot length 262144 bytes")
tcp("S", 0, f"SYN shots train={len(ytr)} valid={len(yva)} features=7 params={n_params}")

# gradient-leaf audit on the first micro-batch
l0, g0 = grad_fn(model, Xtr_m[:64], ytr_m[:64])
flat = tree_flatten(g0)
zero = [k for k, v in flat if float(mx.abs(v).max()) == 0.0]
tcp("P.", len(flat), f"GRADCHECK leaves={len(flat)} zero={zero} loss0={l0.item():.4f}")
base_rmse = float(np.sqrt(((yva - ymu) ** 2).mean()))
r, a, w = val_metrics()
tcp("P.", 1, f"BASELINE mean_predictor_rmse={base_rmse:.3f}%EY untrained_rmse={r:.3f}%EY")

EPOCHS, MB, ACC = 16, 64, 2
N = Xtr_m.shape[0]
steps = 0
for ep in range(1, EPOCHS + 1):
    perm = mx.array(rng.permutation(N))
    n_mb = N // MB
    run_loss, run_n = 0.0, 0
    for i in range(0, n_mb - n_mb % ACC, ACC):
        acc = None
        for j in range(ACC):
            idx = perm[(i + j) * MB:(i + j + 1) * MB]
            l, g = grad_fn(model, Xtr_m[idx], ytr_m[idx])
            acc = g if acc is None else tree_map(mx.add, acc, g)
            run_loss += l.item()
            run_n += 1
        acc = tree_map(lambda t: t / ACC, acc)
        opt.update(model, acc)
        mx.eval(model.parameters(), opt.state)
        steps += 1
    r, a, w = val_metrics()
    tcp(
        "P.",
        steps,
        f"EPOCH {ep:02d} train_logcosh={run_loss / run_n:.5f} valid_rmse={r:.3f}%EY "
        f"valid_mae={a:.3f}%EY within_0.5={w:.3f} opt_steps={steps}",
    )

# a few named shots
probe = np.array(
    [
        [3.0, 18.0, 2.0, 93.0, 9.0, 0.0, 0.5],
        [7.5, 18.0, 2.5, 90.0, 9.0, 0.0, 0.2],
        [2.0, 20.0, 1.8, 95.0, 9.0, 0.0, 0.9],
    ],
    np.float32,
)
probe[:, 5] = 12.0 + 28.0 * np.exp(-0.18 * probe[:, 0]) * (probe[:, 1] / 18.0) * (9.0 / probe[:, 4]) ** 0.5
pp = np.array(model(mx.array((probe - mu) / sd)) * ysd + ymu)
for name, row, p in zip(["classic", "turbo", "ristretto"], probe, pp):
    tcp("P.", 1, f"PROBE {name} grind={row[0]:.1f} ratio={row[2]:.1f} t={row[5]:.1f}s predicted_ey={p:.2f}%")
tcp("F.", 0, f"FIN elapsed={time.time() - T0:.1f}s")
print(f"{SEQ[0] - 1000} packets captured")
print(f"{SEQ[0] - 1000} packets received by filter")
print("0 packets dropped by kernel")
