# Nori (Pyropia) longline farm: predict dry-weight yield per metre of line at
# harvest from nine site / season readings.  Synthetic data, made-up growth law.
#
# Stage "sheltered" trains on calm-bay lines only, stage "exposed" adds the
# storm-exposed lines (harder: wave damage and epiphytes), so the loss jumps up
# at the stage switch before it comes down again.  The first layer is a fixed
# random Fourier projection and is frozen on purpose.
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

rng = np.random.default_rng(134)


def make_lines(n, exposed):
    temp = rng.normal(11.0, 2.5, n)            # sea temperature, degC
    nitrate = rng.gamma(3.0, 2.0, n)           # umol/L
    light = rng.uniform(2.0, 9.0, n)           # mol photons m-2 d-1
    depth = rng.uniform(0.3, 2.5, n)           # line depth, m
    seed_density = rng.uniform(0.5, 2.0, n)    # relative
    days = rng.uniform(40, 110, n)             # days since outplant
    current = rng.uniform(0.02, 0.6, n)        # m/s
    wave = rng.gamma(2.0, 0.6 if exposed else 0.15, n)  # significant height, m
    epiphyte = rng.beta(2, 8 if exposed else 20, n)     # cover fraction

    growth = (0.9 * np.tanh(nitrate / 5.0) * np.exp(-((temp - 10.5) / 4.0) ** 2)
              * (1 - np.exp(-light / 4.0)) * np.exp(-0.35 * depth)
              * np.sqrt(seed_density) * (1 + 1.5 * current))
    y = growth * days / 25.0
    y = y * np.exp(-0.55 * np.maximum(wave - 0.4, 0.0)) * (1 - 0.8 * epiphyte)
    y = y + rng.normal(0, 0.06, n)
    X = np.stack([temp, nitrate, light, depth, seed_density, days, current,
                  wave, epiphyte], 1)
    return X.astype(np.float32), y.astype(np.float32)


Xs, ys = make_lines(2400, exposed=False)
Xe, ye = make_lines(2400, exposed=True)
Xv_s, yv_s = make_lines(500, exposed=False)
Xv_e, yv_e = make_lines(500, exposed=True)

mu = np.concatenate([Xs, Xe]).mean(0)
sd = np.concatenate([Xs, Xe]).std(0)
norm = lambda a: ((a - mu) / sd).astype(np.float32)


class YieldNet(nn.Module):
    def __init__(self, d_in, n_fourier=64, hidden=64):
        super().__init__()
        self.fourier = nn.Linear(d_in, n_fourier)   # frozen random projection
        self.fourier.weight = mx.random.normal((n_fourier, d_in)) * 0.8
        self.fourier.bias = mx.random.uniform(0, 2 * math.pi, (n_fourier,))
        self.l1 = nn.Linear(n_fourier + d_in, hidden)
        self.l2 = nn.Linear(hidden, hidden)
        self.out = nn.Linear(hidden, 1)

    def __call__(self, x):
        f = mx.cos(self.fourier(x))
        h = nn.silu(self.l1(mx.concatenate([f, x], axis=-1)))
        h = h + nn.silu(self.l2(h))
        return self.out(h).squeeze(-1)


mx.random.seed(7)
model = YieldNet(9)
model.fourier.freeze()
mx.eval(model.parameters())

n_train = sum(v.size for _, v in tree_flatten(model.trainable_parameters()))
n_all = sum(v.size for _, v in tree_flatten(model.parameters()))


def loss_fn(m, x, y):
    return nn.losses.huber_loss(m(x), y, delta=0.25, reduction="mean")


loss_and_grad = nn.value_and_grad(model, loss_fn)

BATCH = 128
WARM = 60
stages = [("sheltered", 14, (Xs, ys)),
          ("exposed", 22, (np.concatenate([Xs, Xe]), np.concatenate([ys, ye])))]
total_steps = sum(ep * (len(d[0]) // BATCH) for _, ep, d in stages)
sched = optim.join_schedules(
    [optim.linear_schedule(0.0, 4e-3, WARM),
     optim.cosine_decay(4e-3, total_steps - WARM, 2e-4)], [WARM])
opt = optim.Adamax(learning_rate=sched)

# gradient check once before training: every trainable tensor must get signal
_, g0 = loss_and_grad(model, mx.array(norm(Xs[:256])), mx.array(ys[:256]))
gnorms = {k: float(mx.linalg.norm(v)) for k, v in tree_flatten(g0)}
print(f"params: {n_train} trainable / {n_all} total (fourier front frozen)")
print("grad check: " + ", ".join(f"{k}={v:.2e}" for k, v in gnorms.items()))

Xvs, yvs = mx.array(norm(Xv_s)), mx.array(yv_s)
Xve, yve = mx.array(norm(Xv_e)), mx.array(yv_e)
ref_s = float(np.mean(np.abs(yv_s - np.median(ys))))
ref_e = float(np.mean(np.abs(yv_e - np.median(np.concatenate([ys, ye])))))

hdr = (f"{'stage':<10}{'ep':>3}{'step':>6}{'lr':>10}{'huber':>9}"
       f"{'MAE calm kg/m':>15}{'MAE exposed kg/m':>18}{'ref calm/exp':>15}")
print(hdr)
print("-" * len(hdr))
t0 = time.time()
step = 0
for name, epochs, (Xtr, ytr) in stages:
    Xn = norm(Xtr)
    for ep in range(1, epochs + 1):
        perm = rng.permutation(len(Xn))
        run = 0.0
        nb = len(Xn) // BATCH
        for b in range(nb):
            idx = perm[b * BATCH:(b + 1) * BATCH]
            loss, grads = loss_and_grad(model, mx.array(Xn[idx]), mx.array(ytr[idx]))
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
            run += loss.item()
            step += 1
        mae_s = mx.mean(mx.abs(model(Xvs) - yvs)).item()
        mae_e = mx.mean(mx.abs(model(Xve) - yve)).item()
        lr_now = float(sched(mx.array(step)))
        print(f"{name:<10}{ep:>3}{step:>6}{lr_now:>10.2e}{run / nb:>9.4f}"
              f"{mae_s:>15.3f}{mae_e:>18.3f}{ref_s:>8.3f}/{ref_e:.3f}")
    print("-" * len(hdr))

print(f"done in {time.time() - t0:.1f}s; final MAE calm {mae_s:.3f} kg/m, "
      f"exposed {mae_e:.3f} kg/m (median-guess ref {ref_s:.3f} / {ref_e:.3f})")
