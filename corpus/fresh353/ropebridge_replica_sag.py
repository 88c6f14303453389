"""Rope-bridge crew: mid-span deck sag (cm) from inspection readings.

Four valley sites keep their own inspection logs, so training is written the
way it would run on four accelerators: one replica per site, each replica
draws its own minibatch with its own seed, computes its own gradient with
its own batch-norm statistics, and the four gradients are averaged before a
single optimizer step. Here the four replicas run one after another on one
host.
"""
import os
import tempfile
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map, tree_unflatten

N_REPLICAS = 4
LOCAL_BATCH = 48
TOTAL_STEPS = 900
RESUME_AT = 450
REPORT_EVERY = 75
WARMUP = 60
PEAK_LR = 3e-3
BASE_SEED = 20240


def make_site(rng, n, site):
    # span (m), rope diameter (mm), walkers on deck, plank wetness, rope age (y),
    # anchor tension (kN), wind (m/s)
    span = rng.uniform(15, 60, n) + 8.0 * site
    diam = rng.uniform(18, 36, n)
    walkers = rng.integers(0, 9, n).astype(np.float64)
    wet = rng.uniform(0, 1, n) * (0.4 + 0.2 * site)
    age = rng.gamma(2.0 + site, 2.5, n)
    tension = rng.uniform(20, 90, n) - 5.0 * site
    wind = rng.exponential(3.0 + site, n)
    load = 0.9 + 0.75 * walkers + 0.8 * wet
    sag = (span ** 2) * load / (8.0 * tension) * (30.0 / diam) ** 0.5
    sag *= 1.0 + 0.025 * age + 0.01 * wind
    sag = sag / 3.0 + rng.normal(0, 2.0, n)
    X = np.stack([span, diam, walkers, wet, age, tension, wind], 1)
    return X.astype(np.float32), sag.astype(np.float32)


class SagNet(nn.Module):
    def __init__(self, d_in=7, hidden=64):
        super().__init__()
        self.l1 = nn.Linear(d_in, hidden)
        self.bn1 = nn.BatchNorm(hidden)
        self.l2 = nn.Linear(hidden, hidden)
        self.bn2 = nn.BatchNorm(hidden)
        self.out = nn.Linear(hidden, 1)

    def __call__(self, x):
        h = nn.silu(self.bn1(self.l1(x)))
        h = nn.silu(self.bn2(self.l2(h)))
        return self.out(h).squeeze(-1)


def loss_fn(model, x, y):
    return nn.losses.mse_loss(model(x), y)


def build(seed):
    mx.random.seed(seed)
    model = SagNet()
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, PEAK_LR, WARMUP),
         optim.cosine_decay(PEAK_LR, TOTAL_STEPS - WARMUP, 1e-5)],
        [WARMUP],
    )
    opt = optim.Adam(learning_rate=sched)
    return model, opt


def replica_step(model, opt, grad_fn, shards, rngs):
    losses, grads = [], []
    model.train()
    for r in range(N_REPLICAS):
        xs, ys = shards[r]
        idx = rngs[r].integers(0, len(ys), LOCAL_BATCH)
        loss, g = grad_fn(model, mx.array(xs[idx]), mx.array(ys[idx]))
        losses.append(loss)
        grads.append(g)
    avg = tree_map(lambda *gs: sum(gs) / N_REPLICAS, *grads)
    opt.update(model, avg)
    mx.eval(model.parameters(), opt.state, losses)
    return [l.item() for l in losses]


def rmse_cm(model, x, y, y_sd, y_mu):
    model.eval()
    pred = model(x) * y_sd + y_mu
    model.train()
    return mx.sqrt(mx.mean((pred - y) ** 2)).item()


