"""Ice-pad condition from resurfacer probe readings.

Rink A (labelled) trains a BatchNorm MLP.  Rink B uses another probe box:
every channel has its own gain and zero offset, and no labels are kept there
except a small audit set.  After training, the BatchNorm statistics are
recounted on unlabelled rink B passes (cumulative average, no gradient steps),
then both rinks are scored again.
"""
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

CLASSES = ["hard", "fast", "soft", "chipped"]
N_FEAT = 10
rng = np.random.default_rng(7)
mx.random.seed(7)


CENTRES = rng.normal(0.0, 1.3, size=(4, N_FEAT)).astype(np.float32)


def sample(n, gain, offset):
    y = rng.integers(0, 4, size=n)
    z = CENTRES[y] + rng.normal(0.0, 1.0, size=(n, N_FEAT)).astype(np.float32)
    z[:, 0] += 0.8 * np.tanh(z[:, 1] * z[:, 2])
    raw = z * gain + offset  # probe units, never standardised by hand
    return raw.astype(np.float32), y.astype(np.int32)


gain_a = np.array([40, 2.5, 0.3, 12, 1.0, 7, 0.05, 3, 25, 0.8], dtype=np.float32)
off_a = np.array([-5, 20, 0.1, 300, -2, 50, 1.0, -8, 100, 4], dtype=np.float32)
gain_b = gain_a * rng.uniform(0.4, 2.5, size=N_FEAT).astype(np.float32)
off_b = off_a + gain_a * rng.choice([-1.0, 1.0], size=N_FEAT) * rng.uniform(1.5, 3.0, size=N_FEAT).astype(np.float32)

xa_tr, ya_tr = sample(4000, gain_a, off_a)
xa_va, ya_va = sample(1000, gain_a, off_a)
xb_pool, _ = sample(3000, gain_b, off_b)  # labels thrown away
xb_te, yb_te = sample(1000, gain_b, off_b)

maj_a = np.bincount(ya_va).max() / len(ya_va)
maj_b = np.bincount(yb_te).max() / len(yb_te)


class PadNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.bn_in = nn.BatchNorm(N_FEAT)
        self.l1 = nn.Linear(N_FEAT, 64, bias=False)
        self.bn1 = nn.BatchNorm(64)
        self.l2 = nn.Linear(64, 64, bias=False)
        self.bn2 = nn.BatchNorm(64)
        self.head = nn.Linear(64, 4)

    def norms(self):
        return [self.bn_in, self.bn1, self.bn2]

    def __call__(self, x):
        x = self.bn_in(x)
        x = nn.relu(self.bn1(self.l1(x)))
        x = nn.relu(self.bn2(self.l2(x)))
        return self.head(x)


model = PadNet()
mx.eval(model.parameters())

EPOCHS, BS = 12, 128
steps_per_epoch = len(ya_tr) // BS
total = EPOCHS * steps_per_epoch
warm = 50
sched = optim.join_schedules(
    [optim.linear_schedule(0.0, 0.1, warm),
     optim.cosine_decay(0.1, total - warm, 1e-3)],
    [warm],
)
opt = optim.SGD(learning_rate=sched, momentum=0.9, nesterov=True, weight_decay=1e-4)


def loss_fn(m, x, y):
    return nn.losses.cross_entropy(m(x), y, reduction="mean")


step_fn = nn.value_and_grad(model, loss_fn)


def accuracy(x, y):
    model.eval()
    pred = mx.argmax(model(mx.array(x)), axis=1)
    acc = mx.mean(pred == mx.array(y)).item()
    model.train()
    return 100.0 * acc


def trainable_checksum():
    return sum(float(mx.sum(mx.abs(v)).item())
               for _, v in tree_flatten(model.trainable_parameters()))


print(f"rink A train {len(ya_tr)}  val {len(ya_va)} | rink B unlabelled {len(xb_pool)}  audit {len(yb_te)}")
print(f"majority baseline: rink A {100*maj_a:.1f}%  rink B {100*maj_b:.1f}%")
print(f"schedule: lr starts at {sched(mx.array(0)).item():.4f}, peak 0.1 after {warm} steps, cosine to 1e-3")

model.train()
t0 = time.time()
step = 0
for ep in range(1, EPOCHS + 1):
    perm = rng.permutation(len(ya_tr))
    run = 0.0
    for i in range(steps_per_epoch):
        idx = perm[i * BS:(i + 1) * BS]
        loss, grads = step_fn(model, mx.array(xa_tr[idx]), mx.array(ya_tr[idx]))
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        run += loss.item()
        step += 1
    print(f"epoch {ep:2d}  lr {opt.learning_rate.item():.4f}  train_xent {run/steps_per_epoch:.4f}  "
          f"rinkA_acc {accuracy(xa_va, ya_va):5.1f}%  rinkB_acc {accuracy(xb_te, yb_te):5.1f}%")

print(f"-- training done in {time.time()-t0:.1f}s; running stats of bn_in (first 3 ch): "
      f"mean {np.array(model.bn_in.running_mean[:3]).round(2).tolist()}")

# ---- recount BatchNorm statistics on rink B (no labels, no gradient steps) ----
before = trainable_checksum()
for bn in model.norms():
    bn.running_mean = mx.zeros_like(bn.running_mean)
    bn.running_var = mx.ones_like(bn.running_var)
model.train()
perm = rng.permutation(len(xb_pool))
n_batches = len(xb_pool) // 200
for k in range(n_batches):
    for bn in model.norms():
        bn.momentum = 1.0 / (k + 1)  # cumulative average over the passes
    xb = mx.array(xb_pool[perm[k * 200:(k + 1) * 200]])
    _ = model(xb)
    mx.eval([bn.running_mean for bn in model.norms()] + [bn.running_var for bn in model.norms()])
for bn in model.norms():
    bn.momentum = 0.1
after = trainable_checksum()
print(f"recount: {n_batches} unlabelled rink B passes, trainable |w| sum before {before:.4f} after {after:.4f}")
print(f"recount: bn_in running mean (first 3 ch) now {np.array(model.bn_in.running_mean[:3]).round(2).tolist()}")
print(f"after recount  rinkB_acc {accuracy(xb_te, yb_te):5.1f}%  (majority {100*maj_b:.1f}%)  "
      f"rinkA_acc {accuracy(xa_va, ya_va):5.1f}%  (A stats were replaced)")
