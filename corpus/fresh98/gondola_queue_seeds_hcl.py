"""Gondola base-station queue: how many minutes will a skier wait?

Three seeds are trained one after another, each from scratch, and the spread of
their validation error is reported.  The residual block is run under gradient
checkpointing (nn.utils.checkpoint), as we do for the big model on the GPU.
The learning rate warms up from exactly 0.

Everything is printed as HCL-ish blocks so that the ops team can paste it into
their config repo next to the lift settings.
"""
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten


class Cfg:
    n_train = 12000
    n_val = 3000
    hidden = 64
    batch = 128
    steps = 1200
    warmup = 150
    peak_lr = 2e-3
    final_lr = 1e-4
    report_every = 300
    seeds = (11, 12, 13)


def make_resort_days(n, rng):
    hour = rng.uniform(8.0, 16.5, n)
    skiers_k = rng.gamma(4.0, 1.2, n)             # thousands on the mountain
    wind = rng.gamma(2.5, 9.0, n)                 # km/h at the top station
    cabins = rng.uniform(0.55, 1.0, n)            # share of cabins in service
    snow = rng.exponential(8.0, n)                # fresh snow overnight, cm
    weekend = (rng.uniform(size=n) < 2 / 7).astype(np.float64)

    morning = np.exp(-0.5 * ((hour - 9.4) / 0.8) ** 2)
    lunch = 0.35 * np.exp(-0.5 * ((hour - 13.2) / 0.6) ** 2)
    arrivals = skiers_k * 1000 * (0.08 + 0.30 * morning + lunch) * (1 + 0.015 * snow) * (1 + 0.3 * weekend)
    capacity = 2400 * cabins * (1.0 - 0.6 / (1.0 + np.exp(-(wind - 45.0) / 4.0)))
    load = arrivals / capacity
    wait = 1.5 + 25.0 * np.maximum(load - 0.5, 0.0) ** 1.4
    wait = wait * np.exp(rng.normal(0.0, 0.12, n))

    x = np.stack([np.sin(2 * np.pi * hour / 24), np.cos(2 * np.pi * hour / 24),
                  skiers_k, wind, cabins, snow, weekend], axis=1)
    return x.astype(np.float32), wait.astype(np.float32)


class ResBlock(nn.Module):
    def __init__(self, d):
        super().__init__()
        self.fc1 = nn.Linear(d, 2 * d)
        self.fc2 = nn.Linear(2 * d, d)
        self.norm = nn.LayerNorm(d)

    def __call__(self, h):
        return h + self.fc2(nn.silu(self.fc1(self.norm(h))))


class QueueNet(nn.Module):
    def __init__(self, d_in, d):
        super().__init__()
        self.inp = nn.Linear(d_in, d)
        self.block = ResBlock(d)
        self.head = nn.Linear(d, 1)

    def __call__(self, x):
        h = nn.silu(self.inp(x))
        h = nn.utils.checkpoint(self.block)(h)
        return self.head(h).squeeze(-1)


def hcl_block(kind, label, fields):
    width = max(len(k) for k in fields)
    lines = [f'{kind} "{label}" {{']
    for k, v in fields.items():
        if isinstance(v, str):
            v = f'"{v}"'
        elif isinstance(v, float):
            v = f"{v:.5g}"
        lines.append(f"  {k.ljust(width)} = {v}")
    lines.append("}")
    print("\n".join(lines), flush=True)


def lr_schedule(cfg):
    warm = optim.linear_schedule(0.0, cfg.peak_lr, cfg.warmup)
    decay = optim.cosine_decay(cfg.peak_lr, cfg.steps - cfg.warmup, cfg.final_lr)
    return optim.join_schedules([warm, decay], [cfg.warmup])


def evaluate(model, xv, yv_log, wait_v):
    pred_log = model(xv)
    mse = mx.mean((pred_log - yv_log) ** 2).item()
    pred_min = np.expm1(np.array(pred_log) * STATS["ys"] + STATS["ym"])
    err = np.abs(pred_min - wait_v)
    return mse, float(np.sqrt(np.mean(err ** 2))), float(100.0 * np.mean(err <= 2.0))


STATS = {}


