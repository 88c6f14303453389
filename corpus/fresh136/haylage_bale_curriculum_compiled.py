# Haylage making: grade a field of mown grass-clover as under / ideal / over wilted at baling
# from swath readings.  Frozen random-Fourier-feature front end (fixed on purpose), trainable head,
# compiled SGD-Nesterov step, two-stage curriculum (clear-cut batches first, then everything),
# learning rate warmed up from exactly 0 at the start of each stage.
import math
import sys
import time
from functools import partial

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

rng = np.random.default_rng(31)
N = 9000
air_c = rng.normal(27.0, 4.0, N)             # air temperature over the swath
rh = np.clip(rng.normal(70.0, 12.0, N), 30, 99)
wind = rng.uniform(0.3, 2.0, N)              # m/s at swath height
hours = rng.uniform(8.0, 20.0, N)            # hours in the swath before baling
load = rng.uniform(15.0, 35.0, N)            # swath density, kg fresh matter per m2
init_moist = rng.normal(77.0, 2.5, N)        # % moisture at mowing
clover_frac = rng.beta(2.0, 5.0, N)          # legume share of the sward

drying = (0.9 + 0.06 * (air_c - 27.0) - 0.018 * (rh - 70.0) + 0.55 * np.log(wind / 0.8)
          - 0.02 * (load - 25.0) + 0.4 * clover_frac)
moist_loss = 30.0 * (1.0 - np.exp(-0.11 * hours * np.maximum(drying, 0.05))) + 0.35 * (init_moist - 77.0)
moist_loss = moist_loss + rng.normal(0.0, 1.2, N)
cls = np.digitize(moist_loss, [18.0, 24.0])      # 0 under, 1 ideal, 2 over
margin = np.minimum(np.abs(moist_loss - 18.0), np.abs(moist_loss - 24.0))

X = np.stack([air_c, rh, wind, hours, load, init_moist, clover_frac], 1)
n_tr = 7200
mu, sd = X[:n_tr].mean(0), X[:n_tr].std(0)
X = ((X - mu) / sd).astype(np.float32)
Xtr, ytr, mtr = X[:n_tr], cls[:n_tr].astype(np.int32), margin[:n_tr]
Xva, yva = mx.array(X[n_tr:]), mx.array(cls[n_tr:].astype(np.int32))


class WiltNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.rff = nn.Linear(7, 128)     # random projection, frozen below on purpose
        self.h1 = nn.Linear(256, 64)
        self.h2 = nn.Linear(64, 3)

    def __call__(self, x):
        z = self.rff(x)
        f = mx.concatenate([mx.cos(z), mx.sin(z)], axis=-1)
        return self.h2(nn.gelu(self.h1(f)))


mx.random.seed(11)
model = WiltNet()
model.rff.freeze()
mx.eval(model.parameters())


def loss_fn(m, xb, yb):
    return nn.losses.cross_entropy(m(xb), yb, reduction="mean")


opt = optim.SGD(learning_rate=0.0, momentum=0.9, nesterov=True, weight_decay=1e-4)
state = [model.state, opt.state]


@partial(mx.compile, inputs=state, outputs=state)
def train_step(xb, yb):
    loss, grads = nn.value_and_grad(model, loss_fn)(model, xb, yb)
    opt.update(model, grads)
    return loss


# audit: trainable tensors get gradient, frozen ones are not in the trainable set
_, g = nn.value_and_grad(model, loss_fn)(model, mx.array(Xtr[:256]), mx.array(ytr[:256]))
gn = {k: float(mx.linalg.norm(v.reshape(-1))) for k, v in tree_flatten(g)}
print("audit  trainable=%s  frozen=%s  min|g|=%.4g" % (
    ",".join(sorted(gn)), ",".join(k for k, _ in tree_flatten(model.rff.parameters())),
    min(gn.values())))


def val_acc():
    return mx.mean(mx.argmax(model(Xva), axis=-1) == yva).item() * 100.0


def bar(i, n, w=20):
    k = int(w * i / n)
    return "#" * k + "-" * (w - k)


stages = [("clear-cut", mtr > 2.0, 900), ("all-fields", np.ones(n_tr, bool), 1500)]
warm, peak, bs = 150, 0.08, 96
t0 = time.time()
for si, (name, mask, n_steps) in enumerate(stages, start=1):
    pool = np.nonzero(mask)[0]
    print("stage %d/%d %-11s  %d of %d training fields" % (si, len(stages), name, len(pool), n_tr))
    run, seen = 0.0, 0
    for step in range(n_steps):              # step counter restarts every stage
        if step < warm:
            lr = peak * step / warm            # exactly 0.0 on the first step of a stage
        else:
            lr = peak * 0.5 * (1 + math.cos(math.pi * (step - warm) / (n_steps - warm)))
        opt.learning_rate = lr
        idx = rng.choice(pool, bs, replace=False)
        loss = train_step(mx.array(Xtr[idx]), mx.array(ytr[idx]))
        mx.eval(state, loss)
        run += loss.item()
        seen += 1
        if (step + 1) % 150 == 0 or step == 0:
            sys.stdout.write("  %s |%s| %4d/%d [lr %.4f, %.1fs] loss=%.4f val=%.1f%%\n" % (
                name, bar(step + 1, n_steps), step + 1, n_steps, lr, time.time() - t0,
                run / seen, val_acc()))
            run, seen = 0.0, 0
    print("stage %d done: val accuracy %.2f%%" % (si, val_acc()))

pred = np.array(mx.argmax(model(Xva), axis=-1))
true = np.array(yva)
print("confusion (rows true under/ideal/over):")
for r in range(3):
    print("   " + "  ".join("%5d" % int(((true == r) & (pred == c)).sum()) for c in range(3)))
print("majority-class reference %.1f%%  final %.2f%%" % (100.0 * np.bincount(true).max() / len(true), val_acc()))
