# Multi-label tagging: 40-dim features -> 10 independent tags (sigmoid BCE),
# label-dependent positive rates (3%..40%). Only a handful of progress lines,
# each the repr() of a namedtuple.
from collections import namedtuple
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

Report = namedtuple("Report", "step bce val_bce micro_f1 hamming lr")
rng = np.random.default_rng(11)
F, L, N = 40, 10, 8000
W = rng.normal(size=(F, L)) / np.sqrt(F) * 3
bias = np.log(np.linspace(0.03, 0.40, L) / (1 - np.linspace(0.03, 0.40, L)))
X = rng.normal(size=(N, F)).astype(np.float32)
Z = np.tanh(X @ W) * 2.5 + bias
Y = (rng.random((N, L)) < 1 / (1 + np.exp(-Z))).astype(np.float32)
Xtr, Ytr, Xva, Yva = mx.array(X[:6500]), mx.array(Y[:6500]), mx.array(X[6500:]), mx.array(Y[6500:])

model = nn.Sequential(nn.Linear(F, 96), nn.GELU(), nn.Linear(96, 96), nn.GELU(), nn.Linear(96, L))
mx.eval(model.parameters())

def loss_fn(m, x, y):
    return nn.losses.binary_cross_entropy(m(x), y, reduction="mean")

total = 1500
sched = optim.cosine_decay(2e-3, total, end=1e-4)
opt = optim.AdamW(learning_rate=sched, weight_decay=1e-3)
vg = nn.value_and_grad(model, loss_fn)

def evaluate():
    logits = model(Xva)
    vb = loss_fn(model, Xva, Yva).item()
    pred = (logits > 0).astype(mx.float32)
    tp = (pred * Yva).sum().item(); fp = (pred * (1 - Yva)).sum().item(); fn = ((1 - pred) * Yva).sum().item()
    f1 = 2 * tp / max(2 * tp + fp + fn, 1)
    ham = (pred != Yva).astype(mx.float32).mean().item()
    return vb, f1, ham

ema = None
for step in range(1, total + 1):
    idx = mx.array(rng.integers(0, 6500, 64))
    loss, g = vg(model, Xtr[idx], Ytr[idx])
    opt.update(model, g)
    mx.eval(model.parameters(), opt.state, loss)
    ema = loss.item() if ema is None else 0.98 * ema + 0.02 * loss.item()
    if step in (1, 300, 800, total):
        vb, f1, ham = evaluate()
        print(repr(Report(step, round(ema, 4), round(vb, 4), round(f1, 4), round(ham, 4), float(f"{sched(step).item():.2e}"))))
