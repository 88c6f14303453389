"""Shearing-shed records: predict the greasy fleece weight (kg) of a ewe from
her shearing record.  The breed goes through a fixed (frozen) one-hot code
table; the rest of the network is trained with Adagrad.
Reports are JSON lines.  The train loss is an EMA that starts at 0."""
import json
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

FAMILIES = ["merino", "corriedale", "romney", "border_leicester", "dorper", "perendale"]


def make_fleeces(n, rng):
    age = rng.uniform(1.0, 8.0, n)               # years
    body = rng.uniform(40.0, 90.0, n)            # body weight, kg
    months = rng.uniform(6.0, 14.0, n)           # months since last shearing
    pasture = rng.uniform(0.0, 1.0, n)           # pasture quality index
    rain = rng.gamma(4.0, 150.0, n)              # mm over the growing period
    fam = rng.integers(0, len(FAMILIES), n)
    base = np.array([4.8, 4.2, 4.6, 4.4, 0.9, 3.9])[fam]
    growth = np.array([1.0, 0.9, 1.05, 1.0, 0.3, 0.85])[fam]
    kg = (base * growth * (months / 12.0) ** 0.9
          + 0.035 * (body - 65.0) * growth
          - 0.06 * (age - 4.0) ** 2 * growth + 0.3
          + 0.8 * pasture * growth + 0.15 * np.log(rain / 600.0))
    kg = kg + rng.normal(0.0, 0.25, n)
    x = np.stack([age, body, months, pasture, np.log(rain)], axis=1)
    return x.astype(np.float32), fam.astype(np.int32), kg.astype(np.float32)


class FleeceNet(nn.Module):
    def __init__(self, n_fam, n_num, hidden=96):
        super().__init__()
        self.breed = nn.Embedding(n_fam, n_fam)
        # fixed one-hot code for the breed, never trained
        self.breed.weight = mx.eye(n_fam)
        self.breed.freeze()
        self.l1 = nn.Linear(n_num + n_fam, hidden)
        self.l2 = nn.Linear(hidden, hidden)
        self.out = nn.Linear(hidden, 1)

    def __call__(self, x, fam):
        h = mx.concatenate([x, self.breed(fam)], axis=1)
        h = mx.tanh(self.l1(h))
        h = mx.tanh(self.l2(h))
        return self.out(h).squeeze(-1)


def emit(**kw):
    print(json.dumps(kw, sort_keys=True), flush=True)


def main():
    rng = np.random.default_rng(11)
    xtr, ftr, ytr = make_fleeces(12000, rng)
    xte, fte, yte = make_fleeces(2000, rng)
    mu, sd = xtr.mean(0), xtr.std(0)
    ymu, ysd = float(ytr.mean()), float(ytr.std())
    Xtr, Xte = mx.array((xtr - mu) / sd), mx.array((xte - mu) / sd)
    Ftr, Fte = mx.array(ftr), mx.array(fte)
    Ytr, Yte = mx.array((ytr - ymu) / ysd), mx.array(yte)
    emit(event="data", train=len(ytr), test=len(yte), target_sd_kg=round(ysd, 3),
         noise_floor_kg=0.25, breeds=FAMILIES)

    mx.random.seed(5)
    model = FleeceNet(len(FAMILIES), xtr.shape[1])
    mx.eval(model.parameters())
    code0 = np.array(model.breed.weight)
    opt = optim.Adagrad(learning_rate=0.05)

    def loss_fn(m, x, f, y):
        return nn.losses.mse_loss(m(x, f), y)

    step_fn = nn.value_and_grad(model, loss_fn)

    def test_rmse():
        pred = model(Xte, Fte) * ysd + ymu
        return math.sqrt(float(mx.mean((pred - Yte) ** 2)))

    emit(event="untrained", test_rmse_kg=round(test_rmse(), 3),
         predict_mean_rmse_kg=round(float(np.std(yte - ymu)), 3))

    batch, epochs = 96, 16
    n = Xtr.shape[0]
    ema = 0.0                      # EMA of the batch loss, starts from 0 (no bias correction)
    step = 0
    t0 = time.time()
    for epoch in range(1, epochs + 1):
        perm = mx.array(rng.permutation(n).astype(np.int32))
        for s in range(0, n - batch + 1, batch):
            idx = perm[s:s + batch]
            loss, grads = step_fn(model, Xtr[idx], Ftr[idx], Ytr[idx])
            if step == 0:
                leaves = tree_flatten(grads)
                zero = [k for k, g in leaves if float(mx.abs(g).max()) == 0.0]
                emit(event="grad_check", trainable_leaves=len(leaves),
                     zero_grad_leaves=zero,
                     frozen=[k for k, _ in tree_flatten(model.parameters())
                             if k not in dict(leaves)])
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
            ema = 0.98 * ema + 0.02 * loss.item()
            step += 1
            if step in (1, 10, 40):
                emit(event="step", epoch=epoch, step=step, batch_mse_std=round(loss.item(), 4),
                     train_mse_ema_std=round(ema, 4))
        emit(event="epoch", epoch=epoch, step=step, train_mse_ema_std=round(ema, 4),
             test_rmse_kg=round(test_rmse(), 3), secs=round(time.time() - t0, 2))

    drift = float(np.abs(np.array(model.breed.weight) - code0).max())
    emit(event="done", test_rmse_kg=round(test_rmse(), 3), noise_floor_kg=0.25,
         frozen_code_max_change=drift,
         note="train_mse_ema_std is an EMA from 0 in std units; test rmse in kg of greasy wool, lower is better")


if __name__ == "__main__":
    main()
