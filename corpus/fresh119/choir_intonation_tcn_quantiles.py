"""A cappella choir intonation: predict, beat by beat, how far (in cents) the
choir's pitch sits from equal temperament, with a 10 / 50 / 90 % band.

Simulated rehearsal recordings: drift builds up while the choir sings without a
reference, sags on soft passages and closed vowels, and is reset when the
accompanist plays a reference chord.  The model is a small causal temporal
conv net (dilated Conv1d on (batch, beats, features) arrays, left padding
only), trained with the pinball (quantile) loss.
"""
import time
from functools import partial
from pprint import pprint

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

QUANTILES = (0.1, 0.5, 0.9)
BEATS, N_FEAT = 64, 5
N_TRAIN, N_VAL = 1200, 300
EPOCHS, BATCH = 8, 32


def rehearsal(n, rng):
    """features: interval jump, dynamics, vowel openness, tempo, reference chord."""
    jump = rng.integers(-7, 8, size=(n, BEATS)).astype(np.float32)
    dyn = np.clip(np.cumsum(rng.normal(0, 0.15, (n, BEATS)), 1) + rng.uniform(-1, 1, (n, 1)), -1.5, 1.5)
    vowel = rng.uniform(-1, 1, (n, BEATS))
    tempo = np.repeat(rng.uniform(-1, 1, (n, 1)), BEATS, 1)
    ref = (rng.random((n, BEATS)) < 0.06).astype(np.float32)
    cents = np.zeros((n, BEATS), dtype=np.float32)
    level = rng.normal(0, 3, n)
    for t in range(BEATS):
        level = np.where(ref[:, t] > 0, 0.3 * level, level)
        level = (level - 0.9 + 1.6 * np.minimum(dyn[:, t], 0) - 0.7 * np.abs(jump[:, t]) / 7
                 - 0.5 * (vowel[:, t] < -0.3) + 0.4 * tempo[:, t])
        noise = rng.normal(0, 1.0 + 0.6 * np.abs(jump[:, t]), n)   # big leaps are messy
        cents[:, t] = level + noise
    x = np.stack([jump / 7, dyn, vowel, tempo, ref], -1).astype(np.float32)
    return x, cents / 10.0          # target in tens of cents


class CausalBlock(nn.Module):
    def __init__(self, cin, cout, dilation):
        super().__init__()
        self.pad = 2 * dilation                     # kernel 3
        self.conv = nn.Conv1d(cin, cout, kernel_size=3, dilation=dilation)
        self.skip = nn.Linear(cin, cout) if cin != cout else None

    def __call__(self, x):                           # x: (B, T, C)
        h = mx.pad(x, [(0, 0), (self.pad, 0), (0, 0)])
        h = nn.gelu(self.conv(h))
        return h + (self.skip(x) if self.skip is not None else x)


class IntonationTCN(nn.Module):
    def __init__(self, width=24):
        super().__init__()
        self.blocks = [CausalBlock(N_FEAT, width, 1), CausalBlock(width, width, 2),
                       CausalBlock(width, width, 4), CausalBlock(width, width, 8)]
        self.head = nn.Linear(width, len(QUANTILES))

    def __call__(self, x):
        for b in self.blocks:
            x = b(x)
        return self.head(x)                          # (B, T, 3)


def pinball(model, x, y):
    pred = model(x)
    q = mx.array(QUANTILES)
    err = y[..., None] - pred
    return mx.maximum(q * err, (q - 1) * err).mean()


def evaluate(model, x, y):
    pred = np.array(model(mx.array(x))) * 10.0       # back to cents
    yc = y * 10.0
    inside = (yc >= pred[..., 0]) & (yc <= pred[..., 2])
    err = yc[..., None] - pred
    q = np.array(QUANTILES)
    loss = np.maximum(q * err, (q - 1) * err).mean() / 10.0
    return {"val_pinball": round(float(loss), 4),
            "median_abs_err_cents": round(float(np.abs(yc - pred[..., 1]).mean()), 2),
            "band_10_90_coverage_pct": round(float(inside.mean() * 100), 1),
            "band_width_cents": round(float((pred[..., 2] - pred[..., 0]).mean()), 2)}


rng = np.random.default_rng(2024)
x_tr, y_tr = rehearsal(N_TRAIN, rng)
x_va, y_va = rehearsal(N_VAL, rng)

mx.random.seed(5)
model = IntonationTCN()
mx.eval(model.parameters())
schedule = optim.exponential_decay(3e-3, 0.996)
opt = optim.AdamW(learning_rate=schedule, weight_decay=1e-4)
loss_and_grad = nn.value_and_grad(model, pinball)

# first batch: every parameter leaf must get a gradient
_, g0 = loss_and_grad(model, mx.array(x_tr[:BATCH]), mx.array(y_tr[:BATCH]))
zero_leaves = [k for k, v in tree_flatten(g0) if float(mx.abs(v).max()) == 0.0]
pprint({"event": "grad_check", "leaves": len(tree_flatten(g0)), "zero_leaves": zero_leaves})

state = [model.state, opt.state]


@partial(mx.compile, inputs=state, outputs=state)
def train_step(x, y):
    loss, grads = loss_and_grad(model, x, y)
    opt.update(model, grads)
    return loss


pprint({"event": "start", "train_sequences": N_TRAIN, "beats": BEATS,
        "untrained": evaluate(model, x_va, y_va)}, sort_dicts=False)

t0 = time.time()
for epoch in range(1, EPOCHS + 1):
    order = rng.permutation(N_TRAIN)
    running, n = 0.0, 0
    for i in range(0, N_TRAIN - BATCH + 1, BATCH):
        idx = order[i:i + BATCH]
        loss = train_step(mx.array(x_tr[idx]), mx.array(y_tr[idx]))
        mx.eval(loss, state)
        running += loss.item()
        n += 1
    report = {"epoch": epoch, "lr": round(opt.learning_rate.item(), 6),
              "train_pinball": round(running / n, 4)}
    report.update(evaluate(model, x_va, y_va))
    report["secs"] = round(time.time() - t0, 1)
    pprint(report, sort_dicts=False, width=200)

pprint({"event": "done", "steps": int(opt.state["step"].item())})
