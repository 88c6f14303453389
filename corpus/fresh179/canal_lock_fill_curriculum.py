# Canal lock keeper's log: classify how a lock chamber will fill
# (0 = quick, 1 = normal, 2 = sluggish) from 9 gauge/sluice readings.
# Two-stage curriculum: calm-water days first, then flood/wind days mixed in
# (loss jumps when stage 2 starts, step counter restarts per stage).
# The sensor-calibration layer is frozen on purpose (fixed by the lock company).
# Plain momentum SGD written by hand.
import sys, time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
from mlx.utils import tree_map, tree_flatten

rng = np.random.default_rng(2024)

def gen(n, rough):
    head = rng.uniform(1.5, 4.5, n)            # m of head difference
    sluice = rng.uniform(0.2, 1.0, n)          # paddle opening fraction
    chamber = rng.uniform(0.8, 1.3, n)         # relative chamber area
    silt = rng.uniform(0, 1, n)
    wind = rng.normal(0, 1, n) * (1.8 if rough else 0.3)
    flood = (rng.uniform(0, 1, n) < (0.4 if rough else 0.0)).astype(float)
    leak = rng.uniform(0, 1, n)
    temp = rng.normal(12, 5, n)
    boats = rng.integers(1, 5, n).astype(float)
    t = chamber * np.sqrt(head) / (sluice + 0.15) * (1 + 0.4 * silt) - 0.9 * flood + 0.25 * wind
    t += rng.normal(0, 0.5 if rough else 0.15, n)
    y = np.digitize(t, np.quantile(t, [1 / 3, 2 / 3]) if not rough else [2.7, 4.6])
    X = np.stack([head, sluice, chamber, silt, wind, flood, leak, temp / 10, boats / 4], 1)
    return X.astype(np.float32), y.astype(np.int32)

Xc, yc = gen(1500, False)
Xr, yr = gen(1500, True)
Xte, yte = gen(600, True)

class LockNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.calib = nn.Linear(9, 16)      # vendor calibration, frozen
        self.h1 = nn.Linear(16, 32)
        self.h2 = nn.Linear(32, 3)
    def __call__(self, x):
        return self.h2(nn.gelu(self.h1(nn.tanh(self.calib(x)))))

net = LockNet()
net.calib.freeze()
mx.eval(net.parameters())
calib_before = mx.array(net.calib.weight)

def loss_fn(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")

grad_fn = nn.value_and_grad(net, loss_fn)
_, g = grad_fn(net, mx.array(Xc[:256]), mx.array(yc[:256]))
for k, v in tree_flatten(g):
    print(f"  grad |{k}| = {mx.linalg.norm(v).item():.4f}")

velocity = tree_map(mx.zeros_like, net.trainable_parameters())
LR, MU, BS = 0.05, 0.9, 64

def bar(stage, i, n, loss, acc, t0):
    frac = i / n
    filled = int(20 * frac)
    el = time.time() - t0
    sys.stdout.write(f"stage{stage}: {int(100*frac):3d}%|{'#'*filled}{'.'*(20-filled)}| {i}/{n} "
                     f"[{el:4.1f}s, loss={loss:.3f}, acc={100*acc:.1f}%]\n")

def accuracy(X, y):
    return (mx.argmax(net(mx.array(X)), axis=1) == mx.array(y)).mean().item()

stages = [(1, Xc, yc, 300), (2, np.concatenate([Xc, Xr]), np.concatenate([yc, yr]), 600)]
for stage, X, y, nsteps in stages:
    t0 = time.time()
    run_loss, run_acc = 0.0, 0.0
    for i in range(1, nsteps + 1):
        idx = rng.integers(0, len(X), BS)
        xb, yb = mx.array(X[idx]), mx.array(y[idx])
        loss, grads = grad_fn(net, xb, yb)
        velocity = tree_map(lambda v, g: MU * v + g, velocity, grads)
        net.update(tree_map(lambda p, v: p - LR * v, net.trainable_parameters(), velocity))
        mx.eval(net.parameters(), velocity, loss)
        acc = (mx.argmax(net(xb), axis=1) == yb).mean().item()
        run_loss = 0.9 * run_loss + 0.1 * loss.item() if i > 1 else loss.item()
        run_acc = 0.9 * run_acc + 0.1 * acc if i > 1 else acc
        if i % 50 == 0 or i == 1:
            bar(stage, i, nsteps, run_loss, run_acc, t0)
    print(f"-- end of stage {stage}: calm acc {100*accuracy(Xc, yc):.1f}%  rough/test acc {100*accuracy(Xte, yte):.1f}%  "
          f"(chance 33.3%)")

drift = mx.abs(net.calib.weight - calib_before).max().item()
print(f"calibration layer drift: {drift:.2e} (frozen)")
print(f"final held-out accuracy: {100*accuracy(Xte, yte):.1f}%")
