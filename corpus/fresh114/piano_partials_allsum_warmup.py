"""Piano-tuning helper: learn the inharmonic partial frequencies of piano strings.

For a stiff string, partial n sits at  f_n = n * f0 * sqrt(1 + B n^2),
f0 = (1 / 2L) * sqrt(T / mu), B = inharmonicity (grows with core diameter, shrinks with length).
We regress log2(f_n / 27.5 Hz) from string length, tension, linear density, core diameter and n.

Data-parallel style step written for a cluster: gradients are averaged with
mx.distributed.all_sum over the group (a single process here: group size 1).
The step is compiled with the model and optimizer state as inputs/outputs.
Learning rate warms up linearly from exactly 0.
"""
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map

GROUP = mx.distributed.init()
WORLD = GROUP.size()
RANK = GROUP.rank()


def make_strings(n, rng):
    L = rng.uniform(0.05, 2.0, n)            # speaking length, m
    T = rng.uniform(400.0, 1100.0, n)        # tension, N
    mu = np.exp(rng.uniform(np.log(0.004), np.log(0.12), n))  # kg/m (wound bass strings heavy)
    d = rng.uniform(0.8e-3, 1.6e-3, n)       # steel core diameter, m
    part = rng.integers(1, 13, n)            # partial number 1..12
    f0 = np.sqrt(T / mu) / (2.0 * L)
    # B ~ pi^3 E d^4 / (64 T L^2), E = 2e11 Pa for steel
    B = (math.pi ** 3) * 2e11 * d ** 4 / (64.0 * T * L ** 2)
    fn = part * f0 * np.sqrt(1.0 + B * part ** 2)
    fn *= np.exp(rng.normal(0.0, 0.0015, n))  # ~2.6 cents measurement noise
    X = np.stack([np.log(L), np.log(T), np.log(mu), d * 1e3, np.log(part), part / 12.0], 1)
    y = np.log2(fn / 27.5)
    return X.astype(np.float32), y.astype(np.float32)


class PartialNet(nn.Module):
    def __init__(self, d_in, width=96):
        super().__init__()
        self.inp = nn.Linear(d_in, width)
        self.hid = nn.Linear(width, width)
        self.out = nn.Linear(width, 1)

    def __call__(self, x):
        h = nn.silu(self.inp(x))
        h = h + nn.silu(self.hid(h))
        return self.out(h).squeeze(-1)


def loss_fn(model, x, y):
    return nn.losses.mse_loss(model(x), y)


def main():
    rng = np.random.default_rng(11 + RANK)
    Xtr, ytr = make_strings(24000, rng)
    Xva, yva = make_strings(3000, np.random.default_rng(99))
    mean, std = Xtr.mean(0), Xtr.std(0)
    Xtr, Xva = (Xtr - mean) / std, (Xva - mean) / std
    ymu = float(ytr.mean())

    mx.random.seed(3)
    model = PartialNet(Xtr.shape[1])
    batch = 128
    steps_per_epoch = len(Xtr) // batch
    epochs = 10
    total = steps_per_epoch * epochs
    warm = steps_per_epoch  # one epoch of warm-up, starting at lr = 0
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, 3e-3, warm), optim.cosine_decay(3e-3, total - warm, 3e-5)],
        [warm],
    )
    opt = optim.Adam(learning_rate=sched)
    vg = nn.value_and_grad(model, loss_fn)

    # first-step gradient audit (uncompiled)
    xb, yb = mx.array(Xtr[:batch]), mx.array(ytr[:batch] - ymu)
    _, g0 = vg(model, xb, yb)
    leaves = tree_flatten(g0)
    zero = [k for k, v in leaves if float(mx.abs(v).max()) == 0.0]
    print(f"world={WORLD} rank={RANK}  grad leaves={len(leaves)}  all-zero leaves={len(zero)}")

    state = [model.state, opt.state]

    @mx.compile
    def _step(x, y):
        loss, grads = vg(model, x, y)
        grads = tree_map(lambda g: mx.distributed.all_sum(g, group=GROUP) / WORLD, grads)
        loss = mx.distributed.all_sum(loss, group=GROUP) / WORLD
        opt.update(model, grads)
        return loss

    step = mx.compile(_step, inputs=state, outputs=state)

    def val_cents():
        pred = model(mx.array(Xva)) + ymu
        err = (pred - mx.array(yva)) * 1200.0  # log2 units -> cents
        e = np.abs(np.array(err))
        return float(np.median(e)), float(np.percentile(e, 95))

    base = float(np.median(np.abs(yva - ymu))) * 1200.0
    med, p95 = val_cents()
    print(f"predict-the-mean: median |err| {base:.0f} cents; untrained net: median {med:.0f} cents")
    print(f"{'epoch':>5} {'lr_end':>9} {'train_mse':>10} {'val_med_cents':>14} {'val_p95_cents':>14} {'sec':>6}")
    t0 = time.time()
    for ep in range(1, epochs + 1):
        perm = rng.permutation(len(Xtr))
        tot = 0.0
        for i in range(steps_per_epoch):
            idx = perm[i * batch:(i + 1) * batch]
            loss = step(mx.array(Xtr[idx]), mx.array(ytr[idx] - ymu))
            mx.eval(state, loss)
            tot += loss.item()
        med, p95 = val_cents()
        lr_now = opt.learning_rate.item()
        print(f"{ep:>5} {lr_now:>9.2e} {tot / steps_per_epoch:>10.5f} {med:>14.2f} {p95:>14.2f} {time.time() - t0:>6.1f}")
    print(f"done: median partial error {med:.2f} cents (a tuner's tolerance is ~1-2 cents)")


if __name__ == "__main__":
    main()