def train_one_seed(seed, cfg, data):
    xt, yt, xv, yv, wait_v = data
    mx.random.seed(seed)
    rng = np.random.default_rng(seed)
    model = QueueNet(xt.shape[1], cfg.hidden)
    mx.eval(model.parameters())
    opt = optim.RMSprop(learning_rate=lr_schedule(cfg), alpha=0.95)

    def loss_fn(m, xb, yb):
        return nn.losses.mse_loss(m(xb), yb)

    vg = nn.value_and_grad(model, loss_fn)

    # first-step audit: every leaf must see a gradient (the lr is 0 at step 1 by design)
    idx0 = mx.array(rng.integers(0, xt.shape[0], cfg.batch))
    _, g0 = vg(model, xt[idx0], yt[idx0])
    dead = [k for k, g in tree_flatten(g0) if mx.abs(g).max().item() == 0.0]
    if dead:
        raise SystemExit(f"seed {seed}: zero gradient for {dead}")

    v_mse, v_rmse, v_within = evaluate(model, xv, yv, wait_v)
    hcl_block("report", f"seed{seed}_step0000",
              {"seed": seed, "step": 0, "lr": 0.0, "val_mse_log": v_mse,
               "val_rmse_min": v_rmse, "within_2min_pct": v_within,
               "grad_leaves_ok": len(tree_flatten(g0))})

    window = []
    t0 = time.perf_counter()
    n = xt.shape[0]
    perm = rng.permutation(n)
    cursor = 0
    for step in range(1, cfg.steps + 1):
        if cursor + cfg.batch > n:
            perm = rng.permutation(n)
            cursor = 0
        idx = mx.array(perm[cursor:cursor + cfg.batch])
        cursor += cfg.batch
        lr_now = opt.learning_rate.item()
        loss, grads = vg(model, xt[idx], yt[idx])
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        window.append(loss.item())
        if step % cfg.report_every == 0:
            v_mse, v_rmse, v_within = evaluate(model, xv, yv, wait_v)
            hcl_block("report", f"seed{seed}_step{step:04d}",
                      {"seed": seed, "step": step, "lr": lr_now,
                       "train_mse_log": float(np.mean(window)),
                       "val_mse_log": v_mse, "val_rmse_min": v_rmse,
                       "within_2min_pct": v_within,
                       "elapsed_s": round(time.perf_counter() - t0, 1)})
            window = []
    return v_rmse, v_within


def main():
    cfg = Cfg()
    rng = np.random.default_rng(2024)
    x, wait = make_resort_days(cfg.n_train + cfg.n_val, rng)
    mu, sd = x[: cfg.n_train].mean(0), x[: cfg.n_train].std(0)
    x = (x - mu) / sd
    ylog = np.log1p(wait)
    STATS["ym"], STATS["ys"] = float(ylog[: cfg.n_train].mean()), float(ylog[: cfg.n_train].std())
    ystd = ((ylog - STATS["ym"]) / STATS["ys"]).astype(np.float32)

    xt, yt = mx.array(x[: cfg.n_train]), mx.array(ystd[: cfg.n_train])
    xv, yv = mx.array(x[cfg.n_train:]), mx.array(ystd[cfg.n_train:])
    wait_v = wait[cfg.n_train:]
    base = float(np.sqrt(np.mean((wait_v - np.median(wait[: cfg.n_train])) ** 2)))
    hcl_block("dataset", "gondola_base_station",
              {"train_rows": cfg.n_train, "val_rows": cfg.n_val,
               "median_wait_min": float(np.median(wait)),
               "p95_wait_min": float(np.percentile(wait, 95)),
               "median_guess_rmse_min": base})

    results = []
    for seed in cfg.seeds:
        results.append(train_one_seed(seed, cfg, (xt, yt, xv, yv, wait_v)))

    rmse = np.array([r[0] for r in results])
    within = np.array([r[1] for r in results])
    hcl_block("summary", "all_seeds",
              {"seeds": len(results), "val_rmse_min_mean": float(rmse.mean()),
               "val_rmse_min_sd": float(rmse.std()),
               "within_2min_pct_mean": float(within.mean()),
               "median_guess_rmse_min": base})


if __name__ == "__main__":
    main()
