# 1-D segmentation: find the "event" intervals in noisy sensor traces with a small dilated Conv1d net,
# trained with BCE + soft Dice. Each report shows a mask preview of a fixed validation trace.
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten

rng = np.random.default_rng(11)
L = 96


def make_traces(n):
    t = np.arange(L)
    x = rng.normal(0, 0.6, size=(n, L))
    y = np.zeros((n, L), dtype=np.float32)
    for i in range(n):
        for _ in range(rng.integers(1, 4)):
            a = rng.integers(0, L - 12)
            w = rng.integers(6, 20)
            y[i, a:a + w] = 1.0
        # events are oscillating bursts: mean-zero, only the local variance/frequency gives them away
        x[i] += y[i] * 1.4 * np.sin(0.9 * t + rng.uniform(0, 6.28))
    return mx.array(x[..., None].astype(np.float32)), mx.array(y)


class Segmenter(nn.Module):
    def __init__(self, ch=24):
        super().__init__()
        self.inp = nn.Conv1d(1, ch, kernel_size=5, padding=2)
        self.d1 = nn.Conv1d(ch, ch, kernel_size=3, padding=2, dilation=2)
        self.d2 = nn.Conv1d(ch, ch, kernel_size=3, padding=4, dilation=4)
        self.d3 = nn.Conv1d(ch, ch, kernel_size=3, padding=8, dilation=8)
        self.out = nn.Conv1d(ch, 1, kernel_size=1)

    def __call__(self, x):
        h = nn.relu(self.inp(x))
        h = h + nn.relu(self.d1(h))
        h = h + nn.relu(self.d2(h))
        h = h + nn.relu(self.d3(h))
        return self.out(h)[..., 0]


def loss_fn(model, x, y):
    logits = model(x)
    bce = nn.losses.binary_cross_entropy(logits, y, reduction="mean")
    p = mx.sigmoid(logits)
    dice = 1 - (2 * (p * y).sum(axis=1) + 1) / (p.sum(axis=1) + y.sum(axis=1) + 1)
    return bce + dice.mean()


def iou(model, x, y):
    pred = (model(x) > 0).astype(mx.float32)
    inter = (pred * y).sum()
    union = ((pred + y) > 0).astype(mx.float32).sum()
    return (inter / union).item()


def preview(mask):
    return "".join("▮" if v > 0.5 else "·" for v in np.array(mask)[::2])


model = Segmenter()
mx.eval(model.parameters())
xtr, ytr = make_traces(1200)
xva, yva = make_traces(300)
opt = optim.AdamW(learning_rate=2e-3, weight_decay=1e-4)
lg = nn.value_and_grad(model, loss_fn)

_, g0 = lg(model, xtr[:64], ytr[:64])
norms = {k: float(mx.abs(v).max()) for k, v in tree_flatten(g0)}
print(f"# {len(norms)} leaves, zero-grad leaves: {[k for k, v in norms.items() if v == 0.0]}")
print(f"# truth   {preview(yva[0])}")
t0 = time.time()
BS = 48
for epoch in range(1, 11):
    perm = rng.permutation(xtr.shape[0])
    tot = 0.0
    for i in range(0, len(perm), BS):
        idx = mx.array(perm[i:i + BS])
        loss, g = lg(model, xtr[idx], ytr[idx])
        opt.update(model, g)
        mx.eval(model.parameters(), opt.state, loss)
        tot += loss.item() * len(idx)
    val_loss = loss_fn(model, xva, yva).item()
    print(f"ep={epoch:02d}; train={tot / len(perm):.4f}; val={val_loss:.4f}; iou={iou(model, xva, yva):.3f}; "
          f"t={time.time() - t0:.1f}s")
    print(f"# pred    {preview(mx.sigmoid(model(xva[:1]))[0])}")
