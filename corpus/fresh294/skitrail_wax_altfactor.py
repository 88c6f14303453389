"""Cross-country ski club: finish times of members on club trails.

log(finish time) = global + skier form + trail length + skier x trail fit (rank 3) + day noise.
Two embedding tables, each with its own optimizer, trained in alternating blocks:
skier blocks move only the skier table (SGD with momentum, lr ramps up from 0),
trail blocks move only the trail table (Adam). Halfway the run is saved to disk,
rebuilt from the files and continued.
"""
import json
import os
import tempfile
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten, tree_unflatten

RANK = 3
N_SKIERS, N_TRAILS = 300, 40
NOISE_SD = 0.04  # day-to-day spread of log time (about 4 %)

rng = np.random.default_rng(7)
form = rng.normal(0, 0.15, N_SKIERS)
length = rng.normal(0, 0.30, N_TRAILS)
u_true = rng.normal(0, 0.2, (N_SKIERS, RANK))
v_true = rng.normal(0, 0.3, (N_TRAILS, RANK))
pairs = np.array([(s, t) for s in range(N_SKIERS) for t in range(N_TRAILS)])
pick = rng.choice(len(pairs), 7500, replace=False)
pairs = pairs[pick]
logt = (np.log(40.0) + form[pairs[:, 0]] + length[pairs[:, 1]]
        + (u_true[pairs[:, 0]] * v_true[pairs[:, 1]]).sum(1)
        + rng.normal(0, NOISE_SD, len(pairs)))
n_tr = 6000
mu, sd = logt[:n_tr].mean(), logt[:n_tr].std()
y = (logt - mu) / sd
s_tr, t_tr, y_tr = (mx.array(pairs[:n_tr, 0]), mx.array(pairs[:n_tr, 1]),
                    mx.array(y[:n_tr].astype(np.float32)))
s_va, t_va, y_va = (mx.array(pairs[n_tr:, 0]), mx.array(pairs[n_tr:, 1]),
                    mx.array(y[n_tr:].astype(np.float32)))

# reference: each trail's mean time only, and the day-noise floor
trail_mean = np.zeros(N_TRAILS)
for t in range(N_TRAILS):
    trail_mean[t] = logt[:n_tr][pairs[:n_tr, 1] == t].mean()
ref_rmse_pct = 100 * np.sqrt(np.mean((logt[n_tr:] - trail_mean[pairs[n_tr:, 1]]) ** 2))


class Table(nn.Module):
    def __init__(self, n):
        super().__init__()
        self.vec = nn.Embedding(n, RANK)
        self.bias = nn.Embedding(n, 1)
        self.vec.weight = 0.1 * mx.random.normal((n, RANK))
        self.bias.weight = mx.zeros((n, 1))

    def __call__(self, idx):
        return self.vec(idx), self.bias(idx)[:, 0]


def predict(skiers, trails, s, t):
    us, bs = skiers(s)
    vt, bt = trails(t)
    return (us * vt).sum(-1) + bs + bt


def mse(skiers, trails, s, t, target):
    return mx.mean((predict(skiers, trails, s, t) - target) ** 2)


def make_optimizers():
    ramp = optim.linear_schedule(0.0, 0.5, 100)
    sched = optim.join_schedules([ramp, lambda k: mx.array(0.5)], [100])
    return (optim.SGD(learning_rate=sched, momentum=0.9, weight_decay=1e-4),
            optim.Adam(learning_rate=1e-2))


def valid_rmse_pct(skiers, trails):
    p = predict(skiers, trails, s_va, t_va)
    return 100 * sd * mx.sqrt(mx.mean((p - y_va) ** 2)).item()


mx.random.seed(3)
skiers, trails = Table(N_SKIERS), Table(N_TRAILS)
skier_opt, trail_opt = make_optimizers()
grad_skier = nn.value_and_grad(skiers, lambda m, tr, s, t, yy: mse(m, tr, s, t, yy))
grad_trail = nn.value_and_grad(trails, lambda m, sk, s, t, yy: mse(sk, m, s, t, yy))
batch_rng = np.random.default_rng(11)

