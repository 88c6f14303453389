"""Ropewalk test bench: predict the breaking load of a laid hemp rope together
with its spread (heteroscedastic Gaussian head) from six making parameters.

Mixed precision by hand: float32 master weights are owned by the optimizer, the
forward/backward pass runs on a float16 working copy, and a dynamic loss scale
guards the half-precision gradients. The scale starts high on purpose and backs
off on overflow (those steps are skipped).

Two stages: first only the mean head and body are fitted with a squared error
(the spread head is frozen, nothing is printed until the stage ends); then the
spread head is released, the loss switches to the Gaussian negative
log-likelihood (which goes below zero) and a fresh optimizer warms up from zero.
"""

import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map

SEED = 5
N_TRAIN, N_VALID = 10000, 2000
BATCH = 128
STAGE1_STEPS = 500
STAGE2_STEPS = 900
INIT_SCALE = 2.0 ** 24
GROWTH_EVERY = 200
REPORT = 100

rng = np.random.default_rng(SEED)
mx.random.seed(SEED)


def make_ropes(n):
    yarns = rng.integers(8, 40, n).astype(np.float64)      # yarns per strand
    twist = rng.uniform(20.0, 60.0, n)                       # turns per metre
    fibre = rng.uniform(0.8, 2.4, n)                         # staple length (m)
    moist = rng.uniform(0.05, 0.30, n)                       # moisture fraction
    tar = rng.uniform(0.0, 0.18, n)                          # tar pick-up
    strands = rng.choice([3.0, 4.0], n)
    load = (0.9 * yarns * strands / 3.0 * (1.0 - 0.004 * (twist - 38.0) ** 2 / 10.0)
            * (0.7 + 0.2 * fibre) * (1.0 - 1.2 * tar) * (1.0 - 0.8 * (moist - 0.12)))
    spread = 0.6 + 9.0 * moist * (1.0 + 0.5 * (strands == 4.0))
    load = load + rng.normal(0.0, 1.0, n) * spread
    X = np.stack([yarns, twist, fibre, moist, tar, strands], axis=1)
    return X.astype(np.float32), load.astype(np.float32)


Xtr, ytr = make_ropes(N_TRAIN)
Xva, yva = make_ropes(N_VALID)
mu, sd = Xtr.mean(0), Xtr.std(0)
ymu, ysd = float(ytr.mean()), float(ytr.std())
Xtr_m = mx.array((Xtr - mu) / sd)
Xva_m = mx.array((Xva - mu) / sd)
ztr_m = mx.array((ytr - ymu) / ysd)
zva_m = mx.array((yva - ymu) / ysd)


class RopeNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.body1 = nn.Linear(6, 64)
        self.body2 = nn.Linear(64, 64)
        self.mean = nn.Linear(64, 1)
        self.logvar = nn.Linear(64, 1)

    def __call__(self, x):
        h = nn.gelu(self.body1(x))
        h = nn.gelu(self.body2(h))
        return self.mean(h).squeeze(-1), mx.clip(self.logvar(h).squeeze(-1), -8.0, 4.0)


def squared(m, x, z, scale):
    mean, _ = m(x)
    return mx.mean(mx.square(z - mean.astype(mx.float32))) * scale


def gaussian_nll(m, x, z, scale):
    mean, logvar = m(x)
    mean = mean.astype(mx.float32)
    logvar = logvar.astype(mx.float32)
    return mx.mean(0.5 * (logvar + mx.square(z - mean) * mx.exp(-logvar))) * scale


def evaluate(master):
    mean, logvar = master(Xva_m)
    val_nll = float(mx.mean(0.5 * (logvar + mx.square(zva_m - mean) * mx.exp(-logvar))))
    err = (np.array(mean) - np.array(zva_m)) * ysd
    rmse = float(np.sqrt(np.mean(err ** 2)))
    half = 1.645 * np.exp(0.5 * np.array(logvar))
    cover = float(np.mean(np.abs(np.array(zva_m) - np.array(mean)) <= half)) * 100.0
    return val_nll, rmse, cover