def main():
    data_rng = np.random.default_rng(7)
    raw = [make_site(data_rng, 2200, s) for s in range(N_REPLICAS)]
    Xall = np.concatenate([r[0] for r in raw])
    yall = np.concatenate([r[1] for r in raw])
    mu, sd = Xall.mean(0), Xall.std(0)
    y_mu, y_sd = float(yall.mean()), float(yall.std())

    shards, val_x, val_y = [], [], []
    for X, y in raw:
        Xs = (X - mu) / sd
        ys = (y - y_mu) / y_sd
        shards.append((Xs[:1800], ys[:1800]))
        val_x.append(Xs[1800:])
        val_y.append(y[1800:])
    vx = mx.array(np.concatenate(val_x))
    vy = mx.array(np.concatenate(val_y))
    baseline = float(np.sqrt(np.mean((np.concatenate(val_y) - y_mu) ** 2)))

    print(f"sites={N_REPLICAS} local_batch={LOCAL_BATCH} global_batch={N_REPLICAS * LOCAL_BATCH}")
    print("rows per site: " + " ".join(f"s{r}:{len(shards[r][1])}" for r in range(N_REPLICAS)))
    print(f"predict-the-mean val RMSE: {baseline:.2f} cm")

    model, opt = build(BASE_SEED)
    grad_fn = nn.value_and_grad(model, loss_fn)
    rngs = [np.random.default_rng(BASE_SEED + 1 + r) for r in range(N_REPLICAS)]

    # one-off check: averaged replica gradient vs. gradient of the averaged loss
    xs = [mx.array(shards[r][0][:LOCAL_BATCH]) for r in range(N_REPLICAS)]
    ys = [mx.array(shards[r][1][:LOCAL_BATCH]) for r in range(N_REPLICAS)]
    per = [grad_fn(model, xs[r], ys[r])[1] for r in range(N_REPLICAS)]
    avg = tree_map(lambda *gs: sum(gs) / N_REPLICAS, *per)

    def joint(m):
        return sum(loss_fn(m, xs[r], ys[r]) for r in range(N_REPLICAS)) / N_REPLICAS

    _, ref = nn.value_and_grad(model, joint)(model)
    diff = max(mx.max(mx.abs(a - b)).item()
               for (_, a), (_, b) in zip(tree_flatten(avg), tree_flatten(ref)))
    print(f"replica-average vs joint gradient: max |diff| = {diff:.2e} over {len(tree_flatten(avg))} leaves")
    print(f"untrained val RMSE: {rmse_cm(model, vx, vy, y_sd, y_mu):.2f} cm")

    header = "step     lr        " + "  ".join(f"site{r}_mse" for r in range(N_REPLICAS)) + "  mean_mse  val_rmse_cm   secs"
    print(header)
    tmp = tempfile.mkdtemp()
    t0 = time.time()
    window = []
    step = 0
    while step < TOTAL_STEPS:
        lr_now = float(opt.learning_rate.item()) if isinstance(opt.learning_rate, mx.array) else float(opt.learning_rate)
        site_losses = replica_step(model, opt, grad_fn, shards, rngs)
        window.append(site_losses)
        step += 1
        if step % REPORT_EVERY == 0 or step == 1:
            w = np.array(window).mean(0)
            window = []
            v = rmse_cm(model, vx, vy, y_sd, y_mu)
            cols = "  ".join(f"{x:10.4f}" for x in w)
            print(f"{step:4d}  {lr_now:.2e}  {cols}  {w.mean():8.4f}  {v:10.2f}  {time.time() - t0:6.1f}")
        if step == RESUME_AT:
            wpath = os.path.join(tmp, "weights.safetensors")
            opath = os.path.join(tmp, "optim.safetensors")
            model.save_weights(wpath)
            mx.save_safetensors(opath, dict(tree_flatten(opt.state)))
            rng_states = [g.bit_generator.state for g in rngs]
            before = rmse_cm(model, vx, vy, y_sd, y_mu)
            del model, opt, grad_fn
            print(f"-- checkpoint at step {step} written to {tmp}; rebuilding replicas from scratch")
            model, opt = build(BASE_SEED + 999)
            model.load_weights(wpath)
            opt.state = tree_unflatten(list(mx.load(opath).items()))
            grad_fn = nn.value_and_grad(model, loss_fn)
            for g, s in zip(rngs, rng_states):
                g.bit_generator.state = s
            after = rmse_cm(model, vx, vy, y_sd, y_mu)
            print(f"-- resumed: val RMSE {before:.3f} cm before, {after:.3f} cm after reload; optimizer step {int(opt.state['step'].item())}")

    final = rmse_cm(model, vx, vy, y_sd, y_mu)
    print(f"done: {TOTAL_STEPS} steps, val RMSE {final:.2f} cm vs mean baseline {baseline:.2f} cm "
          f"(label noise sd 2.00 cm), {time.time() - t0:.1f}s")
    model.eval()
    per_site = []
    off = 0
    for r in range(N_REPLICAS):
        n = len(val_y[r])
        p = model(vx[off:off + n]) * y_sd + y_mu
        per_site.append(mx.sqrt(mx.mean((p - vy[off:off + n]) ** 2)).item())
        off += n
    print("per-site val RMSE cm: " + "  ".join(f"site{r}={e:.2f}" for r, e in enumerate(per_site)))


if __name__ == "__main__":
    main()
