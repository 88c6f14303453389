# Meltwater discharge forecaster for a glacier-fed river gauge.
# Some telemetry batches arrive with dead sensor channels (inf readings);
# those steps are detected from the gradient norm and left out of the update.
import math
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten, tree_map

rng = np.random.default_rng(7)
N_TRAIN, N_VAL, D = 6000, 1000, 10


def make(n):
    x = rng.normal(size=(n, D)).astype(np.float32)
    temp, rad, rain, snow, hour = x[:, 0], x[:, 1], x[:, 2], x[:, 3], x[:, 4]
    q = (40 + 12 * np.tanh(temp + 0.5 * rad) + 6 * np.maximum(rain, 0) ** 1.5
         + 5 * snow * np.sin(hour) + 3 * x[:, 5] * x[:, 6])
    q = q + rng.normal(scale=1.5, size=n)
    return x, q.astype(np.float32)


xtr, ytr = make(N_TRAIN)
xva, yva = make(N_VAL)
mu, sd = ytr.mean(), ytr.std()
Xva, Yva = mx.array(xva), mx.array(yva)


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(D, 64)
        self.l2 = nn.Linear(64, 64)
        self.out = nn.Linear(64, 1)

    def __call__(self, x):
        h = nn.silu(self.l1(x))
        h = nn.silu(self.l2(h))
        return self.out(h).squeeze(-1) * sd + mu


model = Net()
mx.eval(model.parameters())

EPOCHS, BS = 16, 100
steps_per_epoch = N_TRAIN // BS
total = EPOCHS * steps_per_epoch
warm = 100
sched = optim.join_schedules(
    [optim.linear_schedule(0.0, 3e-3, warm),
     optim.cosine_decay(3e-3, total - warm, 1e-4)], [warm])
opt = optim.Adam(learning_rate=sched)

LEAF_MAX = 1.0


def loss_fn(m, x, y):
    return mx.mean(((m(x) - y) / sd) ** 2)


vg = nn.value_and_grad(model, loss_fn)


def per_leaf_clip(grads):
    n_clipped = [0]

    def f(g):
        n = mx.sqrt(mx.sum(g * g))
        scale = mx.minimum(1.0, LEAF_MAX / (n + 1e-6))
        n_clipped[0] += int((n > LEAF_MAX).item())
        return g * scale
    return tree_map(f, grads), n_clipped[0]


def val_rmse():
    return math.sqrt(mx.mean((model(Xva) - Yva) ** 2).item())


n_leaves = len(tree_flatten(model.trainable_parameters()))
print(f"gauge data: train={N_TRAIN} val={N_VAL} features={D} leaves={n_leaves}")
print(f"mean-forecast val rmse m3/s: {float(np.sqrt(np.mean((yva - mu) ** 2))):.3f}")
print(f"untrained val rmse m3/s: {val_rmse():.3f}")
print("epoch,lr,train_mse_std,val_rmse_m3s,skipped,clipped_leaf_share,secs")

step = 0
t0 = time.time()
for epoch in range(1, EPOCHS + 1):
    perm = rng.permutation(N_TRAIN)
    tot, cnt, skipped, clipped, seen = 0.0, 0, 0, 0, 0
    for b in range(steps_per_epoch):
        idx = perm[b * BS:(b + 1) * BS]
        xb = xtr[idx].copy()
        if (step + 13) % 37 == 0:  # telemetry glitch: two channels read inf
            xb[: BS // 4, 2:4] = np.inf
        x, y = mx.array(xb), mx.array(ytr[idx])
        loss, grads = vg(model, x, y)
        gnorm = optim.clip_grad_norm(grads, 1e9)[1]
        mx.eval(loss, gnorm)
        if not math.isfinite(gnorm.item()):
            skipped += 1
            if skipped <= 2:
                print(f"  step {step}: loss={loss.item()} grad_norm={gnorm.item()} -> update left out")
        else:
            grads, nc = per_leaf_clip(grads)
            clipped += nc
            seen += n_leaves
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state)
            tot += loss.item()
            cnt += 1
        step += 1
    lr = float(sched(mx.array(opt.state["step"]))) if "step" in opt.state else 0.0
    print(f"{epoch},{lr:.2e},{tot / max(cnt, 1):.4f},{val_rmse():.3f},{skipped},"
          f"{clipped / max(seen, 1):.2f},{time.time() - t0:.1f}")

finite = all(bool(mx.all(mx.isfinite(v)).item()) for _, v in tree_flatten(model.parameters()))
print(f"done: steps={step} updates={int(opt.state['step'].item())} params_finite={finite} "
      f"final val rmse m3/s={val_rmse():.3f}")
