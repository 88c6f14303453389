# Abalone age from shell measurements: 4-fold CV of a small MLP regressor.
# Rings are counted under a microscope (slow), so we predict them from cheap
# measurements. Each fold warms its learning rate up from exactly 0, trains
# with early stopping on the held-out fold and restores the best weights.
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map

rng = np.random.default_rng(155)
N = 960
sex = rng.integers(0, 3, N)                        # 0=M 1=F 2=infant
age = rng.gamma(4.0, 2.6, N) + 1.5                 # true age in years
length = 0.75 * (1 - np.exp(-0.22 * age)) + rng.normal(0, 0.02, N)  # mm/200
diameter = 0.79 * length + rng.normal(0, 0.015, N)
height = 0.27 * length + 0.02 * np.log1p(age) + rng.normal(0, 0.01, N)
whole = 2.1 * length ** 3 * (1 + 0.15 * (sex == 1)) + rng.normal(0, 0.03, N)
shucked = 0.43 * whole + rng.normal(0, 0.02, N)
viscera = 0.22 * whole + rng.normal(0, 0.01, N)
shell = 0.28 * whole + 0.012 * age + rng.normal(0, 0.015, N)
rings = np.round(age + 1.5 + rng.normal(0, 1.0, N)).clip(1, 29)

feats = np.stack([length, diameter, height, whole, shucked, viscera, shell,
                  sex == 0, sex == 1, sex == 2], axis=1).astype(np.float32)
feats[:, :7] = (feats[:, :7] - feats[:, :7].mean(0)) / feats[:, :7].std(0)
target = rings.astype(np.float32)
folds = np.array_split(rng.permutation(N), 4)


class RingNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(10, 48)
        self.l2 = nn.Linear(48, 24)
        self.out = nn.Linear(24, 1)

    def __call__(self, x):
        return self.out(nn.gelu(self.l2(nn.gelu(self.l1(x))))).squeeze(-1)


def huber(model, x, y):
    return nn.losses.huber_loss(model(x), y, delta=2.0, reduction="mean")


print(f"{'fold':>4} {'ep':>3} {'lr':>9} {'train_huber':>11} {'val_MAE':>9} "
      f"{'mean_MAE':>9} {'gain%':>6}  note")
fold_mae = []
t0 = time.time()
for k, val_idx in enumerate(folds):
    tr_idx = np.concatenate([f for j, f in enumerate(folds) if j != k])
    xtr, ytr = mx.array(feats[tr_idx]), mx.array(target[tr_idx])
    xva, yva = mx.array(feats[val_idx]), mx.array(target[val_idx])
    baseline = float(np.abs(target[val_idx] - target[tr_idx].mean()).mean())

    mx.random.seed(100 + k)
    model = RingNet()
    steps_per_ep = math.ceil(len(tr_idx) / 64)
    warm = optim.linear_schedule(0.0, 3e-3, 4 * steps_per_ep)
    decay = optim.cosine_decay(3e-3, 56 * steps_per_ep, 1e-4)
    opt = optim.AdamW(learning_rate=optim.join_schedules([warm, decay], [4 * steps_per_ep]),
                      weight_decay=1e-3)
    step_fn = nn.value_and_grad(model, huber)

    best, best_ep, best_w, patience = float("inf"), -1, None, 0
    for ep in range(60):
        perm = mx.array(rng.permutation(len(tr_idx)))
        tot = 0.0
        lr_now = float(opt.learning_rate) if ep else 0.0
        for b in range(steps_per_ep):
            ib = perm[b * 64:(b + 1) * 64]
            loss, grads = step_fn(model, xtr[ib], ytr[ib])
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
            tot += loss.item() * ib.size
        val_mae = mx.abs(model(xva) - yva).mean().item()
        note = ""
        if val_mae < best - 1e-3:
            best, best_ep, patience = val_mae, ep, 0
            best_w = tree_map(lambda a: mx.array(a), model.parameters())
            mx.eval(best_w)
            note = "*"
        else:
            patience += 1
        if ep % 6 == 0 or patience == 8:
            print(f"{k:>4} {ep:>3} {lr_now:>9.2e} {tot / len(tr_idx):>11.4f} "
                  f"{val_mae:>9.3f} {baseline:>9.3f} {100 * (1 - val_mae / baseline):>6.1f}  {note}")
        if patience == 8:
            print(f"     early stop at ep {ep}; restoring ep {best_ep} (val_MAE {best:.3f} rings)")
            break
    model.update(best_w)
    restored = mx.abs(model(xva) - yva).mean().item()
    assert abs(restored - best) < 1e-4, (restored, best)
    fold_mae.append(restored)
    print(f"  fold {k} done: MAE {restored:.3f} rings vs predict-the-mean {baseline:.3f} rings")

print(f"CV MAE {np.mean(fold_mae):.3f} +- {np.std(fold_mae):.3f} rings "
      f"({time.time() - t0:.1f}s)")
