"""Drying time (minutes to touch-dry) of a paint coat regressed from coat and
room conditions. The live model is trained with plain momentum SGD at a fairly
high step size, so its weights jitter; a second copy holds a zero-initialised,
bias-corrected exponential moving average of the live weights (kept by hand
with tree_map, never differentiated) and is the one reported as the result.
Progress is one JSON object per line."""
import json
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map


def make_coats(n, rng):
    thickness = rng.uniform(40, 250, n)            # wet film, microns
    temp = rng.uniform(8, 32, n)                   # deg C
    rh = rng.uniform(25, 90, n)                    # %
    airflow = rng.gamma(2.0, 0.25, n)              # m/s
    waterborne = rng.integers(0, 2, n).astype(np.float64)
    tint = rng.uniform(0, 1, n)
    base = np.where(waterborne > 0, 35.0, 90.0)
    minutes = (base * (thickness / 100.0) ** 1.3
               * np.exp(-0.045 * (temp - 20))
               * (1 + (0.9 * waterborne + 0.2) * ((rh - 50) / 40.0) ** 2 + 0.25 * waterborne * (rh > 70))
               / (1 + 0.6 * np.sqrt(airflow))
               * (1 + 0.1 * tint))
    minutes = minutes * rng.lognormal(0, 0.08, n)
    x = np.stack([np.log(thickness), temp, rh, np.log1p(airflow), waterborne, tint], 1)
    return x.astype(np.float32), np.log(minutes).astype(np.float32)


class DryNet(nn.Module):
    def __init__(self, d_in=6, h=48):
        super().__init__()
        self.l1 = nn.Linear(d_in, h)
        self.l2 = nn.Linear(h, h)
        self.out = nn.Linear(h, 1)

    def __call__(self, x):
        x = nn.silu(self.l1(x))
        x = nn.silu(self.l2(x)) + x
        return self.out(x).squeeze(-1)


def loss_fn(model, x, y):
    return nn.losses.huber_loss(model(x), y, delta=0.5, reduction="mean")


def rmse_minutes(model, x, log_minutes):
    pred = model(x)
    err = mx.exp(pred) - mx.exp(log_minutes)
    return mx.sqrt(mx.mean(err * err)).item()


def emit(**kw):
    print(json.dumps(kw, separators=(",", ":")))


def main():
    rng = np.random.default_rng(2024)
    xtr_np, ytr_np = make_coats(16000, rng)
    xte_np, yte_np = make_coats(4000, rng)
    mu, sd = xtr_np.mean(0), xtr_np.std(0)
    ymu = float(ytr_np.mean())
    xtr, xte = mx.array((xtr_np - mu) / sd), mx.array((xte_np - mu) / sd)
    ytr, yte = mx.array(ytr_np - ymu), mx.array(yte_np - ymu)
    yte_abs = mx.array(yte_np)
    const_rmse = float(np.sqrt(np.mean((np.exp(yte_np) - np.exp(ymu)) ** 2)))
    emit(event="data", train=len(ytr_np), test=len(yte_np),
         median_minutes=round(float(np.median(np.exp(ytr_np))), 1),
         const_pred_rmse_min=round(const_rmse, 2))

    mx.random.seed(3)
    live = DryNet()
    shadow = DryNet()                      # holds the debiased EMA; never trained
    mx.eval(live.parameters(), shadow.parameters())
    opt = optim.SGD(learning_rate=0.08, momentum=0.9)
    beta = 0.995
    ema = tree_map(mx.zeros_like, live.parameters())

    class Shifted(nn.Module):              # adds the target mean back for reporting
        def __init__(self, net):
            super().__init__()
            self.net = net

        def __call__(self, x):
            return self.net(x) + ymu

    vg = nn.value_and_grad(live, loss_fn)
    _, g0 = vg(live, xtr[:512], ytr[:512])
    leaves = tree_flatten(g0)
    emit(event="grad_check", leaves=len(leaves),
         zero_leaves=[k for k, v in leaves if mx.all(v == 0).item()],
         max_abs=round(max(mx.abs(v).max().item() for _, v in leaves), 5))

    bs, steps, n = 64, 3000, xtr.shape[0]
    perm, cursor = rng.permutation(n), 0
    run_loss, t0 = 0.0, time.perf_counter()
    for step in range(1, steps + 1):
        if cursor + bs > n:
            perm, cursor = rng.permutation(n), 0
        idx = mx.array(perm[cursor:cursor + bs])
        cursor += bs
        loss, grads = vg(live, xtr[idx], ytr[idx])
        opt.update(live, grads)
        ema = tree_map(lambda e, p: beta * e + (1 - beta) * p, ema, live.parameters())
        mx.eval(loss, live.parameters(), opt.state, ema)
        run_loss += loss.item()
        if step % 250 == 0 or step == 1:
            corr = 1.0 - beta ** step
            shadow.update(tree_map(lambda e: e / corr, ema))
            emit(event="eval", step=step,
                 train_huber=round(run_loss / (1 if step == 1 else 250), 5),
                 test_huber_live=round(loss_fn(live, xte, yte).item(), 5),
                 test_huber_ema=round(loss_fn(shadow, xte, yte).item(), 5),
                 rmse_min_live=round(rmse_minutes(Shifted(live), xte, yte_abs), 2),
                 rmse_min_ema=round(rmse_minutes(Shifted(shadow), xte, yte_abs), 2),
                 secs=round(time.perf_counter() - t0, 2))
            run_loss = 0.0
    corr = 1.0 - beta ** steps
    shadow.update(tree_map(lambda e: e / corr, ema))
    emit(event="done", steps=steps,
         rmse_min_live=round(rmse_minutes(Shifted(live), xte, yte_abs), 2),
         rmse_min_ema=round(rmse_minutes(Shifted(shadow), xte, yte_abs), 2),
         const_pred_rmse_min=round(const_rmse, 2))


if __name__ == "__main__":
    main()
