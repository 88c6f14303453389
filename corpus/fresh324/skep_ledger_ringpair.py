"""Hive-scale weight change, two-rank data-parallel training over the MLX ring backend.

Run as `python skep_ledger_ringpair.py`: the script starts its own two ranks on
localhost (MLX_RANK / MLX_HOSTFILE), each rank reads its own apiary's records
(rank 0: 4200 hives-days, rank 1: 2600), and the ranks combine summed gradients
and record counts with all_sum every step, so the update is the mean over the
global batch even though the two local batches differ in size.
"""
import json
import math
import os
import subprocess
import sys
import tempfile
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten, tree_map

N_RANKS = 2
SHARD_ROWS = [4200, 2600]
LOCAL_BATCH = [42, 26]
STEPS = 500
WARMUP = 60
PEAK_LR = 3e-3
FEATURES = ["temp_c", "rain_mm", "forage_idx", "colony_frames", "day_sin", "day_cos", "queen_age"]


def launch():
    port = 47400 + (os.getpid() % 400)
    hosts = [[f"127.0.0.1:{port + r}"] for r in range(N_RANKS)]
    fd, path = tempfile.mkstemp(suffix=".json")
    with os.fdopen(fd, "w") as f:
        json.dump(hosts, f)
    procs = []
    for r in range(N_RANKS):
        env = dict(os.environ, MLX_RANK=str(r), MLX_HOSTFILE=path)
        procs.append(subprocess.Popen([sys.executable, os.path.abspath(__file__)], env=env))
    codes = [p.wait(timeout=240) for p in procs]
    os.unlink(path)
    print(f"launcher: ranks exited with {codes}", flush=True)
    sys.exit(max(codes))


def make_apiary(rank, n, rng):
    # each apiary has its own climate offset; the weight law is shared
    temp = rng.normal(18 + 3 * rank, 5, n)
    rain = rng.gamma(1.2, 2.5 + rank, n)
    forage = rng.uniform(0, 1, n)
    frames = rng.integers(4, 11, n).astype(np.float64)
    day = rng.uniform(0, 2 * np.pi, n)
    queen = rng.integers(0, 4, n).astype(np.float64)
    dw = (0.09 * frames * forage * np.exp(-((temp - 24) / 9) ** 2)
          - 0.05 * np.log1p(rain) + 0.25 * np.sin(day) - 0.06 * queen + 0.1)
    dw = dw + rng.normal(0, 0.08, n)
    x = np.stack([temp, rain, forage, frames, np.sin(day), np.cos(day), queen], 1)
    return x.astype(np.float32), dw.astype(np.float32)


class HiveNet(nn.Module):
    def __init__(self, d_in, width=48):
        super().__init__()
        self.l1 = nn.Linear(d_in, width)
        self.l2 = nn.Linear(width, width)
        self.out = nn.Linear(width, 1)

    def __call__(self, x):
        return self.out(nn.silu(self.l2(nn.silu(self.l1(x))))).squeeze(-1)


def checksum(model):
    return sum(float(mx.sum(mx.abs(v)).item()) for _, v in tree_flatten(model.parameters()))


