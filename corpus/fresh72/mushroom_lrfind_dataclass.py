"""Forager's helper: which genus is this mushroom (6 genera) from field notes.

First an LR range test (exponential sweep of the learning rate on a throwaway
model, stopped once the smoothed loss has blown past 4x its minimum), then the
real run from fresh weights with a one-cycle schedule peaking at a tenth of the
steepest-descent learning rate found by the sweep.
"""
import math
import time
from dataclasses import dataclass

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

rng = np.random.default_rng(11)
GENERA = ["Agaricus", "Amanita", "Boletus", "Cantharellus", "Lactarius", "Russula"]
N_COLOURS = 6  # spore print colour: white, cream, pink, brown, olive, black


def make_notes(n):
    g = rng.integers(0, 6, n)
    centre_cap = np.array([7.0, 10.0, 14.0, 6.0, 8.0, 8.0])
    centre_stem = np.array([6.0, 12.0, 9.0, 5.0, 5.0, 6.0])
    ring = np.array([0.9, 0.85, 0.02, 0.02, 0.02, 0.02])
    pores = np.array([0.0, 0.0, 0.95, 0.0, 0.0, 0.0])
    milk = np.array([0.0, 0.0, 0.0, 0.0, 0.9, 0.0])
    ridges = np.array([0.0, 0.0, 0.0, 0.9, 0.05, 0.0])
    brittle = np.array([0.1, 0.2, 0.1, 0.1, 0.7, 0.9])
    spore_p = np.array([
        [0.02, 0.02, 0.06, 0.8, 0.02, 0.08],   # Agaricus: brown
        [0.85, 0.1, 0.02, 0.01, 0.01, 0.01],   # Amanita: white
        [0.02, 0.05, 0.02, 0.3, 0.6, 0.01],    # Boletus: olive-brown
        [0.5, 0.4, 0.08, 0.01, 0.005, 0.005],  # Cantharellus: white/cream
        [0.55, 0.4, 0.02, 0.01, 0.01, 0.01],   # Lactarius
        [0.35, 0.55, 0.02, 0.04, 0.02, 0.02],  # Russula
    ])
    cap = rng.normal(centre_cap[g], 2.5)
    stem = rng.normal(centre_stem[g], 2.0)
    feats = [np.log(np.clip(cap, 1, None)), np.log(np.clip(stem, 1, None))]
    for p in (ring, pores, milk, ridges, brittle):
        feats.append((rng.random(n) < p[g]).astype(np.float32))
    feats.append(rng.normal(0.5 * (g == 1) - 0.3 * (g == 3), 1.0))  # cap stickiness score
    colour = np.array([rng.choice(6, p=spore_p[k]) for k in g])
    return np.stack(feats, 1).astype(np.float32), colour.astype(np.int32), g.astype(np.int32)


Xtr, Ctr, Ytr = make_notes(14000)
Xva, Cva, Yva = make_notes(1500)
mu, sd = Xtr.mean(0), Xtr.std(0) + 1e-6
Xtr, Xva = (Xtr - mu) / sd, (Xva - mu) / sd
Xtr, Ctr, Ytr = mx.array(Xtr), mx.array(Ctr), mx.array(Ytr)
Xva, Cva, Yva = mx.array(Xva), mx.array(Cva), mx.array(Yva)


class GenusNet(nn.Module):
    def __init__(self, d_num, n_col, n_cls, width=96):
        super().__init__()
        self.spore = nn.Embedding(n_col, 8)
        self.fc1 = nn.Linear(d_num + 8, width)
        self.drop = nn.Dropout(0.15)
        self.fc2 = nn.Linear(width, width)
        self.head = nn.Linear(width, n_cls)

    def __call__(self, x, c):
        h = mx.concatenate([x, self.spore(c)], axis=-1)
        h = self.drop(nn.relu(self.fc1(h)))
        h = self.drop(nn.relu(self.fc2(h)))
        return self.head(h)


def ce(model, x, c, yb):
    return nn.losses.cross_entropy(model(x, c), yb, reduction="mean")


@dataclass
class SweepPoint:
    step: int
    lr: float
    smoothed_loss: float


@dataclass
class EpochReport:
    epoch: int
    lr: float
    train_ce: float
    val_ce: float
    val_error_pct: float
    secs: float


