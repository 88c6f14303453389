# Tram depot: which brake fault (none / pad wear / sand blockage / track-brake
# coil) a tram shows, from 8 logged sensor channels. Compiled training step
# with explicit state, Adafactor, and a slow bootstrap evaluation at the end.
import math
import time
from functools import partial
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

rng = np.random.default_rng(11)
mx.random.seed(11)
K = 4
centres = rng.normal(0, 1.1, (K, 8))

def draw(n):
    c = rng.choice(K, n, p=[0.55, 0.2, 0.15, 0.1])
    X = centres[c] + rng.normal(0, 1.0, (n, 8))
    X[:, 3] += 0.6 * X[:, 0] ** 2 * (c == 2)      # a nonlinear cue for class 2
    return X.astype(np.float32), c.astype(np.int32)

Xtr, ytr = draw(12000)
Xte, yte = draw(3000)
mu, sd = Xtr.mean(0), Xtr.std(0)
Xtr, Xte = (Xtr - mu) / sd, (Xte - mu) / sd

class BrakeNet(nn.Module):
    def __init__(self, width=96):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(8, width), nn.GELU(),
                                  nn.Linear(width, width), nn.GELU())
        self.head = nn.Linear(width, K)
    def __call__(self, x):
        return self.head(self.body(x))

def ce_nats(model, X, y):
    return nn.losses.cross_entropy(model(X), y, reduction="mean")

model = BrakeNet()
opt = optim.Adafactor(learning_rate=3e-3, relative_step=False, scale_parameter=False)
LN2 = math.log(2.0)

# eager gradient check before compiling
_, g0 = nn.value_and_grad(model, ce_nats)(model, mx.array(Xtr[:128]), mx.array(ytr[:128]))
leaves = tree_flatten(g0)
zero = [k for k, g in leaves if not mx.any(g != 0).item()]

opt.init(model.trainable_parameters())   # build Adafactor state before tracing
state = [model.state, opt.state]

@partial(mx.compile, inputs=state, outputs=state)
def train_step(X, y):
    loss, grads = nn.value_and_grad(model, ce_nats)(model, X, y)
    opt.update(model, grads)
    return loss

def top1_miss_pct(X, y):
    p = mx.argmax(model(mx.array(X)), axis=-1)
    return 100.0 * (1.0 - mx.mean(p == mx.array(y)).item())

def test_bits():
    return ce_nats(model, mx.array(Xte), mx.array(yte)).item() / LN2

prior = np.bincount(ytr, minlength=K) / len(ytr)
print("%-26s %s" % ("rows train/test", f"{len(ytr)}/{len(yte)}"))
print("%-26s %.3f" % ("prior entropy, bits", -(prior * np.log2(prior)).sum()))
print("%-26s %d leaves, all-zero %s" % ("gradient check", len(leaves), zero))
print("%-26s %.3f bits, miss %.1f%%" % ("untrained test", test_bits(), top1_miss_pct(Xte, yte)))
print("-" * 60)
Xtr_m, ytr_m = mx.array(Xtr), mx.array(ytr)
t0 = time.perf_counter()
B = 128
steps_per_epoch = len(ytr) // B
for epoch in range(1, 9):
    perm = rng.permutation(len(ytr))
    total = 0.0
    for i in range(steps_per_epoch):
        idx = mx.array(perm[i * B:(i + 1) * B])
        loss = train_step(Xtr_m[idx], ytr_m[idx])
        mx.eval(loss, state)
        total += loss.item()
    print("epoch %d  train %.4f bits  test %.4f bits  test miss %5.2f%%  (%.1fs)"
          % (epoch, total / steps_per_epoch / LN2, test_bits(),
             top1_miss_pct(Xte, yte), time.perf_counter() - t0))
print("-" * 60)
# bootstrap confidence interval for the test miss rate (silent for a while)
pred = np.array(mx.argmax(model(mx.array(Xte)), axis=-1))
wrong = (pred != yte).astype(np.float64)
boots = [100 * wrong[rng.integers(0, len(wrong), len(wrong))].mean() for _ in range(4000)]
lo, hi = np.percentile(boots, [2.5, 97.5])
print("%-26s %.2f%% (95%% CI %.2f-%.2f%%)" % ("final test miss", 100 * wrong.mean(), lo, hi))
print("%-26s %.1fs" % ("wall", time.perf_counter() - t0))
