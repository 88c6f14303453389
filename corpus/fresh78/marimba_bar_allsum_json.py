"""Marimba bar tuning: predict how many cents a rough-cut rosewood bar is off its
target note from its measured geometry, so the tuner knows how much to undercut.
Single-process data-parallel style: gradients go through mx.distributed all_sum and
are averaged over the group size (size 1 here, the same code runs under mpirun)."""
import json, math, time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_map, tree_flatten

rng = np.random.default_rng(78)

def make_bars(n):
    length = rng.uniform(0.18, 0.55, n)          # m
    thick = rng.uniform(0.018, 0.026, n)         # m
    undercut = rng.uniform(0.0, 0.6, n)          # fraction of thickness removed
    density = rng.normal(1050, 60, n)            # kg/m3
    moisture = rng.uniform(0.06, 0.14, n)
    width = rng.uniform(0.05, 0.07, n)
    # made-up free-free beam law with an undercut softening term
    f = 1.03e3 * thick / length**2 * np.sqrt(1.0 / (density / 1000.0)) * (1 - 0.55 * undercut**1.3) * (1 - 0.8 * (moisture - 0.1))
    # the note the bar was cut for: the same law at nominal thickness/density/moisture, no undercut
    f_design = 1.03e3 * 0.022 / length**2 * np.sqrt(1.0 / 1.05) * (1 - 0.55 * 0.3**1.3)
    cents = 1200 * np.log2(f / f_design) + rng.normal(0, 3.0, n)
    X = np.stack([np.log(length), thick * 100, undercut, density / 1000, moisture * 10, width * 10], 1)
    return X.astype(np.float32), cents.astype(np.float32)

Xtr, ytr = make_bars(12000)
Xva, yva = make_bars(2000)
mu, sd = Xtr.mean(0), Xtr.std(0)
Xtr, Xva = (Xtr - mu) / sd, (Xva - mu) / sd
ysd = float(ytr.std())

class BarNet(nn.Module):
    def __init__(self, d=6, h=96):
        super().__init__()
        self.l1 = nn.Linear(d, h)
        self.l2 = nn.Linear(h, h)
        self.out = nn.Linear(h, 1)
    def __call__(self, x):
        z = nn.silu(self.l1(x))
        z = z + nn.silu(self.l2(z))
        return self.out(z).squeeze(-1)

group = mx.distributed.init()
world = group.size()

mx.random.seed(3)
model = BarNet()
mx.eval(model.parameters())
opt = optim.Adagrad(learning_rate=0.05)

def loss_fn(m, x, y):
    return nn.losses.mse_loss(m(x), y / ysd)

lg = nn.value_and_grad(model, loss_fn)

def allreduce_mean(grads):
    return tree_map(lambda g: mx.distributed.all_sum(g, group=group) / world, grads)

Xv, yv = mx.array(Xva), mx.array(yva)
def validate():
    p = model(Xv) * ysd
    err = p - yv
    rmse = mx.sqrt(mx.mean(err * err)).item()
    r2 = 1 - (mx.sum(err * err) / mx.sum((yv - yv.mean()) ** 2)).item()
    within5 = mx.mean(mx.abs(err) < 5.0).item()
    return rmse, r2, within5

def emit(**kw):
    print(json.dumps(kw, separators=(",", ":")), flush=True)

rmse, r2, w5 = validate()
emit(event="start", world=world, n_train=len(ytr), cents_sd=round(ysd, 2), noise_floor_cents=3.0,
     val_rmse_cents=round(rmse, 2), val_r2=round(r2, 4), within5c_pct=round(100 * w5, 1))

bs, epochs = 64, 16
steps_per_epoch = len(ytr) // bs
ema, beta, step = 0.0, 0.98, 0
t0 = time.time()
for ep in range(1, epochs + 1):
    perm = mx.array(rng.permutation(len(ytr)))
    for i in range(steps_per_epoch):
        idx = perm[i * bs:(i + 1) * bs]
        x, y = mx.array(Xtr)[idx], mx.array(ytr)[idx]
        loss, grads = lg(model, x, y)
        grads = allreduce_mean(grads)
        if step == 0:
            flat = tree_flatten(grads)
            zero = [k for k, g in flat if mx.abs(g).max().item() == 0]
            emit(event="grad_check", leaves=len(flat), zero_leaves=zero)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        step += 1
        ema = beta * ema + (1 - beta) * loss.item()
    rmse, r2, w5 = validate()
    emit(event="epoch", epoch=ep, step=step, train_mse_ema_std=round(ema / (1 - beta ** step), 4),
         val_rmse_cents=round(rmse, 2), val_r2=round(r2, 4), within5c_pct=round(100 * w5, 1),
         secs=round(time.time() - t0, 1))
emit(event="done", steps=step, val_rmse_cents=round(rmse, 2), predict_mean_rmse=round(float(yva.std()), 2))
