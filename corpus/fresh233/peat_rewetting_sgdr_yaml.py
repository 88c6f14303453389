"""Peat-bog rewetting monitor: water-table depth (cm below surface) of dipwell plots.

SGD + momentum under an SGDR schedule built from mlx schedule objects (linear warm-up from 0,
then three cosine cycles), a checkpoint written in the middle of cycle 2 and resumed into a
fresh model/optimizer, and a snapshot ensemble of the end-of-cycle weights.
Every report is a YAML document on stdout.
"""
import os, tempfile, time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten, tree_map

rng = np.random.default_rng(233)
N_TR, N_VA = 8000, 2000


def make_plots(n):
    rain7 = rng.gamma(2.0, 9.0, n)             # mm over the last 7 days
    et = rng.uniform(0.5, 4.5, n)              # mm/day evapotranspiration
    block_age = rng.uniform(0, 12, n)          # years since the ditch was blocked
    sphagnum = rng.uniform(0, 95, n)           # % cover
    slope = rng.uniform(0, 6, n)               # degrees
    ditch_m = rng.uniform(2, 120, n)           # distance to nearest ditch
    wt = (38.0 - 0.32 * rain7 + 4.1 * et - 14.0 * (1 - np.exp(-block_age / 3.5))
          - 0.09 * sphagnum + 1.6 * slope + 9.0 * np.exp(-ditch_m / 25.0)
          + 0.02 * (rain7 - 18) * (et - 2.5) * 3)
    wt = wt + rng.normal(0, 2.0, n)
    x = np.stack([rain7, et, block_age, sphagnum, slope, ditch_m], 1)
    return x.astype(np.float32), wt.astype(np.float32)


xtr, ytr = make_plots(N_TR)
xva, yva = make_plots(N_VA)
mu, sd = xtr.mean(0), xtr.std(0)
ym, ys = ytr.mean(), ytr.std()
Xtr, Xva = mx.array((xtr - mu) / sd), mx.array((xva - mu) / sd)
Ytr, Yva = mx.array((ytr - ym) / ys), mx.array(yva)


class Dipwell(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(6, 64)
        self.l2 = nn.Linear(64, 64)
        self.out = nn.Linear(64, 1)

    def __call__(self, x):
        return self.out(nn.silu(self.l2(nn.silu(self.l1(x))))).squeeze(-1)


WARM, CYCLES = 50, [150, 300, 600]
BOUNDS = [WARM, WARM + CYCLES[0], WARM + CYCLES[0] + CYCLES[1]]
TOTAL = WARM + sum(CYCLES)
CKPT_AT = 350
PEAK = 0.05


def make_schedule():
    parts = [optim.linear_schedule(0.0, PEAK, WARM)]
    parts += [optim.cosine_decay(PEAK, c, 1e-4) for c in CYCLES]
    return optim.join_schedules(parts, BOUNDS)


def loss_fn(model, x, y):
    return nn.losses.mse_loss(model(x), y)


def val_rmse_cm(model):
    pred = model(Xva) * ys + ym
    return float(mx.sqrt(mx.mean((pred - Yva) ** 2)))


def emit(doc):
    print("---")
    for k, v in doc.items():
        if isinstance(v, float):
            print(f"{k}: {v:.6g}")
        else:
            print(f"{k}: {v}")


def batch_iter(seed):
    r = np.random.default_rng(seed)
    while True:
        perm = r.permutation(N_TR)
        for i in range(0, N_TR - 127, 128):
            yield mx.array(perm[i:i + 128])


def train(model, opt, start, stop, snaps, seed):
    vg = nn.value_and_grad(model, loss_fn)
    window = []
    batches = batch_iter(seed)
    t0 = time.time()
    for step in range(start + 1, stop + 1):
        idx = next(batches)
        loss, grads = vg(model, Xtr[idx], Ytr[idx])
        if step == 1:
            zero = [k for k, g in tree_flatten(grads) if float(mx.abs(g).max()) == 0.0]
            emit({"event": "grad_check", "leaves": len(tree_flatten(grads)), "zero_leaves": zero})
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        window.append(float(loss))
        if step in BOUNDS[1:]:
            emit({"event": "warm_restart", "step": step, "next_lr": float(make_schedule()(mx.array(step)))})
        if step in (BOUNDS[1], BOUNDS[2], TOTAL):
            snaps.append(tree_map(lambda a: mx.array(a), model.parameters()))
            emit({"event": "snapshot", "step": step, "val_rmse_cm": val_rmse_cm(model)})
        if step % 100 == 0:
            cyc = sum(step > b for b in BOUNDS)
            emit({"step": step, "cycle": cyc, "lr": float(opt.learning_rate),
                  "train_mse_z": float(np.mean(window)), "val_rmse_cm": val_rmse_cm(model),
                  "secs": round(time.time() - t0, 2)})
            window = []


mx.random.seed(1)
emit({"event": "data", "train_plots": N_TR, "valid_plots": N_VA, "noise_floor_cm": 2.0,
      "mean_guess_rmse_cm": float(np.sqrt(np.mean((yva - ym) ** 2)))})
model = Dipwell()
opt = optim.SGD(learning_rate=make_schedule(), momentum=0.9)
emit({"event": "untrained", "val_rmse_cm": val_rmse_cm(model)})
snaps = []
train(model, opt, 0, CKPT_AT, snaps, seed=10)

ckdir = tempfile.mkdtemp(None, "dipwell_")
model.save_weights(os.path.join(ckdir, "model.safetensors"))
mx.save_safetensors(os.path.join(ckdir, "opt.safetensors"), dict(tree_flatten(opt.state)))
snap_files = []
for i, s in enumerate(snaps):
    f = os.path.join(ckdir, f"snap{i}.safetensors")
    mx.save_safetensors(f, dict(tree_flatten(s)))
    snap_files.append(f)
before = val_rmse_cm(model)
emit({"event": "checkpoint", "step": CKPT_AT, "files": len(os.listdir(ckdir)), "val_rmse_cm": before})
del model, opt, snaps

mx.random.seed(99)
model = Dipwell()
model.load_weights(os.path.join(ckdir, "model.safetensors"))
opt = optim.SGD(learning_rate=make_schedule(), momentum=0.9)
opt.state = tree_unflatten(list(mx.load(os.path.join(ckdir, "opt.safetensors")).items()))
snaps = [tree_unflatten(list(mx.load(f).items())) for f in snap_files]
emit({"event": "resumed", "opt_step": int(opt.state["step"]), "val_rmse_cm": val_rmse_cm(model),
      "matches_checkpoint": abs(val_rmse_cm(model) - before) < 1e-6})
train(model, opt, CKPT_AT, TOTAL, snaps, seed=11)

preds = []
for s in snaps:
    model.update(s)
    preds.append(model(Xva) * ys + ym)
ens = mx.mean(mx.stack(preds), 0)
ens_rmse = float(mx.sqrt(mx.mean((ens - Yva) ** 2)))
emit({"event": "done", "snapshots": len(snaps), "last_snapshot_rmse_cm": val_rmse_cm(model),
      "ensemble_rmse_cm": ens_rmse, "noise_floor_cm": 2.0})
