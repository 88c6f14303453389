"""Letterpress shop: solid-ink density (D) of a print from press settings.

A density model fitted on years of jobs on the house stock is reused on a new
cotton stock.  Only the bias vectors are retrained (all weight matrices stay as
they were), from 240 proof sheets.  The bias tuning runs as two sessions: the
bias set and optimizer state are written to disk after session 1 and read back
into a freshly built model for session 2.
"""
import os
import tempfile
import time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten, tree_map

rng = np.random.default_rng(31)


def sheets(n, stock):
    ink = rng.uniform(0.2, 1.0, n)          # ink key setting
    press = rng.uniform(0.5, 3.0, n)        # impression depth, mm/10
    rollers = rng.uniform(0, 1, n)          # roller wear
    temp = rng.uniform(15, 30, n)
    hum = rng.uniform(30, 80, n)
    speed = rng.uniform(500, 1500, n)
    d = (1.6 * (1 - np.exp(-2.2 * ink)) + 0.12 * np.log(press) - 0.25 * rollers
         + 0.008 * (temp - 22) - 0.002 * (hum - 55) - 0.0001 * (speed - 1000))
    if stock == "cotton":
        d = d * 0.88 - 0.07 + 0.003 * (hum - 55)
    d = d + rng.normal(0, 0.03, n)
    x = np.column_stack([ink, press, rollers, temp, hum, speed]).astype(np.float32)
    return x, d.astype(np.float32)


xa, ya = sheets(8000, "house")
xb, yb = sheets(240, "cotton")
xt, yt = sheets(2000, "cotton")
mu, sd = xa.mean(0), xa.std(0)
XA, XB, XT = (mx.array((v - mu) / sd) for v in (xa, xb, xt))
YA, YB, YT = mx.array(ya), mx.array(yb), mx.array(yt)


class DensityNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(6, 64), nn.Tanh(), nn.Linear(64, 64), nn.Tanh())
        self.head = nn.Linear(64, 1)

    def __call__(self, x):
        return self.head(self.body(x)).squeeze(-1)


def rmse(m, X, Y):
    return mx.sqrt(mx.mean((m(X) - Y) ** 2)).item()


def mse(m, X, Y):
    return nn.losses.mse_loss(m(X), Y)


ROW = "{:<9}{:>6}{:>10}{:>14}{:>17}{:>9}"
print(ROW.format("session", "epoch", "lr", "train_mse[D2]", "cotton_rmse[D]", "secs"))

# house-stock model (quiet fit, one summary row)
mx.random.seed(0)
base = DensityNet()
opt = optim.Adam(learning_rate=optim.cosine_decay(3e-3, 1500, 1e-4))
lg = nn.value_and_grad(base, mse)
t0 = time.time()
r = np.random.default_rng(1)
for step in range(1500):
    i = mx.array(r.integers(0, len(xa), 128))
    l, g = lg(base, XA[i], YA[i])
    opt.update(base, g)
    mx.eval(base.parameters(), opt.state, l)
print(ROW.format("house", "-", "-", f"{rmse(base, XA, YA) ** 2:.5f}", f"{rmse(base, XT, YT):.4f}", f"{time.time() - t0:.1f}"))
house_rmse = rmse(base, XT, YT)
workdir = tempfile.mkdtemp()
base_file = os.path.join(workdir, "house.safetensors")
base.save_weights(base_file)


def build():
    m = DensityNet()
    m.load_weights(base_file)
    m.freeze()
    m.unfreeze(keys=["bias"])
    return m


model = build()
n_tr = len(tree_flatten(model.trainable_parameters()))
n_all = len(tree_flatten(model.parameters()))
weights_before = {k: mx.array(v) for k, v in tree_flatten(model.parameters()) if k.endswith("weight")}
print(f"# tuning {n_tr} of {n_all} arrays "
      f"({sum(v.size for _, v in tree_flatten(model.trainable_parameters()))} numbers)")

EPOCHS, BS = 40, 24
SPE = len(xb) // BS
sched = optim.join_schedules([optim.linear_schedule(0.0, 2e-2, SPE * 2),
                              optim.cosine_decay(2e-2, SPE * (EPOCHS - 2), 5e-4)], [SPE * 2])


def session(model, opt, first_epoch, last_epoch, tag, seed):
    lg = nn.value_and_grad(model, mse)
    pr = np.random.default_rng(seed)
    t0 = time.time()
    for ep in range(first_epoch, last_epoch + 1):
        perm = pr.permutation(len(xb))
        tot = 0.0
        lr_first = opt.learning_rate.item()
        for s in range(SPE):
            i = mx.array(perm[s * BS:(s + 1) * BS])
            l, g = lg(model, XB[i], YB[i])
            if ep == 1 and s == 0:
                leaves = tree_flatten(g)
                print(f"# first step: grads for {len(leaves)} arrays "
                      f"({', '.join(k for k, _ in leaves)}); lr used {lr_first}")
            opt.update(model, g)
            mx.eval(model.parameters(), opt.state, l)
            tot += l.item()
        if ep <= 3 or ep % 5 == 0:
            print(ROW.format(tag, ep, f"{lr_first:.2e}", f"{tot / SPE:.5f}",
                             f"{rmse(model, XT, YT):.4f}", f"{time.time() - t0:.1f}"))


print(ROW.format("cotton", 0, "-", f"{rmse(model, XB, YB) ** 2:.5f}", f"{house_rmse:.4f}", "0.0"))
opt = optim.Adamax(learning_rate=sched)
session(model, opt, 1, 20, "bias-1", 5)
bias_file = os.path.join(workdir, "bias.safetensors")
opt_file = os.path.join(workdir, "opt.safetensors")
mx.save_safetensors(bias_file, dict(tree_flatten(model.trainable_parameters())))
mx.save_safetensors(opt_file, dict(tree_flatten(opt.state)))
saved_rmse = rmse(model, XT, YT)
del model, opt

model = build()
model.load_weights(list(mx.load(bias_file).items()), strict=False)
opt = optim.Adamax(learning_rate=sched)
opt.state = tree_unflatten(list(mx.load(opt_file).items()))
print(f"# resumed from {os.path.basename(bias_file)} at step {opt.state['step'].item()}; "
      f"cotton_rmse {rmse(model, XT, YT):.4f} (saved {saved_rmse:.4f})")
session(model, opt, 21, EPOCHS, "bias-2", 6)

drift = max(mx.max(mx.abs(weights_before[k] - v)).item()
            for k, v in tree_flatten(model.parameters()) if k.endswith("weight"))
print(f"# weight matrices max change: {drift}")
print(f"# cotton rmse: house model {house_rmse:.4f} D -> bias-tuned {rmse(model, XT, YT):.4f} D "
      f"(sheet-to-sheet noise 0.030 D)")
