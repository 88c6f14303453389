"""Remaining-useful-life (RUL) regression on simulated turbofan degradation runs.

Each engine runs to failure; 6 noisy sensors drift with a health index that decays
exponentially with a random onset.  Inputs are windows of 30 cycles x 6 sensors,
the target is the piecewise-linear RUL capped at 125 cycles (the usual CMAPSS trick).
Model: Conv1d (NLC) + BatchNorm stack -> global average pool -> Linear.
The whole training step is compiled with the model state (incl. BatchNorm
running statistics) and the optimizer state captured.
"""
import time
from collections import namedtuple
from functools import partial

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

WIN, NSENS, CAP = 30, 6, 125.0
rng = np.random.default_rng(7)
mx.random.seed(7)


def simulate_engine(rng):
    life = int(rng.integers(140, 320))
    onset = int(life * rng.uniform(0.25, 0.6))
    t = np.arange(life)
    health = np.ones(life)
    k = rng.uniform(3.0, 5.0)
    frac = np.clip((t - onset) / max(life - onset, 1), 0, None)
    health = 1.0 - (np.exp(k * frac) - 1.0) / (np.exp(k) - 1.0)
    sens_gain = np.array([1.0, -0.8, 0.6, 1.2, -0.5, 0.9]) * rng.uniform(0.8, 1.2, NSENS)
    base = rng.normal(0, 0.3, NSENS)
    X = base + np.outer(1.0 - health, sens_gain) * 3.0
    X += rng.normal(0, 0.25, X.shape)
    rul = np.minimum(life - 1 - t, CAP)
    return X.astype(np.float32), rul.astype(np.float32)


def make_windows(n_engines, rng, stride=3):
    xs, ys = [], []
    for _ in range(n_engines):
        X, r = simulate_engine(rng)
        for end in range(WIN, len(X) + 1, stride):
            xs.append(X[end - WIN:end])
            ys.append(r[end - 1])
    return np.stack(xs), np.array(ys, np.float32)


Xtr, ytr = make_windows(150, rng)
Xte, yte = make_windows(40, rng, stride=5)
mu, sd = Xtr.reshape(-1, NSENS).mean(0), Xtr.reshape(-1, NSENS).std(0)
Xtr = (Xtr - mu) / sd
Xte = (Xte - mu) / sd


class RULNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv1d(NSENS, 24, kernel_size=5, padding=2)
        self.b1 = nn.BatchNorm(24)
        self.c2 = nn.Conv1d(24, 32, kernel_size=5, stride=2, padding=2)
        self.b2 = nn.BatchNorm(32)
        self.head = nn.Linear(32, 1)

    def __call__(self, x):
        h = nn.relu(self.b1(self.c1(x)))
        h = nn.relu(self.b2(self.c2(h)))
        return self.head(h.mean(axis=1)).squeeze(-1) * 50.0 + 60.0


def loss_fn(model, x, y):
    return nn.losses.mse_loss(model(x), y)


def nasa_score(pred, true):
    d = pred - true
    return float(np.sum(np.where(d < 0, np.exp(-d / 13.0) - 1, np.exp(d / 10.0) - 1)))


model = RULNet()
mx.eval(model.parameters())
EPOCHS, BS = 8, 64
steps_per_epoch = len(Xtr) // BS
sched = optim.cosine_decay(2e-3, EPOCHS * steps_per_epoch, 1e-4)
opt = optim.AdamW(learning_rate=sched, weight_decay=1e-3)

# gradient check on one batch before anything is compiled
_, g0 = nn.value_and_grad(model, loss_fn)(model, mx.array(Xtr[:BS]), mx.array(ytr[:BS]))
flat = tree_flatten(g0)
zero = [k for k, v in flat if float(mx.abs(v).max()) == 0.0]
print(f"GradCheck(leaves={len(flat)}, zero={zero})")
print(f"Data(train_windows={len(Xtr)}, test_windows={len(Xte)}, "
      f"mean_baseline_rmse={np.sqrt(np.mean((yte - ytr.mean())**2)):.2f})")

state = [model.state, opt.state]


@partial(mx.compile, inputs=state, outputs=state)
def step(x, y):
    loss, grads = nn.value_and_grad(model, loss_fn)(model, x, y)
    opt.update(model, grads)
    return loss


EpochStats = namedtuple("EpochStats", "epoch train_mse test_rmse nasa_score lr secs")
t0 = time.time()
for ep in range(1, EPOCHS + 1):
    model.train()
    perm = rng.permutation(len(Xtr))
    tot = 0.0
    for i in range(steps_per_epoch):
        idx = perm[i * BS:(i + 1) * BS]
        loss = step(mx.array(Xtr[idx]), mx.array(ytr[idx]))
        mx.eval(state)
        tot += loss.item()
    model.eval()
    preds = np.concatenate([np.array(model(mx.array(Xte[j:j + 256])))
                            for j in range(0, len(Xte), 256)])
    rmse = float(np.sqrt(np.mean((preds - yte) ** 2)))
    print(EpochStats(ep, round(tot / steps_per_epoch, 2), round(rmse, 2),
                     round(nasa_score(preds, yte), 1), f"{opt.learning_rate.item():.2e}",
                     round(time.time() - t0, 1)))
print(f"Done(final_test_rmse={rmse:.2f}, cap={CAP:.0f})")