def worker():
    group = mx.distributed.init(backend="ring", strict=True)
    rank, size = group.rank(), group.size()
    tag = f"[rank {rank}]"

    rng = np.random.default_rng(100 + rank)
    x_all, y_all = make_apiary(rank, SHARD_ROWS[rank], rng)
    n_val = len(x_all) // 6
    x_tr, y_tr = x_all[n_val:], y_all[n_val:]
    x_va, y_va = x_all[:n_val], y_all[:n_val]

    # feature scaling from global sums so both ranks use the same statistics
    s1 = mx.distributed.all_sum(mx.array(x_tr.sum(0)), group=group)
    s2 = mx.distributed.all_sum(mx.array((x_tr ** 2).sum(0)), group=group)
    cnt = mx.distributed.all_sum(mx.array(float(len(x_tr))), group=group)
    mu = s1 / cnt
    sd = mx.sqrt(mx.maximum(s2 / cnt - mu * mu, 1e-6))
    mx.eval(mu, sd, cnt)
    x_tr = (mx.array(x_tr) - mu) / sd
    x_va = (mx.array(x_va) - mu) / sd
    y_tr = mx.array(y_tr)
    y_va = mx.array(y_va)

    mx.random.seed(7)  # same init on both ranks
    model = HiveNet(len(FEATURES))
    mx.eval(model.parameters())
    # rank 0's weights are copied to every rank
    params = tree_map(lambda p: mx.distributed.all_sum(p if rank == 0 else mx.zeros_like(p), group=group),
                      model.parameters())
    model.update(params)
    mx.eval(model.parameters())
    print(f"{tag} shard rows train={x_tr.shape[0]} val={x_va.shape[0]} local_batch={LOCAL_BATCH[rank]} "
          f"init_checksum={checksum(model):.5f}", flush=True)

    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, PEAK_LR, WARMUP), optim.cosine_decay(PEAK_LR, STEPS - WARMUP, 1e-4)],
        [WARMUP])
    opt = optim.AdamW(learning_rate=sched, weight_decay=1e-4)

    def sum_loss(m, xb, yb):
        return mx.sum((m(xb) - yb) ** 2)

    grad_fn = nn.value_and_grad(model, sum_loss)

    def global_mse(xs, ys):
        se = mx.distributed.all_sum(mx.sum((model(xs) - ys) ** 2), group=group)
        n = mx.distributed.all_sum(mx.array(float(xs.shape[0])), group=group)
        return (se / n).item()

    # baseline: predict the global training mean everywhere
    ysum = mx.distributed.all_sum(mx.sum(y_tr), group=group)
    y_mean = ysum / cnt
    base = mx.distributed.all_sum(mx.sum((y_va - y_mean) ** 2), group=group)
    nva = mx.distributed.all_sum(mx.array(float(y_va.shape[0])), group=group)
    base_rmse = math.sqrt((base / nva).item())
    if rank == 0:
        print(f"{tag} baseline val RMSE (global mean) = {base_rmse:.4f} kg/day", flush=True)

    order = np.random.default_rng(5 + rank).permutation(x_tr.shape[0])
    pos = 0
    b = LOCAL_BATCH[rank]
    t0 = time.time()
    for step in range(STEPS):
        if pos + b > len(order):
            order = np.random.default_rng(5 + rank + step).permutation(x_tr.shape[0])
            pos = 0
        idx = mx.array(order[pos:pos + b])
        pos += b
        loss_sum, grads = grad_fn(model, x_tr[idx], y_tr[idx])
        n_glob = mx.distributed.all_sum(mx.array(float(b)), group=group)
        grads = tree_map(lambda g: mx.distributed.all_sum(g, group=group) / n_glob, grads)
        loss_glob = mx.distributed.all_sum(loss_sum, group=group) / n_glob
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss_glob, loss_sum)
        if step % 50 == 0 or step == STEPS - 1:
            local = loss_sum.item() / b
            if rank == 0:
                va = global_mse(x_va, y_va)
                print(f"{tag} step {step:4d} lr {opt.learning_rate.item():.2e} "
                      f"global_mse {loss_glob.item():.5f} local_mse {local:.5f} "
                      f"val_rmse {math.sqrt(va):.4f} (baseline {base_rmse:.4f})", flush=True)
            else:
                global_mse(x_va, y_va)
                if step % 100 == 0:
                    print(f"{tag} step {step:4d} local_mse {local:.5f}", flush=True)

    final = math.sqrt(global_mse(x_va, y_va))
    cs = checksum(model)
    cs_all = mx.distributed.all_sum(mx.array(cs), group=group).item()
    print(f"{tag} final val_rmse {final:.4f} checksum {cs:.5f} ranks_agree "
          f"{abs(cs_all - size * cs) < 1e-3 * abs(cs)} ({time.time() - t0:.1f}s)", flush=True)


if __name__ == "__main__":
    if os.environ.get("MLX_RANK") is None:
        launch()
    else:
        worker()
