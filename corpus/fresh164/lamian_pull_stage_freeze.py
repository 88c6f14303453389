# Hand-pulled noodles (lamian): tag 32-sample load-cell traces of one pull (centinewtons) as
# slack (over-rested dough) / seizing (gluten tightens mid-pull) / tight (under-rested).
# Stage 1 learns on the new bench's clean traces; stage 2 moves to the old worn puller (blurred,
# clock-slipped, drifting load cell: harder), freezes the conv front-end and only refits the
# head, with early stopping.
import sys, time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

rng = np.random.default_rng(11)
T = 32

def make(n, hard):
    lab = rng.integers(0, 3, n)
    t = np.linspace(0, 1, T)
    out = np.zeros((n, T), np.float32)
    for i, c in enumerate(lab):
        base = {0: 60.0, 1: 80.0, 2: 95.0}[c]
        if c == 1:  # seizing: force steps up somewhere in the pull
            mid = rng.uniform(0.3, 0.7)
            base = 60.0 + 35.0 / (1 + np.exp(-(t - mid) * 25))
        sig = base + rng.normal(0, 11.0, T) + 12.0 * np.sin(2 * np.pi * t * rng.uniform(1, 3) + rng.uniform(0, 6))
        if hard:  # worn puller: smeared load cell + clock slip + drift
            k = np.ones(5) / 5
            sig = np.convolve(np.pad(sig, 2, mode="edge"), k, "valid")
            sig = np.roll(sig, rng.integers(-6, 7)) + rng.normal(0, 16.0, T) + rng.normal(0, 10.0)
        out[i] = sig
    return ((out - 80.0) / 30.0)[..., None], lab.astype(np.int32)

Xa, ya = make(1500, False)
Xb, yb = make(1500, True)
Xbv, ybv = make(400, True)

class PullTagger(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv1d(1, 12, 5, padding=2)
        self.conv2 = nn.Conv1d(12, 16, 5, padding=2)
        self.head = nn.Sequential(nn.Linear(16 * 2, 32), nn.ReLU(), nn.Linear(32, 3))
    def __call__(self, x):
        h = nn.relu(self.conv2(nn.relu(self.conv1(x))))
        h = mx.concatenate([h.mean(axis=1), h.max(axis=1)], axis=-1)
        return self.head(h)

def ce(m, x, y):
    return nn.losses.cross_entropy(m(x), y, reduction="mean")

def acc(m, x, y):
    return (mx.argmax(m(x), -1) == y).astype(mx.float32).mean().item() * 100

def bar(stage, i, n, t0, **kw):
    f = i / n
    b = "#" * int(f * 20)
    el = time.time() - t0
    rest = el / max(f, 1e-9) - el
    post = ", ".join(f"{k}={v}" for k, v in kw.items())
    sys.stdout.write(f"stage {stage}/2 {f*100:4.0f}%|{b:<20}| {i}/{n} [{el:05.2f}s<{rest:05.2f}s, {post}]\n")

mx.random.seed(5)
model = PullTagger()
opt = optim.RMSprop(learning_rate=1e-3)
gfn = nn.value_and_grad(model, ce)

def train_steps(stage, X, Y, steps, Xv, Yv, patience=None):
    t0 = time.time()
    best, best_w, bad = -1.0, None, 0
    for i in range(1, steps + 1):
        idx = rng.integers(0, len(X), 64)
        loss, g = gfn(model, mx.array(X[idx]), mx.array(Y[idx]))
        opt.update(model, g)
        mx.eval(model.parameters(), opt.state, loss)
        if i % 50 == 0:
            a = acc(model, mx.array(Xv), mx.array(Yv))
            bar(stage, i, steps, t0, loss=f"{loss.item():.3f}", acc=f"{a:.1f}%")
            if patience is not None:
                if a > best + 0.1:
                    best, bad = a, 0
                    best_w = [(k, mx.array(v)) for k, v in tree_flatten(model.trainable_parameters())]
                else:
                    bad += 1
                    if bad >= patience:
                        print(f"  early stop at step {i}: no gain for {patience} checks, best acc {best:.1f}%")
                        break
    if best_w is not None:
        model.load_weights(best_w, strict=False)
        mx.eval(model.parameters())
        print(f"  restored best head weights (val acc {best:.1f}%)")

# stage 1: new bench, whole net
print(f"stage 1: {len(Xa)} new-bench pulls, lr {opt.learning_rate.item():.0e}")
Xav, yav = make(400, False)
train_steps(1, Xa, ya, 400, Xav, yav)
pre = acc(model, mx.array(Xbv), mx.array(ybv))
print(f"  old-puller val acc before stage 2: {pre:.1f}% (chance 33.3%)")

# stage 2: old puller, conv front-end frozen, new optimizer (its step counter starts again)
model.conv1.freeze(); model.conv2.freeze()
c1_before = mx.array(model.conv1.weight)
opt = optim.RMSprop(learning_rate=5e-4)
print(f"stage 2: {len(Xb)} old-puller pulls, conv frozen, trainable "
      f"{sum(v.size for _, v in tree_flatten(model.trainable_parameters()))} params")
train_steps(2, Xb, yb, 1500, Xbv, ybv, patience=8)
post = acc(model, mx.array(Xbv), mx.array(ybv))
drift = mx.abs(model.conv1.weight - c1_before).max().item()
print(f"audit: conv1 max|dW| = {drift:.2e} (frozen), old-puller acc {pre:.1f}% -> {post:.1f}%, "
      f"new-bench acc {acc(model, mx.array(Xav), mx.array(yav)):.1f}%")
