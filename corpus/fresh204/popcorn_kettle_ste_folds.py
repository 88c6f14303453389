"""Cinema popcorn kettle: what becomes of a kernel?

3 outcomes per kernel -- 0 butterfly, 1 mushroom, 2 old maid (unpopped) --
from 7 synthetic kettle/kernel readings (moisture %, hull thickness, kernel
mass, oil temperature, heat-up seconds, kettle load, stir rpm).
The first layer is trained quantisation-aware: its weights are snapped to a
1/16 grid in the forward pass with a straight-through estimator written as an
mx.custom_function with its own VJP.  3-fold cross-validation (the model is
rebuilt each fold, so epochs and losses restart), compiled train step, early
stopping with patience and restore of the best weights, messages via logging,
a summary table at the end.
"""
import logging
import time
from functools import partial

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_map

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)-5s %(name)s | %(message)s",
                    datefmt="%H:%M:%S")
log = logging.getLogger("kettle")

rng = np.random.default_rng(31)
N = 4800


def make_kernels(n):
    moist = rng.normal(13.5, 1.6, n)
    hull = rng.gamma(4.0, 0.012, n)
    mass = rng.normal(0.145, 0.02, n)
    oil_t = rng.normal(232, 9, n)
    heat_s = rng.normal(95, 20, n)
    load = rng.uniform(0.4, 1.0, n)
    rpm = rng.uniform(20, 60, n)
    # made-up physics: pops need steam pressure (moisture, temperature) to beat the hull
    press = 0.9 * (moist - 13.5) + 0.08 * (oil_t - 232) - 25 * (hull - 0.048) - 1.2 * (load - 0.7)
    s_unpop = -1.6 - 1.1 * press - 0.4 * np.abs(moist - 13.5)
    s_mush = 0.2 * (rpm - 40) / 10 - 0.02 * (heat_s - 95) + 8 * (mass - 0.145) / 0.02 * 0.15
    s_fly = 0.35 * press
    s = np.stack([s_fly, s_mush, s_unpop], 1) + rng.gumbel(0, 0.6, (n, 3))
    y = s.argmax(1)
    X = np.stack([moist, hull, mass, oil_t, heat_s, load, rpm], 1)
    return X.astype(np.float32), y.astype(np.int32)


X_all, y_all = make_kernels(N)
folds = np.array_split(rng.permutation(N), 3)


@mx.custom_function
def ste_snap(w):
    return mx.round(w * 16.0) / 16.0


@ste_snap.vjp
def ste_snap_vjp(primals, cotangent, output):
    return (cotangent,)          # straight through


class SnapLinear(nn.Module):
    def __init__(self, i, o):
        super().__init__()
        lim = 1.0 / np.sqrt(i)
        self.weight = mx.random.uniform(-lim, lim, (o, i))
        self.bias = mx.zeros((o,))

    def __call__(self, x):
        return x @ ste_snap(self.weight).T + self.bias


class KernelNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.inp = SnapLinear(7, 48)
        self.hid = nn.Linear(48, 48)
        self.out = nn.Linear(48, 3)

    def __call__(self, x):
        h = nn.relu(self.inp(x))
        h = nn.relu(self.hid(h))
        return self.out(h)


def xent(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")


rows = []
t0 = time.time()
for fold, va_idx in enumerate(folds, start=1):
    tr_idx = np.concatenate([f for j, f in enumerate(folds, start=1) if j != fold])
    mu, sd = X_all[tr_idx].mean(0), X_all[tr_idx].std(0) + 1e-6
    Xtr, ytr = mx.array((X_all[tr_idx] - mu) / sd), mx.array(y_all[tr_idx])
    Xva, yva = mx.array((X_all[va_idx] - mu) / sd), mx.array(y_all[va_idx])
    majority = float(np.mean(y_all[va_idx] == np.bincount(y_all[tr_idx]).argmax()))

    mx.random.seed(100 + fold)
    model = KernelNet()
    opt = optim.RMSprop(learning_rate=2e-4, alpha=0.95)
    mx.eval(model.parameters())
    state = [model.state, opt.state]

    @partial(mx.compile, inputs=state, outputs=state)
    def step(x, y):
        loss, g = nn.value_and_grad(model, xent)(model, x, y)
        opt.update(model, g)
        return loss

    best, best_ep, best_params, wait, PATIENCE = float("inf"), 0, None, 0, 8
    log.info("fold %d/3 start: %d train / %d held-out kernels, majority-class acc %.1f%%",
             fold, len(tr_idx), len(va_idx), 100 * majority)
    for ep in range(1, 91):
        perm = mx.array(rng.permutation(len(tr_idx)))
        tot = 0.0
        for s in range(0, len(tr_idx), 64):
            b = perm[s:s + 64]
            loss = step(Xtr[b], ytr[b])
            mx.eval(loss, model.parameters(), opt.state)
            tot += float(loss) * b.size
        logits = model(Xva)
        vl = float(nn.losses.cross_entropy(logits, yva, reduction="mean"))
        acc = float(mx.mean(mx.argmax(logits, 1) == yva))
        if vl < best - 1e-4:
            best, best_ep, wait = vl, ep, 0
            best_params = tree_map(lambda a: mx.array(a), model.parameters())
            mx.eval(best_params)
        else:
            wait += 1
        if ep % 5 == 0 or ep == 1:
            log.info("fold %d ep %02d  train_xent %.4f  heldout_xent %.4f  acc %5.1f%%  wait %d",
                     fold, ep, tot / len(tr_idx), vl, 100 * acc, wait)
        if wait >= PATIENCE:
            log.warning("fold %d: no held-out gain for %d epochs -> stop at ep %d, restore ep %d",
                        fold, PATIENCE, ep, best_ep)
            break
    model.update(best_params)
    mx.eval(model.parameters())
    logits = model(Xva)
    acc = float(mx.mean(mx.argmax(logits, 1) == yva))
    snapped = np.unique(np.array(ste_snap(model.inp.weight))).size
    rows.append((fold, best_ep, best, 100 * acc, 100 * majority, snapped))

print()
print("fold | best ep | held-out xent | acc %  | majority % | distinct snapped w")
print("-----+---------+---------------+--------+------------+-------------------")
for r in rows:
    print(f"  {r[0]}  |   {r[1]:3d}   |    {r[2]:.4f}     | {r[3]:5.1f}  |   {r[4]:5.1f}    | {r[5]:4d}")
print(f"mean acc {np.mean([r[3] for r in rows]):.1f}% vs majority {np.mean([r[4] for r in rows]):.1f}%"
      f"  ({time.time() - t0:.1f} s)")
