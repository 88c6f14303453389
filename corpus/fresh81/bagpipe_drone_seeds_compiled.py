"""Bagpipe drone reeds: how far (cents) a tenor drone drifts from the chanter's A
after N minutes of playing, regressed from reed bridle position, bag pressure,
room temperature, humidity, minutes played and hemp turns on the tuning pin.
Three seeds trained one after another from scratch; compiled step with state;
silent while training, one summary report at the end."""
import time
from functools import partial
from string import Template

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten


class Cfg:
    n_train = 12000
    n_val = 2000
    hidden = 64
    batch = 64
    epochs = 8
    peak_lr = 3e-3
    warmup = 150
    seeds = (3, 17, 29)


def make_drones(n, rng):
    bridle = rng.uniform(-1, 1, n)
    pressure = rng.normal(28.0, 3.0, n)          # inches of water
    temp = rng.uniform(12, 30, n)                # C
    humid = rng.uniform(30, 90, n)               # %
    minutes = rng.uniform(0, 45, n)
    hemp = rng.integers(0, 6, n).astype(np.float64)
    warm = 8.0 * (1 - np.exp(-minutes / 12.0)) * (1 + 0.02 * (humid - 60))
    cents = (25.0 * bridle + 1.8 * (pressure - 28) + 0.9 * (temp - 20)
             + warm - 1.5 * hemp + 3.0 * bridle * (pressure - 28) / 3.0)
    cents = cents + rng.normal(0, 1.2, n)
    X = np.stack([bridle, pressure, temp, humid, minutes, hemp], 1)
    return X.astype(np.float32), cents.astype(np.float32)


class DroneNet(nn.Module):
    def __init__(self, d_in, hidden):
        super().__init__()
        self.l1 = nn.Linear(d_in, hidden)
        self.l2 = nn.Linear(hidden, hidden)
        self.head = nn.Linear(hidden, 1)

    def __call__(self, x):
        h = nn.gelu(self.l1(x))
        h = nn.gelu(self.l2(h)) + h
        return self.head(h).squeeze(-1)


def mse(model, x, y):
    return nn.losses.mse_loss(model(x), y, reduction="mean")


def run_seed(seed, cfg, data):
    Xtr, ytr, Xva, yva, ysd = data
    mx.random.seed(seed)
    rng = np.random.default_rng(seed)
    model = DroneNet(Xtr.shape[1], cfg.hidden)
    steps_per_epoch = Xtr.shape[0] // cfg.batch
    total = steps_per_epoch * cfg.epochs
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, cfg.peak_lr, cfg.warmup),
         optim.cosine_decay(cfg.peak_lr, total - cfg.warmup, 1e-5)],
        [cfg.warmup])
    opt = optim.Adam(learning_rate=sched)
    vg = nn.value_and_grad(model, mse)

    # eager audit of the first batch
    _, g0 = vg(model, Xtr[:cfg.batch], ytr[:cfg.batch])
    flat = tree_flatten(g0)
    zero_leaves = [k for k, g in flat if not mx.any(g != 0).item()]

    state = [model.state, opt.state]

    @partial(mx.compile, inputs=state, outputs=state)
    def step(x, y):
        loss, grads = vg(model, x, y)
        opt.update(model, grads)
        return loss

    def val_rmse():
        r = mx.sqrt(mx.mean((model(Xva) - yva) ** 2)) * ysd
        return r.item()

    untrained = val_rmse()
    t0 = time.time()
    last = []
    for ep in range(cfg.epochs):
        perm = rng.permutation(Xtr.shape[0])
        for i in range(steps_per_epoch):
            idx = mx.array(perm[i * cfg.batch:(i + 1) * cfg.batch])
            loss = step(Xtr[idx], ytr[idx])
            mx.eval(state, loss)
            if ep == cfg.epochs - 1:
                last.append(loss.item())
    return dict(seed=seed, leaves=len(flat), zero=zero_leaves, untrained=untrained,
                train=float(np.mean(last)), val=val_rmse(), secs=time.time() - t0,
                lr_first=float(sched(0)))


def main():
    cfg = Cfg()
    rng = np.random.default_rng(0)
    Xtr, ytr = make_drones(cfg.n_train, rng)
    Xva, yva = make_drones(cfg.n_val, rng)
    mu, sd = Xtr.mean(0), Xtr.std(0)
    ymu, ysd = ytr.mean(), ytr.std()
    data = (mx.array((Xtr - mu) / sd), mx.array((ytr - ymu) / ysd),
            mx.array((Xva - mu) / sd), mx.array((yva - ymu) / ysd), float(ysd))
    print(f"training {len(cfg.seeds)} seeds x {cfg.epochs} epochs; report at the end")
    results = [run_seed(s, cfg, data) for s in cfg.seeds]

    row = Template("seed $seed: grads $leaves leaves (zero: $zero), lr at step 0 = $lr0, "
                   "val RMSE untrained $u c -> $v c, last-epoch train mse(std) $t, $secs s")
    for r in results:
        print(row.substitute(seed=r["seed"], leaves=r["leaves"], zero=r["zero"] or "none",
                             lr0=f"{r['lr_first']:.1e}", u=f"{r['untrained']:.2f}",
                             v=f"{r['val']:.2f}", t=f"{r['train']:.4f}", secs=f"{r['secs']:.1f}"))
    vals = np.array([r["val"] for r in results])
    print(Template("across seeds: val RMSE $m +- $s cents (noise floor 1.20, predict-mean $p)")
          .substitute(m=f"{vals.mean():.2f}", s=f"{vals.std():.2f}", p=f"{ysd:.2f}"))


if __name__ == "__main__":
    main()
