"""Neural ODE for a draining header tank (Torricelli outflow), learned from
noisy level-logger traces.  dh/dt = f_theta(h), integrated with RK4 in MLX.
Gradients are averaged over the (single-process) distributed group, and
training stops early, restoring the best checkpoint."""
import logging
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s tank: %(message)s",
                    datefmt="%H:%M:%S")
log = logging.getLogger("tank")

group = mx.distributed.init()
rank, world = group.rank(), group.size()
mx.random.seed(5 + rank)
log.info("distributed group rank=%d size=%d", rank, world)

K = 0.12          # m^0.5 / s  outlet coefficient
DT, NSTEPS = 0.375, 16
rng = np.random.default_rng(11 + rank)


def simulate(h0):
    t = np.arange(NSTEPS + 1) * DT
    return (np.sqrt(h0)[:, None] - K * t[None, :] / 2.0) ** 2


def make(n):
    h0 = rng.uniform(0.4, 2.0, n)
    clean = simulate(h0)
    noisy = clean + 0.01 * rng.standard_normal(clean.shape)
    return mx.array(noisy.astype(np.float32)), mx.array(clean.astype(np.float32))


train_obs, _ = make(192)
val_obs, val_clean = make(48)


class Rate(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(1, 24), nn.SiLU(), nn.Linear(24, 24), nn.SiLU(), nn.Linear(24, 1))

    def __call__(self, h):
        return 0.3 * self.net(h - 1.0)


def rollout(f, h0):
    hs = [h0]
    h = h0
    for _ in range(NSTEPS):
        k1 = f(h)
        k2 = f(h + 0.5 * DT * k1)
        k3 = f(h + 0.5 * DT * k2)
        k4 = f(h + DT * k3)
        h = h + DT / 6.0 * (k1 + 2 * k2 + 2 * k3 + k4)
        hs.append(h)
    return mx.concatenate(hs, axis=1)


def loss_fn(model, obs):
    pred = rollout(model, obs[:, :1])
    return mx.mean((pred - obs) ** 2)


model = Rate()
mx.eval(model.parameters())
opt = optim.SGD(learning_rate=0.02, momentum=0.9)
vg = nn.value_and_grad(model, loss_fn)

_, g = vg(model, train_obs[:32])
dead = [k for k, v in tree_flatten(g) if float(mx.abs(v).sum()) == 0.0]
log.info("gradient check: %d leaves, %d zero", len(tree_flatten(g)), len(dead))



def _raw_step(batch):
    loss, grads = vg(model, batch)
    grads = tree_map(lambda x: mx.distributed.all_sum(x, group=group) / world, grads)
    opt.update(model, grads)
    return loss


step = _raw_step


def drain_time(traj, level=0.3):
    # first time (s) the level is below `level`, interpolated; NSTEPS*DT if never
    out = []
    for row in np.array(traj):
        idx = np.nonzero(row < level)[0]
        if len(idx) == 0:
            out.append(NSTEPS * DT)
            continue
        i = idx[0]
        if i == 0:
            out.append(0.0)
            continue
        frac = (row[i - 1] - level) / (row[i - 1] - row[i])
        out.append((i - 1 + frac) * DT)
    return np.array(out)


true_td = drain_time(val_clean)
best, best_ep, bad, patience = float("inf"), -1, 0, 8
best_params = None
BATCH = 32
t0 = time.time()
for epoch in range(80):
    perm = mx.array(rng.permutation(train_obs.shape[0]))
    tot = 0.0
    for i in range(0, train_obs.shape[0], BATCH):
        loss = step(train_obs[perm[i:i + BATCH]])
        mx.eval(model.parameters(), opt.state, loss)
        tot += float(loss)
    if epoch == 40:
        opt.learning_rate = 0.004
        log.info("lr step-down to 0.004")
    tr = tot / (train_obs.shape[0] // BATCH)
    pred = rollout(model, val_obs[:, :1])
    vmse = float(mx.mean((pred - val_clean) ** 2))
    var = float(mx.var(val_clean))
    r2 = 100.0 * (1.0 - vmse / var)
    td_err = float(np.mean(np.abs(drain_time(pred) - true_td)))
    flag = ""
    if vmse < best:
        best, best_ep, bad = vmse, epoch, 0
        best_params = tree_map(lambda x: mx.array(x), model.parameters())
        flag = " *"
    else:
        bad += 1
    log.info("epoch %02d train_mse=%.3e val_rmse=%.2f cm R2=%.2f%% t(0.3m) err=%.3f s%s",
             epoch, tr, 100 * vmse ** 0.5, r2, td_err, flag)
    if bad >= patience:
        log.info("early stop at epoch %d (no val gain for %d epochs)", epoch, patience)
        break

model.update(best_params)
mx.eval(model.parameters())
pred = rollout(model, val_obs[:, :1])
vmse = float(mx.mean((pred - val_clean) ** 2))
log.info("restored epoch %d weights: val_rmse=%.2f cm (best %.2f cm)", best_ep, 100 * vmse ** 0.5, 100 * best ** 0.5)
hs = mx.array([[0.5], [1.0], [1.5], [2.0]])
learned = np.array(model(hs)).ravel()
ref = -K * np.sqrt(np.array([0.5, 1.0, 1.5, 2.0]))
for h, l, r in zip([0.5, 1.0, 1.5, 2.0], learned, ref):
    log.info("dh/dt at h=%.1f m: learned %+.4f  Torricelli %+.4f m/s  diff %+.4f", h, l, r, l - r)
log.info("wall %.1fs", time.time() - t0)
