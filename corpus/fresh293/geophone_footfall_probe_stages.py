"""Perimeter geophones: tell a walker, a runner, a deer and a vehicle apart from a 64-sample
ground-vibration envelope. Lots of unlabelled traces, few labelled ones, so three stages:

  A  denoising autoencoder on 8000 unlabelled traces (errors in dB; the error against the
     noisy traces can never go below the sensor noise floor, which is printed beside it)
  B  encoder held still, a linear read-out trained on 320 labelled traces
  C  everything trainable, fresh optimizer, rate ramped up from 0 and kept small
"""
import sys
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

CLASSES = ["walker", "runner", "deer", "vehicle"]
T = 64
NOISE = 0.12
rng = np.random.default_rng(5)


def traces(n):
    kind = rng.integers(0, 4, n)
    t = np.arange(T)[None, :].astype(np.float64)
    period = np.choose(kind, [11.0, 6.5, 8.5, 1.0])[:, None] * rng.uniform(0.9, 1.1, (n, 1))
    phase = rng.uniform(0, 2 * np.pi, (n, 1))
    dist = rng.uniform(0.5, 1.0, (n, 1))                   # closer means louder
    steps = np.maximum(0.0, np.cos(2 * np.pi * t / period + phase)) ** np.choose(kind, [8, 6, 14, 1])[:, None]
    deer_pair = (kind == 2)[:, None] * 0.7 * np.maximum(0.0, np.cos(2 * np.pi * (t - 2.0) / period + phase)) ** 14
    rumble = (kind == 3)[:, None] * (0.5 + 0.4 * np.sin(2 * np.pi * t / 40.0 + phase))
    x = dist * (steps + deer_pair + rumble)
    clean = x.astype(np.float32)
    noisy = (x + rng.normal(0, NOISE, x.shape)).astype(np.float32)
    return noisy, clean, kind.astype(np.int32)


u_noisy, u_clean, _ = traces(8000)
l_x, _, l_y = traces(320)
v_x, _, v_y = traces(2000)


class Encoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(T, 128)
        self.l2 = nn.Linear(128, 24)

    def __call__(self, x):
        return nn.tanh(self.l2(nn.silu(self.l1(x))))


class Geophone(nn.Module):
    def __init__(self):
        super().__init__()
        self.encoder = Encoder()
        self.decoder = nn.Sequential(nn.Linear(24, 128), nn.SiLU(), nn.Linear(128, T))
        self.readout = nn.Linear(24, len(CLASSES))

    def reconstruct(self, x):
        return self.decoder(self.encoder(x))

    def __call__(self, x):
        return self.readout(self.encoder(x))


def recon_loss(model, x, target):
    return nn.losses.mse_loss(model.reconstruct(x), target, reduction="mean")


def class_loss(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")


def accuracy(model, x, y):
    return float((np.array(mx.argmax(model(mx.array(x)), axis=1)) == y).mean())


def out(*fields):
    sys.stdout.write(" | ".join(str(f) for f in fields) + "\n")


def db(v):
    return 10.0 * np.log10(v)


mx.random.seed(0)
t0 = time.time()
model = Geophone()
floor = NOISE ** 2
out("data", f"unlabelled {len(u_noisy)}", f"labelled {len(l_x)}", f"valid {len(v_x)}",
    f"chance {100 / len(CLASSES):.1f}%", f"noise floor {db(floor):.2f} dB")

# ---- stage A: denoising autoencoder ---------------------------------------------------------
opt = optim.Adam(learning_rate=2e-3)
step = nn.value_and_grad(model, recon_loss)
_, g = step(model, mx.array(u_noisy[:64]), mx.array(u_clean[:64]))
live = [k for k, v in tree_flatten(g) if mx.abs(v).sum().item() > 0]
out("A", "grad check", f"{len(live)} live leaves (encoder+decoder; readout has no part in stage A)")
val_noisy, _, _ = traces(1000)
for epoch in range(1, 9):
    perm = rng.permutation(len(u_noisy))
    for i in range(0, len(perm), 128):
        b = perm[i:i + 128]
        loss, g = step(model, mx.array(u_noisy[b]), mx.array(u_clean[b]))
        opt.update(model, g)
        mx.eval(model.parameters(), opt.state, loss)
    if epoch % 2 == 0:
        # error against the noisy traces themselves: it cannot go below the noise floor
        r = nn.losses.mse_loss(model.reconstruct(mx.array(val_noisy)), mx.array(val_noisy), reduction="mean").item()
        out("A", f"epoch {epoch}", f"denoise {db(loss.item()):.2f} dB", f"vs noisy {db(r):.2f} dB",
            f"floor {db(floor):.2f} dB", f"{time.time() - t0:.1f}s")

# ---- stage B: encoder held still, linear read-out -------------------------------------------
model.freeze()
model.readout.unfreeze()
enc_before = [np.array(v) for _, v in tree_flatten(model.encoder.parameters())]
n_train = sum(v.size for _, v in tree_flatten(model.trainable_parameters()))
out("B", f"trainable {n_train} of {sum(v.size for _, v in tree_flatten(model.parameters()))}",
    f"untrained read-out acc {100 * accuracy(model, v_x, v_y):.1f}%")
opt = optim.Adam(learning_rate=1e-2)
step = nn.value_and_grad(model, class_loss)
for it in range(1, 301):
    b = rng.choice(len(l_x), 64, replace=False)
    loss, g = step(model, mx.array(l_x[b]), mx.array(l_y[b]))
    opt.update(model, g)
    mx.eval(model.parameters(), opt.state, loss)
    if it % 100 == 0:
        out("B", f"it {it}", f"ce {loss.item():.4f}", f"valid acc {100 * accuracy(model, v_x, v_y):.1f}%")
probe_acc = accuracy(model, v_x, v_y)
drift = max(float(np.abs(a - np.array(v)).max())
            for a, (_, v) in zip(enc_before, tree_flatten(model.encoder.parameters())))
out("B", f"encoder drift {drift:.1e}", f"probe acc {100 * probe_acc:.1f}%")

# ---- stage C: all trainable, small rate ramped from 0 -----------------------------------------
model.unfreeze()
sched = optim.join_schedules([optim.linear_schedule(0.0, 3e-4, 60), optim.cosine_decay(3e-4, 340, 3e-5)], [60])
opt = optim.Adam(learning_rate=sched)
step = nn.value_and_grad(model, class_loss)
for it in range(1, 401):
    b = rng.choice(len(l_x), 64, replace=False)
    loss, g = step(model, mx.array(l_x[b]), mx.array(l_y[b]))
    opt.update(model, g)
    mx.eval(model.parameters(), opt.state, loss)
    if it in (1, 2) or it % 100 == 0:
        out("C", f"it {it}", f"lr {opt.learning_rate.item():.2e}", f"ce {loss.item():.4f}",
            f"valid acc {100 * accuracy(model, v_x, v_y):.1f}%", f"probe {100 * probe_acc:.1f}%")

final = accuracy(model, v_x, v_y)
out("done", f"valid acc {100 * final:.1f}%", f"probe {100 * probe_acc:.1f}%",
    f"chance {100 / len(CLASSES):.1f}%", f"{time.time() - t0:.1f}s")