def train_stage(tag, master, work, opt, loss_fn, scaler, n_steps, verbose):
    grad_fn = nn.value_and_grad(work, loss_fn)
    window, t0 = [], time.time()
    for step in range(1, n_steps + 1):
        idx = mx.array(rng.integers(0, N_TRAIN, BATCH))
        work.update(tree_map(lambda p: p.astype(mx.float16), master.parameters()))
        scale = mx.array(scaler["scale"], dtype=mx.float32)
        loss, grads = grad_fn(work, Xtr_m[idx], ztr_m[idx], scale)
        grads = tree_map(lambda g: g.astype(mx.float32) / scale, grads)
        finite = mx.array(True)
        for _, g in tree_flatten(grads):
            finite = mx.logical_and(finite, mx.all(mx.isfinite(g)))
        if step == 1:
            names = [k for k, _ in tree_flatten(grads)]
            print(f"[{tag}] step-1 gradients: {len(names)} leaves ({', '.join(n.split('.')[0] for n in names[::2])}),"
                  f" working copy {work.body1.weight.dtype}, finite {bool(finite)} at scale 2^{int(math.log2(scaler['scale']))}")
        if bool(finite):
            opt.update(master, grads)
            mx.eval(master.parameters(), opt.state)
            scaler["clean"] += 1
            if scaler["clean"] % GROWTH_EVERY == 0 and scaler["scale"] < INIT_SCALE:
                scaler["scale"] *= 2.0
            window.append(float(loss) / scaler["scale"])
        else:
            scaler["scale"] /= 2.0
            scaler["skipped"] += 1
        if verbose and step % REPORT == 0:
            v_nll, rmse, cover = evaluate(master)
            print(f"[{tag}] step {step:4d} | lr {float(opt.learning_rate):.2e} | scale 2^{int(math.log2(scaler['scale']))}"
                  f" | skipped {scaler['skipped']:2d} | train nll {np.mean(window):+.3f} | valid nll {v_nll:+.3f}"
                  f" | valid rmse {rmse:.2f} kN | 90% band covers {cover:.1f}% | {time.time() - t0:.1f}s")
            window = []
    return window, time.time() - t0


master = RopeNet()
mx.eval(master.parameters())
work = RopeNet()
work.set_dtype(mx.float16)

print(f"data: {N_TRAIN} train / {N_VALID} valid ropes, load sd {ysd:.2f} kN (predict-mean rmse {float(np.std(yva)):.2f} kN)")
v_nll, rmse, cover = evaluate(master)
print(f"untrained: valid rmse {rmse:.2f} kN")

# stage 1: mean only, spread head frozen, silent until done
master.logvar.freeze()
work.logvar.freeze()
scaler = {"scale": INIT_SCALE, "clean": 0, "skipped": 0}
opt1 = optim.Adam(learning_rate=optim.cosine_decay(3e-3, STAGE1_STEPS, 3e-4))
window, secs = train_stage("mean", master, work, opt1, squared, scaler, STAGE1_STEPS, verbose=False)
v_nll, rmse, cover = evaluate(master)
print(f"[mean] {STAGE1_STEPS} steps in {secs:.1f}s: last-100 train mse {np.mean(window[-100:]):.3f} (z units), "
      f"valid rmse {rmse:.2f} kN, skipped {scaler['skipped']}, scale now 2^{int(math.log2(scaler['scale']))}")

# stage 2: release the spread head, Gaussian NLL, new optimizer warming up from 0
master.logvar.unfreeze()
work.logvar.unfreeze()
schedule = optim.join_schedules([optim.linear_schedule(0.0, 1.5e-3, 100),
                                 optim.cosine_decay(1.5e-3, STAGE2_STEPS - 100, 5e-5)], [100])
opt2 = optim.Adam(learning_rate=schedule)
train_stage("spread", master, work, opt2, gaussian_nll, scaler, STAGE2_STEPS, verbose=True)

v_nll, rmse, cover = evaluate(master)
print(f"done: master weights {master.body1.weight.dtype}, skipped {scaler['skipped']} steps in total, "
      f"valid nll {v_nll:+.3f}, valid rmse {rmse:.2f} kN, 90% band covers {cover:.1f}%")