print(f"{n_tr} train / {len(pairs) - n_tr} valid results, {N_SKIERS} skiers, {N_TRAILS} trails")
print(f"reference valid rmse (trail means only): {ref_rmse_pct:.2f} %   day-noise floor: {100 * NOISE_SD:.2f} %")
print(f"{'block':>5} {'side':>6} {'steps':>6} {'lr':>8} {'batch mse':>10} {'valid rmse %':>13} {'secs':>6}")

BLOCK = 150
t0 = time.perf_counter()


def run_block(b, skiers, trails, skier_opt, trail_opt):
    side = "skier" if b % 2 == 0 else "trail"
    last = []
    for _ in range(BLOCK):
        idx = mx.array(batch_rng.integers(0, n_tr, 256))
        s, t, yy = s_tr[idx], t_tr[idx], y_tr[idx]
        if side == "skier":
            loss, g = grad_skier(skiers, trails, s, t, yy)
            skier_opt.update(skiers, g)
            mx.eval(skiers.parameters(), skier_opt.state, loss)
        else:
            loss, g = grad_trail(trails, skiers, s, t, yy)
            trail_opt.update(trails, g)
            mx.eval(trails.parameters(), trail_opt.state, loss)
        last.append(loss.item())
    opt = skier_opt if side == "skier" else trail_opt
    lr = opt.learning_rate.item()
    print(f"{b + 1:>5} {side:>6} {opt.step.item():>6} {lr:>8.4f} {np.mean(last[-50:]):>10.4f} "
          f"{valid_rmse_pct(skiers, trails):>13.2f} {time.perf_counter() - t0:>6.1f}")


for b in range(6):
    run_block(b, skiers, trails, skier_opt, trail_opt)

with tempfile.TemporaryDirectory() as d:
    skiers.save_weights(os.path.join(d, "skiers.safetensors"))
    trails.save_weights(os.path.join(d, "trails.safetensors"))
    mx.save_safetensors(os.path.join(d, "skier_opt.safetensors"), dict(tree_flatten(skier_opt.state)))
    mx.save_safetensors(os.path.join(d, "trail_opt.safetensors"), dict(tree_flatten(trail_opt.state)))
    with open(os.path.join(d, "meta.json"), "w") as f:
        json.dump({"blocks_done": 6}, f)
    before = predict(skiers, trails, s_va, t_va)
    mx.eval(before)
    print(f"-- saved after 6 blocks to {os.path.basename(d)}/ ({len(os.listdir(d))} files)")

    skiers, trails = Table(N_SKIERS), Table(N_TRAILS)
    skiers.load_weights(os.path.join(d, "skiers.safetensors"))
    trails.load_weights(os.path.join(d, "trails.safetensors"))
    skier_opt, trail_opt = make_optimizers()
    skier_opt.state = tree_unflatten(list(mx.load(os.path.join(d, "skier_opt.safetensors")).items()))
    trail_opt.state = tree_unflatten(list(mx.load(os.path.join(d, "trail_opt.safetensors")).items()))
    with open(os.path.join(d, "meta.json")) as f:
        start = json.load(f)["blocks_done"]
    after = predict(skiers, trails, s_va, t_va)
    print(f"-- resumed at block {start + 1}: max |prediction change| {mx.abs(after - before).max().item():.2e}, "
          f"skier step {skier_opt.step.item()}, trail step {trail_opt.step.item()}")

grad_skier = nn.value_and_grad(skiers, lambda m, tr, s, t, yy: mse(m, tr, s, t, yy))
grad_trail = nn.value_and_grad(trails, lambda m, sk, s, t, yy: mse(sk, m, s, t, yy))
for b in range(start, 12):
    run_block(b, skiers, trails, skier_opt, trail_opt)

final = valid_rmse_pct(skiers, trails)
print(f"done: valid rmse {final:.2f} % of finish time (reference {ref_rmse_pct:.2f} %, floor {100 * NOISE_SD:.2f} %)")
