# Raised-bog monitoring: net CO2 flux (umol m-2 s-1) of a sphagnum plot from
# six chamber readings. SGD with momentum under a bold peak learning rate,
# with a guard that returns to the last good snapshot and lowers the peak.
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map

t0 = time.time()
rng = np.random.default_rng(7)
NOISE = 0.4


def make(n):
    par = rng.gamma(2.2, 260, n)              # light, umol photons
    tpeat = rng.normal(12, 4.5, n)            # peat temperature, C
    wt = rng.normal(-12, 8, n)                # water table, cm
    vwc = rng.uniform(0.55, 0.95, n)          # moss water content
    cover = rng.uniform(0.3, 1.0, n)          # sphagnum cover
    vpd = rng.gamma(2.0, 0.35, n)             # kPa
    gpp = 9.0 * cover * par / (par + 420) * np.exp(-((vwc - 0.82) / 0.17) ** 2) / (1 + 0.6 * vpd)
    reco = 1.3 * np.exp(0.075 * (tpeat - 10)) * (1 + 0.025 * np.clip(-wt, 0, None))
    nee = reco - gpp + rng.normal(0, NOISE, n)
    x = np.stack([par, tpeat, wt, vwc, cover, vpd], 1)
    return x.astype(np.float32), nee.astype(np.float32)


xtr, ytr = make(9000)
xva, yva = make(2000)
mu, sd = xtr.mean(0), xtr.std(0)
Xtr, Xva = mx.array((xtr - mu) / sd), mx.array((xva - mu) / sd)
ym, ys = float(ytr.mean()), float(ytr.std())
Ytr, Yva = mx.array((ytr - ym) / ys)[:, None], mx.array((yva - ym) / ys)[:, None]


class FluxNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.inp = nn.Linear(6, 64)
        self.mid = nn.Linear(64, 64)
        self.head = nn.Linear(64, 1)

    def __call__(self, x):
        h = nn.silu(self.inp(x))
        h = h + nn.silu(self.mid(h))
        return self.head(h)


def mse(m, x, y):
    return mx.mean((m(x) - y) ** 2)


mx.random.seed(2)
model = FluxNet()
mx.eval(model.parameters())
opt = optim.SGD(learning_rate=0.0, momentum=0.9)
opt.init(model.trainable_parameters())
vg = nn.value_and_grad(model, mse)

TOTAL, WARM, BS, SNAP_EVERY = 1600, 120, 64, 50
peak = 0.9


def lr_at(s, peak):
    if s <= WARM:
        return peak * (s - 1) / WARM
    p = (s - WARM) / (TOTAL - WARM)
    return 1e-4 + 0.5 * (peak - 1e-4) * (1 + math.cos(math.pi * p))


def copy_tree(t):
    return tree_map(lambda a: mx.array(a), t)


def val_rmse():
    return math.sqrt(float(mse(model, Xva, Yva))) * ys


print(f"| bog plot flux model | train 9000 | valid 2000 | noise {NOISE} umol/m2/s |"
      f" mean-guess rmse {float(yva.std()):.3f} |")
_, g0 = vg(model, Xtr[:BS], Ytr[:BS])
gl = tree_flatten(g0)
print(f"| grad check | {len(gl)} leaves | zero {[k for k, v in gl if float(mx.abs(v).max()) == 0]} |"
      f" untrained val rmse {val_rmse():.3f} |")
print("| step | lr | batch mse | ema mse | val rmse | note |")
print("|---:|---:|---:|---:|---:|---|")

snap = (0, copy_tree(model.parameters()), copy_tree(opt.state), None)
ema, ema_n = 0.0, 0
s = 0
rewinds = 0
perm = np.array([], dtype=np.int64)
while s < TOTAL:
    s += 1
    if len(perm) < BS:
        perm = np.concatenate([perm, rng.permutation(len(ytr))])
    idx, perm = perm[:BS], perm[BS:]
    ii = mx.array(idx)
    lr = lr_at(s, peak)
    opt.learning_rate = lr
    loss, g = vg(model, Xtr[ii], Ytr[ii])
    mx.eval(loss)
    lv = float(loss)
    ref = ema / (1 - 0.95 ** ema_n) if ema_n else None
    if (not math.isfinite(lv)) or (ref is not None and s > 30 and lv > 8 * ref):
        back, p_snap, o_snap, e_snap = snap
        model.update(copy_tree(p_snap))
        opt.state = copy_tree(o_snap)
        ema, ema_n = e_snap if e_snap else (0.0, 0)
        rewinds += 1
        ref_txt = "NA" if ref is None else f"{ref:.4f}"
        print(f"| {s} | {lr:.4f} | {lv:.4g} | {ref_txt} | - | rewind to {back}, peak {peak:.3f} -> {peak / 2:.3f} |")
        peak /= 2
        s = back
        continue
    opt.update(model, g)
    mx.eval(model.parameters(), opt.state)
    ema = 0.95 * ema + 0.05 * lv
    ema_n += 1
    if s % SNAP_EVERY == 0:
        snap = (s, copy_tree(model.parameters()), copy_tree(opt.state), (ema, ema_n))
    if s == 1 or s % 200 == 0:
        print(f"| {s} | {lr:.4f} | {lv:.4f} | {ema / (1 - 0.95 ** ema_n):.4f} | {val_rmse():.4f} | |")

print(f"| done | rewinds {rewinds} | final peak {peak:.3f} | val rmse {val_rmse():.4f} umol/m2/s |"
      f" noise {NOISE} | mean-guess {float(yva.std()):.3f} | {time.time() - t0:.1f} s |")