def batches(bs):
    perm = mx.array(rng.permutation(Xtr.shape[0]))
    for i in range(Xtr.shape[0] // bs):
        idx = perm[i * bs:(i + 1) * bs]
        yield Xtr[idx], Ctr[idx], Ytr[idx]


def evaluate(model):
    model.eval()
    logits = model(Xva, Cva)
    vce = nn.losses.cross_entropy(logits, Yva, reduction="mean").item()
    err = 100.0 * (1.0 - mx.mean(mx.argmax(logits, -1) == Yva).item())
    model.train()
    return vce, err


# ---- 1. learning-rate range test on a throwaway model -----------------------
mx.random.seed(0)
probe = GenusNet(Xtr.shape[1], N_COLOURS, 6)
mx.eval(probe.parameters())
lr_lo, lr_hi, n_sweep = 1e-5, 3.0, 200
mult = (lr_hi / lr_lo) ** (1 / (n_sweep - 1))
sweep_opt = optim.Adam(learning_rate=lr_lo)
vg = nn.value_and_grad(probe, ce)
avg, best, sweep = 0.0, math.inf, []
it = iter(())
for s in range(n_sweep):
    lr = lr_lo * mult ** s
    sweep_opt.learning_rate = lr
    try:
        xb, cb, yb = next(it)
    except StopIteration:
        it = batches(64)
        xb, cb, yb = next(it)
    loss, g = vg(probe, xb, cb, yb)
    sweep_opt.update(probe, g)
    mx.eval(probe.parameters(), sweep_opt.state, loss)
    avg = 0.9 * avg + 0.1 * loss.item()
    sm = avg / (1 - 0.9 ** (s + 1))
    sweep.append(SweepPoint(s, lr, sm))
    best = min(best, sm)
    if s % 20 == 0:
        print(sweep[-1])
    if sm > 4 * best or not math.isfinite(sm):
        print(sweep[-1], "<- stopped: smoothed loss > 4x its minimum")
        break

# steepest descent of the smoothed loss vs log lr
lrs = np.array([p.lr for p in sweep])
ls = np.array([p.smoothed_loss for p in sweep])
slope = np.gradient(ls, np.log(lrs))
cut = int(np.argmin(ls))
steep = int(np.argmin(slope[: cut + 1])) if cut > 0 else 0
peak_lr = float(min(lrs[steep], lrs[cut] / 10))
print(f"range test: min smoothed loss {ls[cut]:.3f} at lr {lrs[cut]:.2e}, "
      f"steepest at lr {lrs[steep]:.2e} -> peak lr {peak_lr:.2e}")
del probe, sweep_opt

# ---- 2. real run from fresh weights ------------------------------------------
mx.random.seed(1)
model = GenusNet(Xtr.shape[1], N_COLOURS, 6)
mx.eval(model.parameters())
EPOCHS, BS = 14, 48
spe = Xtr.shape[0] // BS
total = EPOCHS * spe
warm = int(0.3 * total)
sched = optim.join_schedules(
    [optim.linear_schedule(peak_lr / 25, peak_lr, warm),
     optim.cosine_decay(peak_lr, total - warm, peak_lr / 1000)],
    [warm],
)
opt = optim.Adam(learning_rate=sched)
vg = nn.value_and_grad(model, ce)

ce0, err0 = evaluate(model)
print(EpochReport(0, 0.0, None, round(ce0, 4), round(err0, 2), 0.0))
t0 = time.perf_counter()
first = True
for ep in range(1, EPOCHS + 1):
    tot, nb = 0.0, 0
    for xb, cb, yb in batches(BS):
        loss, g = vg(model, xb, cb, yb)
        if first:
            leaves = tree_flatten(g)
            zero = [k for k, a in leaves if float(mx.abs(a).max()) == 0.0]
            print(f"gradient check: {len(leaves)} leaves, all-zero: {zero or 'none'}")
            first = False
        opt.update(model, g)
        mx.eval(model.parameters(), opt.state, loss)
        tot += loss.item()
        nb += 1
    vce, verr = evaluate(model)
    print(EpochReport(ep, float(f"{opt.learning_rate.item():.3e}"), round(tot / nb, 4),
                      round(vce, 4), round(verr, 2), round(time.perf_counter() - t0, 1)))
print(f"final validation error {verr:.2f}% over {len(GENERA)} genera "
      f"(chance {100 * 5 / 6:.1f}%)")
