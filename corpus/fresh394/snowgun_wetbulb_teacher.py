"""Snowmaking: snow-gun output (m3 of snow per hour) from 6 hill sensors.

Phase T trains a large 'tower' model. Phase S distils it into a small 'lance' model
that must run on the gun controller. During phase S the tower is frozen and scored
on every line, and so is an untrained lance built from the same seed, both as
references. Phase S is interrupted after 5 epochs (checkpoint to disk) and resumed.
"""
import json
import os
import shutil
import tempfile
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

rng = np.random.default_rng(3940)


def hill(n):
    air = rng.uniform(-18, 2, n)
    rh = rng.uniform(20, 100, n)
    wetbulb = air - (100 - rh) * 0.035 * (1 + 0.02 * (air + 10))
    water_t = rng.uniform(0.5, 4, n)
    pressure = rng.uniform(18, 40, n)      # bar
    wind = rng.gamma(2.0, 1.5, n)
    cold = np.clip(-2.5 - wetbulb, 0, None)
    out = (9 * np.sqrt(pressure) * (1 - np.exp(-0.35 * cold)) * (1 - 0.04 * water_t)
           * (1 - 0.025 * np.clip(wind - 4, 0, None)))
    out = out + rng.normal(0, 2.5, n)
    X = np.stack([air, rh, wetbulb, water_t, pressure, wind], 1).astype(np.float32)
    return X, out.astype(np.float32)


Xtr, ytr = hill(8000)
Xte, yte = hill(2000)
mu, sd = Xtr.mean(0), Xtr.std(0)
ymu, ysd = ytr.mean(), ytr.std()
Xtr = mx.array((Xtr - mu) / sd)
Xte = mx.array((Xte - mu) / sd)
ytr_z = mx.array((ytr - ymu) / ysd)


class Tower(nn.Module):
    def __init__(self):
        super().__init__()
        self.layers = [nn.Linear(6, 128), nn.Linear(128, 128), nn.Linear(128, 128)]
        self.head = nn.Linear(128, 1)

    def __call__(self, x):
        for l in self.layers:
            x = nn.silu(l(x))
        return self.head(x).squeeze(-1)


class Lance(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(6, 16)
        self.l2 = nn.Linear(16, 1)

    def __call__(self, x):
        return self.l2(nn.relu(self.l1(x))).squeeze(-1)


def mae(model):
    pred = np.array(model(Xte)) * ysd + ymu
    return float(np.mean(np.abs(pred - yte)))


def log(phase, **kv):
    print(f"[snowmaking:{phase}] " + " ".join(f"{k}={v}" for k, v in kv.items()), flush=True)


BATCH = 128
SPE = 8000 // BATCH
t0 = time.perf_counter()

# ---- phase T: tower --------------------------------------------------------
mx.random.seed(1)
tower = Tower()
t_opt = optim.Adamax(learning_rate=optim.cosine_decay(4e-3, 10 * SPE, 2e-4))
t_vg = nn.value_and_grad(tower, lambda m, x, y: nn.losses.mse_loss(m(x), y))
log("T", epoch=0, mae_m3h=f"{mae(tower):.3f}", mean_guess=f"{np.mean(np.abs(ymu - yte)):.3f}")
for ep in range(1, 11):
    perm = np.random.default_rng(100 + ep).permutation(8000)
    s = 0.0
    for i in range(SPE):
        idx = mx.array(perm[i * BATCH:(i + 1) * BATCH])
        loss, g = t_vg(tower, Xtr[idx], ytr_z[idx])
        t_opt.update(tower, g)
        mx.eval(loss, tower.parameters(), t_opt.state)
        s += loss.item()
    if ep % 2 == 0:
        log("T", epoch=ep, train_mse_z=f"{s / SPE:.4f}", mae_m3h=f"{mae(tower):.3f}")
tower.freeze()
soft = tower(Xtr)
mx.eval(soft)
tower_ref = {k: np.array(v) for k, v in tree_flatten(tower.parameters())}

# ---- phase S: lance, distilled ---------------------------------------------
ALPHA = 0.6  # weight on the tower's soft targets


def s_loss(m, x, y, t):
    p = m(x)
    return ALPHA * nn.losses.mse_loss(p, t) + (1 - ALPHA) * nn.losses.mse_loss(p, y)


def make_student():
    mx.random.seed(2)
    return Lance()


scratch = make_student()
scratch.freeze()
lance = make_student()
s_sched = optim.join_schedules([optim.linear_schedule(0.0, 1e-2, SPE),
                                optim.cosine_decay(1e-2, 11 * SPE, 1e-4)], [SPE])
s_opt = optim.Adam(learning_rate=s_sched)


def s_epoch(model, opt, ep):
    vg = nn.value_and_grad(model, s_loss)
    perm = np.random.default_rng(200 + ep).permutation(8000)
    s = 0.0
    for i in range(SPE):
        idx = mx.array(perm[i * BATCH:(i + 1) * BATCH])
        loss, g = vg(model, Xtr[idx], ytr_z[idx], soft[idx])
        opt.update(model, g)
        mx.eval(loss, model.parameters(), opt.state)
        s += loss.item()
    return s / SPE


def s_line(ep, model, opt, loss):
    log("S", epoch=ep, lr=f"{float(s_sched(opt.step)):.2e}",
        distil_loss="-" if loss is None else f"{loss:.4f}",
        lance_mae=f"{mae(model):.3f}", tower_mae=f"{mae(tower):.3f}",
        scratch_mae=f"{mae(scratch):.3f}")


s_line(0, lance, s_opt, None)
for ep in range(1, 6):
    s_line(ep, lance, s_opt, s_epoch(lance, s_opt, ep))

ckdir = tempfile.mkdtemp("_lance")
lance.save_weights(os.path.join(ckdir, "lance.safetensors"))
mx.save_safetensors(os.path.join(ckdir, "opt.safetensors"), dict(tree_flatten(s_opt.state)))
with open(os.path.join(ckdir, "meta.json"), "w") as f:
    json.dump({"epoch": 5}, f)
del lance, s_opt
log("S", event="checkpoint", dir=os.path.basename(ckdir))

lance = Lance()
lance.load_weights(os.path.join(ckdir, "lance.safetensors"))
s_opt = optim.Adam(learning_rate=s_sched)
s_opt.state = tree_unflatten(list(mx.load(os.path.join(ckdir, "opt.safetensors")).items()))
with open(os.path.join(ckdir, "meta.json")) as f:
    start = json.load(f)["epoch"] + 1
log("S", event="resumed", at_epoch=start, step=int(s_opt.step.item()), lance_mae=f"{mae(lance):.3f}")
for ep in range(start, 13):
    s_line(ep, lance, s_opt, s_epoch(lance, s_opt, ep))

shutil.rmtree(ckdir)
drift = max(float(np.abs(np.array(v) - tower_ref[k]).max()) for k, v in tree_flatten(tower.parameters()))
log("done", tower_drift=f"{drift:.1e}", lance_params=sum(v.size for _, v in tree_flatten(lance.parameters())),
    tower_params=sum(v.size for _, v in tree_flatten(tower.parameters())), secs=f"{time.perf_counter() - t0:.1f}")
