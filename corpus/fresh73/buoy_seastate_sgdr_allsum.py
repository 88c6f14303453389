"""Sea-state (Douglas-scale band) classification from wave-buoy spectra.

Data-parallel style loop written for mx.distributed: every rank computes the
gradient on its own shard and the gradients are averaged with all_sum.  Run
here as a single process (group size 1).  Learning rate follows SGDR: cosine
decay with warm restarts every cycle (cycle length doubles), so the training
loss jumps up a little at each restart.
"""
import math
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten, tree_map

mx.random.seed(3)
group = mx.distributed.init()
RANK, WORLD = group.rank(), group.size()

rng = np.random.default_rng(20 + RANK)
NB = 24                                   # frequency bins 0.05 .. 0.5 Hz
freqs = np.linspace(0.05, 0.5, NB)
BANDS = ["calm-smooth", "slight", "moderate", "rough", "very rough+"]
HS_EDGES = [0.5, 1.25, 2.5, 4.0]          # significant wave height edges (m)


def make(n):
    hs = rng.gamma(2.0, 1.0, n) + 0.05                    # Hs in metres
    tp = 3.0 + 2.2 * np.sqrt(hs) + rng.normal(0, 0.8, n)  # peak period (s)
    fp = 1.0 / np.clip(tp, 2.5, 18.0)
    # Pierson-Moskowitz-like shape scaled so that 4*sqrt(m0) ~ Hs
    shape = freqs[None] ** -5 * np.exp(-1.25 * (fp[:, None] / freqs[None]) ** 4)
    m0 = shape.sum(1, keepdims=True) * (freqs[1] - freqs[0])
    spec = shape / m0 * (hs[:, None] / 4.0) ** 2
    swell = rng.random(n) < 0.3                            # a far-off swell peak
    spec += swell[:, None] * 0.05 * np.exp(-((freqs[None] - 0.08) / 0.015) ** 2)
    spec *= rng.lognormal(0, 0.25, spec.shape)             # spectral noise
    x = np.log10(spec + 1e-4).astype(np.float32)
    y = np.digitize(hs, HS_EDGES).astype(np.int32)
    return x, y


xtr, ytr = make(12000)
xva, yva = make(3000)
mu, sd = xtr.mean(0), xtr.std(0) + 1e-6
xtr, xva = (xtr - mu) / sd, (xva - mu) / sd
Xtr, Ytr, Xva, Yva = map(mx.array, (xtr, ytr, xva, yva))


class BuoyNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv1d(1, 8, kernel_size=5, padding=2)
        self.fc1 = nn.Linear(8 * NB, 64)
        self.fc2 = nn.Linear(64, len(BANDS))

    def __call__(self, x):
        h = nn.relu(self.conv(x[..., None]))          # (B, NB, 8)
        h = nn.relu(self.fc1(h.reshape(x.shape[0], -1)))
        return self.fc2(h)


model = BuoyNet()
mx.eval(model.parameters())

BATCH = 64
steps_per_epoch = Xtr.shape[0] // BATCH
T0 = 2                                    # first cycle: 2 epochs, then 4, then 8
cycles = [T0 * 2 ** k for k in range(3)]  # 2 + 4 + 8 = 14 epochs
EPOCHS = sum(cycles)
LR_MAX, LR_MIN = 3e-2, 3e-4
opt = optim.SGD(learning_rate=LR_MAX, momentum=0.9, weight_decay=5e-5)


def sgdr_lr(epoch_float):
    start = 0
    for c in cycles:
        if epoch_float < start + c:
            t = (epoch_float - start) / c
            return LR_MIN + 0.5 * (LR_MAX - LR_MIN) * (1 + math.cos(math.pi * t))
        start += c
    return LR_MIN


def loss_fn(m, x, y):
    return nn.losses.cross_entropy(m(x), y, reduction="mean")


vg = nn.value_and_grad(model, loss_fn)


def average_gradients(g):
    # the same code runs on N ranks; with one process all_sum is the identity
    return tree_map(lambda t: mx.distributed.all_sum(t, group=group) / WORLD, g)


def evaluate():
    model.eval()
    logits = model(Xva)
    ce = nn.losses.cross_entropy(logits, Yva, reduction="mean").item()
    acc = (mx.argmax(logits, 1) == Yva).astype(mx.float32).mean().item()
    model.train()
    return ce, acc


ce0, acc0 = evaluate()
print({"event": "start", "rank": RANK, "world": WORLD, "train": int(Xtr.shape[0]),
       "valid": int(Xva.shape[0]), "cycles_epochs": cycles,
       "valid_ce": round(ce0, 4), "valid_acc_pct": round(100 * acc0, 1),
       "majority_pct": round(100 * float(np.bincount(yva).max() / len(yva)), 1)})

t0 = time.time()
step = 0
for epoch in range(EPOCHS):
    perm = mx.array(np.random.default_rng(epoch).permutation(Xtr.shape[0]))
    run = 0.0
    for b in range(steps_per_epoch):
        opt.learning_rate = sgdr_lr(epoch + b / steps_per_epoch)
        idx = perm[b * BATCH:(b + 1) * BATCH]
        loss, g = vg(model, Xtr[idx], Ytr[idx])
        g = average_gradients(g)
        if step == 0:
            flat = tree_flatten(g)
            zero = [k for k, v in flat if mx.abs(v).max().item() == 0]
            print({"event": "grad_check", "leaves": len(flat), "zero_leaves": zero})
        opt.update(model, g)
        mx.eval(model.parameters(), opt.state, loss)
        run += loss.item()
        step += 1
    ce, acc = evaluate()
    restart = (epoch + 1) in np.cumsum(cycles)[:-1]
    print({"epoch": epoch + 1, "lr_end": float(f"{sgdr_lr(epoch + 1 - 1e-9):.2e}"),
           "train_ce": round(run / steps_per_epoch, 4), "valid_ce": round(ce, 4),
           "valid_acc_pct": round(100 * acc, 2), "restart_next": bool(restart),
           "secs": round(time.time() - t0, 1)})

model.eval()
pred = np.array(mx.argmax(model(Xva), 1))
rec = {BANDS[k]: round(100 * float((pred[yva == k] == k).mean()), 1) for k in range(len(BANDS))}
print({"event": "done", "per_band_recall_pct": rec})
