"""Canal lock filling time (seconds) from lock geometry and paddle settings.

Residual MLP whose blocks are wrapped in nn.utils.checkpoint (activations are
recomputed in the backward pass), Adam with a linear warm-up from exactly 0 then
cosine decay, reports with print(..., sep=" :: ").
"""
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

rng = np.random.default_rng(11)


def make_locks(n):
    chamber_len = rng.uniform(20, 80, n)      # m
    chamber_w = rng.uniform(2.1, 7.0, n)      # m
    rise = rng.uniform(0.8, 4.5, n)           # m
    paddles = rng.integers(1, 5, n).astype(np.float64)
    paddle_open = rng.uniform(0.3, 1.0, n)    # fraction raised
    culvert = rng.uniform(0.3, 0.9, n)        # m^2 per paddle
    area = chamber_len * chamber_w
    # Torricelli-ish emptying: t ~ 2 A sqrt(h) / (Cd a sqrt(2g))
    a_eff = paddles * culvert * paddle_open
    t = 2 * area * np.sqrt(rise) / (0.6 * a_eff * math.sqrt(2 * 9.81))
    t = t + rng.normal(0, 8.0, n)              # operator noise, seconds
    X = np.stack([np.log(chamber_len), np.log(chamber_w), np.sqrt(rise), paddles,
                  paddle_open, culvert], axis=1)
    return X.astype(np.float32), t.astype(np.float32)


Xtr, ttr = make_locks(16000)
Xva, tva = make_locks(2000)
mu, sd = Xtr.mean(0), Xtr.std(0)
Xtr, Xva = (Xtr - mu) / sd, (Xva - mu) / sd
t_mu, t_sd = ttr.mean(), ttr.std()
ytr, yva = (ttr - t_mu) / t_sd, (tva - t_mu) / t_sd


class Block(nn.Module):
    def __init__(self, d):
        super().__init__()
        self.norm = nn.LayerNorm(d)
        self.fc1 = nn.Linear(d, 2 * d)
        self.fc2 = nn.Linear(2 * d, d)

    def __call__(self, h):
        return h + self.fc2(nn.gelu(self.fc1(self.norm(h))))


class LockNet(nn.Module):
    def __init__(self, d_in=6, d=48, depth=3):
        super().__init__()
        self.inp = nn.Linear(d_in, d)
        self.blocks = [Block(d) for _ in range(depth)]
        self.out = nn.Linear(d, 1)

    def __call__(self, x):
        h = self.inp(x)
        for blk in self.blocks:
            # gradient checkpointing: the block's activations are recomputed in backward
            h = nn.utils.checkpoint(blk)(h)
        return self.out(h).squeeze(-1)


mx.random.seed(3)
model = LockNet()
mx.eval(model.parameters())

warm, total_steps, peak = 150, 2000, 2e-3
sched = optim.join_schedules(
    [optim.linear_schedule(0.0, peak, warm), optim.cosine_decay(peak, total_steps - warm, 1e-5)],
    [warm])
opt = optim.Adam(learning_rate=sched)


def loss_fn(m, x, y):
    return nn.losses.mse_loss(m(x), y)


vg = nn.value_and_grad(model, loss_fn)


def val_report():
    pred = np.array(model(mx.array(Xva))) * t_sd + t_mu
    err = pred - tva
    rmse = float(np.sqrt(np.mean(err ** 2)))
    within = 100.0 * float(np.mean(np.abs(err) < 15.0))
    return rmse, within


SEP = " :: "
print("data", f"train={len(ytr)}", f"valid={len(yva)}",
      f"fill time mean={t_mu:.0f}s sd={t_sd:.0f}s", sep=SEP)
r0, w0 = val_report()
print("untrained", f"valid_rmse={r0:.1f}s", f"within15s={w0:.1f}%", sep=SEP)

xb0, yb0 = mx.array(Xtr[:64]), mx.array(ytr[:64])
_, g0 = vg(model, xb0, yb0)
leaves = tree_flatten(g0)
zero = [k for k, v in leaves if float(mx.abs(v).max()) == 0.0]
print("grad check", f"leaves={len(leaves)}", f"zero_leaves={zero}", sep=SEP)

bs = 64
perm = rng.permutation(len(ytr))
cur = 0
win = []
t0 = time.time()
for step in range(1, total_steps + 1):
    if cur + bs > len(perm):
        perm = rng.permutation(len(ytr))
        cur = 0
    idx = perm[cur:cur + bs]
    cur += bs
    loss, grads = vg(model, mx.array(Xtr[idx]), mx.array(ytr[idx]))
    lr_used = float(sched(opt.step))
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state, loss)
    win.append(loss.item())
    if step == 1 or step % 200 == 0:
        rmse, within = val_report()
        print(f"step {step:4d}", f"lr={lr_used:.2e}", f"train_mse(std)={np.mean(win):.4f}",
              f"valid_rmse={rmse:.1f}s", f"within15s={within:.1f}%",
              f"{time.time() - t0:.1f}s", sep=SEP)
        win = []

rmse, within = val_report()
print("done", f"valid_rmse={rmse:.1f}s", "noise floor=8.0s", f"within15s={within:.1f}%", sep=SEP)
