"""Bobbin lace: predict whether a thread pair will snap during a pattern repeat.

Features: thread tension (g), twist count, pin spacing (mm), humidity, linen/cotton flag,
bobbin weight (g). Binary target from a made-up logistic law.
MLP + SGD with momentum under SGDR (cosine warm restarts, period doubling).
"""
import time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

rng = np.random.default_rng(7)


def make(n):
    tension = rng.uniform(20, 90, n)
    twists = rng.integers(1, 6, n).astype(np.float64)
    spacing = rng.uniform(1.0, 4.0, n)
    humid = rng.uniform(25, 80, n)
    linen = (rng.random(n) < 0.5).astype(np.float64)
    weight = rng.uniform(8, 30, n)
    z = (0.06 * (tension - 55) + 0.5 * (twists - 3) ** 2 * 0.4 - 0.8 * spacing
         + 0.03 * (50 - humid) + 0.9 * linen * (tension > 60) + 0.05 * weight - 0.3)
    p = 1 / (1 + np.exp(-z))
    y = (rng.random(n) < p).astype(np.int32)
    X = np.stack([tension, twists, spacing, humid, linen, weight], 1)
    return X, y, p


Xtr, ytr, _ = make(9000)
Xte, yte, pte = make(2000)
mu, sd = Xtr.mean(0), Xtr.std(0)
Xtr = ((Xtr - mu) / sd).astype(np.float32)
Xte = ((Xte - mu) / sd).astype(np.float32)
oracle = float(-np.mean(yte * np.log(pte) + (1 - yte) * np.log(1 - pte)))


class LaceNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(6, 64)
        self.l2 = nn.Linear(64, 64)
        self.out = nn.Linear(64, 1)

    def __call__(self, x):
        h = nn.gelu(self.l1(x))
        h = nn.gelu(self.l2(h))
        return self.out(h).squeeze(-1)


def loss_fn(model, x, y):
    return nn.losses.binary_cross_entropy(model(x), y, with_logits=True, reduction="mean")


def sgdr(step, base=0.1, floor=1e-3, t0=300):
    # cosine with warm restarts, period doubling: 300, 600, 1200
    t, period = step, t0
    while t >= period:
        t -= period
        period *= 2
    return floor + 0.5 * (base - floor) * (1 + np.cos(np.pi * t / period))


mx.random.seed(7)
model = LaceNet()
mx.eval(model.parameters())
opt = optim.SGD(learning_rate=0.1, momentum=0.9)
vg = nn.value_and_grad(model, loss_fn)
xte, yte_m = mx.array(Xte), mx.array(yte.astype(np.float32))


def evaluate():
    logit = model(xte)
    l = loss_fn(model, xte, yte_m).item()
    acc = float(mx.mean((logit > 0) == (yte_m > 0.5)).item())
    return l, acc


l0, a0 = evaluate()
print(f"bobbin-lace snap model | train {len(ytr)} test {len(yte)} | snap rate {ytr.mean():.3f} | oracle test nll {oracle:.4f}")
print(f"{'step':>6} {'lr':>8} {'train_nll(win)':>15} {'test_nll':>9} {'test_acc':>9} {'secs':>6}")
print(f"{0:>6} {'-':>8} {'-':>15} {l0:>9.4f} {a0:>9.2%} {0.0:>6.1f}")

total, bs = 2100, 128
perm, cur = rng.permutation(len(ytr)), 0
window, t0 = [], time.time()
for step in range(total):
    if cur + bs > len(ytr):
        perm, cur = rng.permutation(len(ytr)), 0
    idx = mx.array(perm[cur:cur + bs])
    cur += bs
    lr = sgdr(step)
    opt.learning_rate = lr
    loss, grads = vg(model, mx.array(Xtr)[idx], mx.array(ytr.astype(np.float32))[idx])
    if step == 0:
        leaves = tree_flatten(grads)
        zero = [k for k, g in leaves if float(mx.abs(g).max().item()) == 0.0]
        print(f"# first-step gradients: {len(leaves)} leaves, all-zero leaves: {zero}")
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state, loss)
    window.append(loss.item())
    s = step + 1
    restart = s in (300, 900)
    if s in (1, 50) or s % 150 == 0 or s == total:
        tl, ta = evaluate()
        note = "  <- end of cycle, lr restarts next" if restart else ""
        print(f"{s:>6} {lr:>8.4f} {np.mean(window):>15.4f} {tl:>9.4f} {ta:>9.2%} {time.time()-t0:>6.1f}{note}")
        window = []
tl, ta = evaluate()
print(f"done: test nll {tl:.4f} (oracle {oracle:.4f}), accuracy {ta:.2%}, {time.time()-t0:.1f}s")
