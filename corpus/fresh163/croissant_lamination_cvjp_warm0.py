# Croissant lamination bench: predict specific volume (cm^3/g) of baked croissants
# from 6 process readings. Small MLP with a custom-VJP "soft clip" activation,
# AdamW on a schedule that starts at exactly lr=0 (linear warmup) then cosine decay.
import math
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np

rng = np.random.default_rng(1631)
N_TRAIN, N_VAL = 1800, 400


def make_batch(n):
    butter_c = rng.uniform(8, 22, n)        # butter temperature at lamination, C
    folds = rng.integers(2, 6, n).astype(np.float64)   # number of letter folds
    proof_min = rng.uniform(60, 180, n)     # proof time, minutes
    humidity = rng.uniform(60, 90, n)       # proof humidity, %
    hydration = rng.uniform(50, 62, n)      # dough hydration, %
    oven_c = rng.uniform(180, 220, n)       # oven temperature, C
    # synthetic law: butter too warm smears layers; too many folds tears layers
    vol = (5.5
           - 0.018 * (butter_c - 13.0) ** 2
           - 0.35 * (folds - 3.2) ** 2
           + 1.2 * np.tanh((proof_min - 110) / 40)
           + 0.02 * (humidity - 75)
           - 0.04 * (hydration - 56) ** 2 / 4
           + 0.6 * np.sin((oven_c - 180) / 40 * math.pi / 2))
    vol += rng.normal(0, 0.15, n)
    X = np.stack([butter_c, folds, proof_min, humidity, hydration, oven_c], 1)
    return X.astype(np.float32), vol.astype(np.float32)


Xtr, ytr = make_batch(N_TRAIN)
Xva, yva = make_batch(N_VAL)
mu, sd = Xtr.mean(0), Xtr.std(0)
Xtr = mx.array((Xtr - mu) / sd)
Xva = mx.array((Xva - mu) / sd)
ymu, ysd = float(ytr.mean()), float(ytr.std())
ytr_s = mx.array((ytr - ymu) / ysd)
yva_np = yva
yva_s = mx.array((yva - ymu) / ysd)


@mx.custom_function
def soft_clip(x):
    # x / (1 + |x|/3): bounded, smooth
    return x / (1.0 + mx.abs(x) / 3.0)


@soft_clip.vjp
def soft_clip_vjp(primals, cotangent, output):
    x = primals
    d = 1.0 + mx.abs(x) / 3.0
    return (cotangent / (d * d),)


class SoftClip(nn.Module):
    def __call__(self, x):
        return soft_clip(x)


class VolumeNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(6, 48)
        self.l2 = nn.Linear(48, 48)
        self.out = nn.Linear(48, 1)
        self.act = SoftClip()

    def __call__(self, x):
        h = self.act(self.l1(x))
        h = self.act(self.l2(h))
        return self.out(h).squeeze(-1)


mx.random.seed(17)
model = VolumeNet()

# quick check that the custom VJP matches autodiff of the same formula
xs = mx.random.normal((64,))
g_custom = mx.grad(lambda v: soft_clip(v).sum())(xs)
g_auto = mx.grad(lambda v: (v / (1.0 + mx.abs(v) / 3.0)).sum())(xs)
print(f"vjp audit: max |custom - autodiff| = {mx.abs(g_custom - g_auto).max().item():.2e}")

EPOCHS, BS = 40, 60
steps_per_epoch = N_TRAIN // BS
total = EPOCHS * steps_per_epoch
warm = 2 * steps_per_epoch
sched = optim.join_schedules(
    [optim.linear_schedule(0.0, 3e-3, warm),
     optim.cosine_decay(3e-3, total - warm, 1e-5)],
    [warm])
opt = optim.AdamW(learning_rate=sched, weight_decay=1e-4)


def loss_fn(m, xb, yb):
    return nn.losses.huber_loss(m(xb), yb, delta=1.0, reduction="mean")


loss_and_grad = nn.value_and_grad(model, loss_fn)

# check every weight gets gradient
_, g0 = loss_and_grad(model, Xtr[:BS], ytr_s[:BS])
from mlx.utils import tree_flatten
zero = [k for k, v in tree_flatten(g0) if mx.abs(v).sum().item() == 0.0]
print(f"grad audit: {len(tree_flatten(g0))} tensors, zero-grad tensors: {zero or 'none'}")

baseline_rmse = float(np.sqrt(np.mean((yva_np - ymu) ** 2)))
t0 = time.time()
for ep in range(1, EPOCHS + 1):
    perm = mx.array(rng.permutation(N_TRAIN))
    run = 0.0
    for i in range(steps_per_epoch):
        idx = perm[i * BS:(i + 1) * BS]
        loss, grads = loss_and_grad(model, Xtr[idx], ytr_s[idx])
        if ep == 1 and i == 0:
            print(f"first fold-in: lr={sched(mx.array(0)).item():.2e} huber={loss.item():.4f}")
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        run += loss.item()
    pred = model(Xva) * ysd + ymu
    rmse = mx.sqrt(mx.mean((pred - mx.array(yva_np)) ** 2)).item()
    frac = ep / EPOCHS
    bar = "#" * int(frac * 20) + "." * (20 - int(frac * 20))
    lr_now = opt.learning_rate.item()
    print(f"bake {ep:2d}/{EPOCHS} |{bar}| {frac*100:5.1f}% "
          f"huber={run/steps_per_epoch:.4f} val_rmse={rmse:.3f}cm3/g "
          f"(mean-guess {baseline_rmse:.3f}) lr={lr_now:.2e} "
          f"[{time.time()-t0:.1f}s]")

print(f"final: val RMSE {rmse:.3f} cm3/g vs mean-guess {baseline_rmse:.3f} "
      f"({100*(1-rmse/baseline_rmse):.1f}% lower)")
