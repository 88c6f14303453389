"""Byte-level next-byte model on the docstrings of a few stdlib modules.

1. Learning-rate range test: Adam, lr swept exponentially from 1e-5 to 3
   over 150 steps on a throwaway model; the loss falls, then blows up at the
   end of the sweep (that is the point of the test).
2. The real run starts from FRESH weights with lr = (lr at the smoothed-loss
   minimum) / 10 and reports bits per byte on train and held-out text.
"""
import importlib
import logging
import math
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten

logging.basicConfig(format="%(relativeCreated)7.0fms %(levelname)-5s %(message)s", level=logging.INFO)
log = logging.getLogger("zenbytes")

CONTEXT = 4
MODULES = ["argparse", "collections", "json", "textwrap", "string", "random", "statistics",
           "functools", "heapq", "bisect", "pathlib", "subprocess", "logging", "csv",
           "fractions", "decimal", "calendar", "difflib", "shutil", "tempfile", "zipfile"]
text = "\n\n".join((importlib.import_module(m).__doc__ or "").strip() for m in MODULES)
text = text.encode("ascii", "ignore").decode()
data = np.frombuffer(text.encode("utf-8"), dtype=np.uint8).astype(np.int32)
split = int(0.85 * len(data))
train_bytes, val_bytes = data[:split], data[split - CONTEXT:]


def windows(arr):
    idx = np.arange(CONTEXT)[None, :] + np.arange(len(arr) - CONTEXT)[:, None]
    return arr[idx], arr[CONTEXT:]


Xtr, ytr = map(mx.array, windows(train_bytes))
Xva, yva = map(mx.array, windows(val_bytes))
log.info("corpus %d bytes, %d train windows, %d held-out windows, context %d",
         len(data), Xtr.shape[0], Xva.shape[0], CONTEXT)


class ByteMLP(nn.Module):
    def __init__(self, dim=16, hidden=96):
        super().__init__()
        self.embed = nn.Embedding(256, dim)
        self.hidden = nn.Linear(CONTEXT * dim, hidden)
        self.drop = nn.Dropout(0.2)
        self.head = nn.Linear(hidden, 256)

    def __call__(self, x):
        h = self.embed(x).reshape(x.shape[0], -1)
        return self.head(self.drop(nn.gelu(self.hidden(h))))


def loss_fn(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")


LN2 = math.log(2.0)
rng = np.random.default_rng(11)
BATCH = 64


def batch():
    idx = mx.array(rng.integers(0, Xtr.shape[0], size=BATCH))
    return Xtr[idx], ytr[idx]


def bits_per_byte(model, X, y):
    model.eval()
    out = nn.losses.cross_entropy(model(X), y, reduction="mean").item() / LN2
    model.train()
    return out



# ---------------------------------------------------------------- range test
mx.random.seed(0)
probe = ByteMLP()
mx.eval(probe.parameters())
lr_lo, lr_hi, sweep = 1e-5, 3.0, 150
lrs = [lr_lo * (lr_hi / lr_lo) ** (i / (sweep - 1)) for i in range(sweep)]
probe_opt = optim.Adam(learning_rate=lr_lo)
probe_step = nn.value_and_grad(probe, loss_fn)
smooth, best_smooth, best_lr, history = 0.0, float("inf"), lrs[0], []
for i, lr in enumerate(lrs):
    probe_opt.learning_rate = lr
    x, y = batch()
    loss, grads = probe_step(probe, x, y)
    probe_opt.update(probe, grads)
    mx.eval(probe.parameters(), probe_opt.state, loss)
    lv = loss.item()
    smooth = 0.9 * smooth + 0.1 * lv
    corrected = smooth / (1 - 0.9 ** (i + 1))
    history.append((lr, lv, corrected))
    if corrected < best_smooth:
        best_smooth, best_lr = corrected, lr
    if i % 15 == 0 or i == sweep - 1:
        log.info("range-test %3d  lr %.2e  loss %.3f  smoothed %.3f", i, lr, lv, corrected)
    if math.isfinite(lv) and corrected > 4 * best_smooth:
        log.info("range-test stops at lr %.2e: smoothed loss %.3f > 4x best %.3f", lr, corrected, best_smooth)
        break
chosen_lr = best_lr / 10
log.info("range-test minimum at lr %.2e (smoothed %.3f); real run uses lr %.2e", best_lr, best_smooth, chosen_lr)
del probe, probe_opt

# ---------------------------------------------------------------- real run
mx.random.seed(1)
model = ByteMLP()
mx.eval(model.parameters())
opt = optim.AdamW(learning_rate=chosen_lr, weight_decay=0.05)
step = nn.value_and_grad(model, loss_fn)

x, y = batch()
_, g = step(model, x, y)
flat = tree_flatten(g)
log.info("gradient check: %d leaves, zero leaves: %s", len(flat),
         [k for k, v in flat if float(mx.abs(v).max().item()) == 0.0])
log.info("untrained: train %.3f bpb, held-out %.3f bpb (uniform is 8.000)",
         bits_per_byte(model, Xtr, ytr), bits_per_byte(model, Xva, yva))

STEPS, REPORT = 1000, 200
t0 = time.perf_counter()
window = []
for it in range(1, STEPS + 1):
    x, y = batch()
    loss, grads = step(model, x, y)
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state, loss)
    window.append(loss.item())
    if it % REPORT == 0:
        log.info("step %4d  batch %.3f bpb  train %.3f bpb  held-out %.3f bpb  %.1fs",
                 it, np.mean(window) / LN2, bits_per_byte(model, Xtr, ytr),
                 bits_per_byte(model, Xva, yva), time.perf_counter() - t0)
        window = []
log.info("done: %d steps at lr %.2e", STEPS, chosen_lr)
