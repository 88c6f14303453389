"""Sheepdog-trial judging model: predict points dropped on the course (0..100,
lower is a better run) from synthetic run sheets.  Two stages: first only calm,
small-flock runs, then the full entry list incl. wind and wild ewes (harder,
so the loss jumps when stage 2 starts).  Lion with a warm-up from lr = 0,
compiled step, and a mean-predictor reference column printed beside the model."""
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from functools import partial

rng = np.random.default_rng(11)
mx.random.seed(11)

N = 3000
wind = rng.uniform(0, 1, N)          # 0 calm .. 1 gale
flock = rng.integers(3, 8, N)        # sheep in the packet
wild = rng.uniform(0, 1, N)          # how flighty the ewes are
dog_age = rng.uniform(1.5, 11, N)    # years
handler = rng.uniform(0, 1, N)       # handler experience
slope = rng.uniform(0, 1, N)         # field steepness

pts = (18 + 9 * (flock - 3) / 4 + 30 * wind * wild + 12 * slope
       - 14 * handler + 0.9 * (dog_age - 5.5) ** 2 * 0.6
       + 10 * np.sin(3 * wild) * wind + rng.normal(0, 2.0, N))
pts = np.clip(pts, 0, 100)

X = np.stack([wind, (flock - 5) / 2, wild, (dog_age - 6) / 3, handler, slope], 1).astype(np.float32)
y = pts.astype(np.float32)[:, None]
easy = (wind < 0.35) & (flock <= 5)

perm = rng.permutation(N)
tr, va = perm[:2400], perm[2400:]
Xtr, ytr, Xva, yva = mx.array(X[tr]), mx.array(y[tr]), mx.array(X[va]), mx.array(y[va])
easy_tr = np.nonzero(easy[tr])[0]
easy_va = np.nonzero(easy[va])[0]


class Judge(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(6, 64), nn.SiLU(), nn.Linear(64, 64), nn.SiLU())
        self.out = nn.Linear(64, 1)

    def __call__(self, x):
        return self.out(self.body(x))


def mae_pts(pred, tgt):
    return mx.mean(mx.abs(pred - tgt))


def loss_fn(model, xb, yb):
    return nn.losses.huber_loss(model(xb), yb, delta=4.0, reduction="mean")


model = Judge()
mx.eval(model.parameters())

STAGES = [("calm/small flock", easy_tr, easy_va, 500), ("full entry list", np.arange(len(tr)), np.arange(len(va)), 900)]
total = sum(s[3] for s in STAGES)
warm = 120
sched = optim.join_schedules(
    [optim.linear_schedule(0.0, 1e-3, warm), optim.cosine_decay(1e-3, total - warm, 5e-5)], [warm])
opt = optim.Lion(learning_rate=sched, weight_decay=1e-3)

state = [model.state, opt.state]


@partial(mx.compile, inputs=state, outputs=state)
def step(xb, yb):
    loss, grads = nn.value_and_grad(model, loss_fn)(model, xb, yb)
    opt.update(model, grads)
    return loss


print(f"{'stage':>5} {'it':>5} {'lr':>9} {'huber':>8} {'val MAE pts':>12} {'ref MAE':>8}")
t0 = time.perf_counter()
global_it = 0
for s_idx, (name, rows_tr, rows_va, iters) in enumerate(STAGES, 1):
    print(f"-- stage {s_idx}: {name} ({len(rows_tr)} train runs)")
    rtr = mx.array(rows_tr)
    xs_va, ys_va = Xva[mx.array(rows_va)], yva[mx.array(rows_va)]
    ref = mae_pts(mx.broadcast_to(mx.mean(ytr[rtr]), ys_va.shape), ys_va).item()
    for it in range(1, iters + 1):
        pick = rtr[mx.random.randint(0, len(rows_tr), (64,))]
        lr_now = opt.learning_rate.item()
        loss = step(Xtr[pick], ytr[pick])
        mx.eval(state, loss)
        global_it += 1
        if it == 1 or it % 100 == 0:
            vm = mae_pts(model(xs_va), ys_va).item()
            print(f"{s_idx:>5} {it:>5} {lr_now:>9.2e} {loss.item():>8.3f} {vm:>12.2f} {ref:>8.2f}")

full_mae = mae_pts(model(Xva), yva).item()
print(f"final: val MAE {full_mae:.2f} pts over {len(va)} runs "
      f"(mean-predictor {mae_pts(mx.broadcast_to(mx.mean(ytr), yva.shape), yva).item():.2f}); "
      f"{global_it} steps in {time.perf_counter() - t0:.1f}s")
