# Lighthouse keeper's log: classify the visibility band (clear / haze / mist / fog)
# from six synthetic hourly readings. Three seeds, each trained from scratch with a
# linear warmup that starts at a learning rate of exactly 0.
import math
import sys

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from functools import partial

BANDS = ["clear", "haze", "mist", "fog"]


def make_log(n, rng):
    air = rng.normal(11.0, 4.0, n)            # deg C
    sea = air + rng.normal(1.0, 2.0, n)       # deg C
    rh = np.clip(rng.normal(82, 9, n), 40, 100)
    wind = np.abs(rng.normal(6, 4, n))        # m/s
    hour = rng.integers(0, 24, n)
    dew_gap = air - (air - (100 - rh) / 5.0)
    score = 0.35 * (rh - 82) - 0.9 * (air - sea) - 0.25 * wind + 0.8 * np.cos(2 * np.pi * hour / 24) - 0.2 * dew_gap
    score += rng.normal(0, 1.2, n)
    band = np.digitize(score, [-2.0, 1.0, 3.5])
    X = np.stack([air, sea, rh, wind, np.sin(2 * np.pi * hour / 24), np.cos(2 * np.pi * hour / 24)], 1)
    return X.astype(np.float32), band.astype(np.int32)


data_rng = np.random.default_rng(42)
Xtr, ytr = make_log(6000, data_rng)
Xva, yva = make_log(1500, data_rng)
mu, sd = Xtr.mean(0), Xtr.std(0)
Xtr, Xva = (Xtr - mu) / sd, (Xva - mu) / sd
Xtr, ytr, Xva, yva = map(mx.array, (Xtr, ytr, Xva, yva))
majority = float(np.mean(np.array(yva) == np.bincount(np.array(ytr)).argmax()))

EPOCHS, BS, PEAK, WARM = 10, 100, 0.05, 120
steps_per_epoch = Xtr.shape[0] // BS
results = []

for seed in (7, 19, 31):
    mx.random.seed(seed)
    model = nn.Sequential(nn.Linear(6, 48), nn.Tanh(), nn.Linear(48, 48), nn.Tanh(), nn.Linear(48, 4))
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, PEAK, WARM),
         optim.cosine_decay(PEAK, EPOCHS * steps_per_epoch - WARM, 0.002)], [WARM])
    opt = optim.SGD(learning_rate=sched, momentum=0.9, nesterov=True)

    def loss_fn(xb, yb):
        return nn.losses.cross_entropy(model(xb), yb, reduction="mean")

    state = [model.state, opt.state]

    @partial(mx.compile, inputs=state, outputs=state)
    def step(xb, yb):
        loss, grads = nn.value_and_grad(model, loss_fn)(xb, yb)
        opt.update(model, grads)
        return loss

    step_no = 0
    for ep in range(EPOCHS):
        perm = mx.random.permutation(Xtr.shape[0])
        run = 0.0
        for b in range(steps_per_epoch):
            idx = perm[b * BS:(b + 1) * BS]
            loss = step(Xtr[idx], ytr[idx])
            mx.eval(state, loss)
            run += loss.item()
            step_no += 1
        logits = model(Xva)
        vloss = nn.losses.cross_entropy(logits, yva, reduction="mean").item()
        acc = (mx.argmax(logits, axis=1) == yva).mean().item()
        done = int(20 * (ep + 1) / EPOCHS)
        sys.stdout.write(f"seed{seed} {100*(ep+1)//EPOCHS:3d}%|{'#'*done}{' '*(20-done)}| {ep+1}/{EPOCHS} "
                         f"[it {step_no}, lr={opt.learning_rate.item():.4f}, loss={run/steps_per_epoch:.3f}, "
                         f"val_xent={vloss:.3f}, val_acc={acc:.3f}]\n")
    results.append((seed, vloss, acc))

print()
print(f"{'seed':>6} {'val_xent':>9} {'val_acc':>8} {'majority':>9}")
for s, v, a in results:
    print(f"{s:>6} {v:>9.4f} {a:>8.4f} {majority:>9.4f}")
accs = [a for _, _, a in results]
print(f"{'mean':>6} {np.mean([v for _, v, _ in results]):>9.4f} {np.mean(accs):>8.4f} {majority:>9.4f}  (spread {max(accs)-min(accs):.4f})")
