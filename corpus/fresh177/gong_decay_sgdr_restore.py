# Gong workshop: predict how long a hand-hammered gong rings (T60, seconds)
# from the bench log. Warm-restart cosine schedule that starts at lr = 0,
# early stopping on the held-out set with restore of the best weights.
import logging
import math

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_map, tree_flatten

logging.basicConfig(level=logging.INFO, format="%(levelname)-5s gongbench | %(message)s")
log = logging.getLogger("gong")

rng = np.random.default_rng(1177)


def make_gongs(n):
    diam = rng.uniform(30, 110, n)           # cm
    thick = rng.uniform(0.8, 3.0, n)         # mm
    passes = rng.integers(2, 14, n)          # hammering passes
    tin = rng.uniform(18, 24, n)             # % tin in bronze
    anneal = rng.uniform(450, 700, n)        # deg C
    boss = rng.uniform(0, 4, n)              # cm boss height
    rim = rng.uniform(1, 8, n)               # cm rim turn depth
    logt60 = (0.9 + 1.1 * np.log(diam / 50) - 0.35 * (thick - 1.8) ** 2
              + 0.5 * np.tanh((passes - 6) / 3) - 0.08 * (tin - 21) ** 2
              + 0.25 * np.sin((anneal - 450) / 80) + 0.12 * boss * (rim > 4)
              - 0.04 * rim + rng.normal(0, 0.12, n))
    X = np.stack([diam, thick, passes, tin, anneal, boss, rim], 1).astype(np.float64)
    return X, logt60


Xtr, ytr = make_gongs(4000)
Xva, yva = make_gongs(1000)
mu, sd = Xtr.mean(0), Xtr.std(0)
ym, ys = ytr.mean(), ytr.std()
to_mx = lambda a: mx.array(a.astype(np.float32))
Xtr_m, Xva_m = to_mx((Xtr - mu) / sd), to_mx((Xva - mu) / sd)
ytr_m, yva_m = to_mx((ytr - ym) / ys), to_mx((yva - ym) / ys)


class RingTime(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(7, 64)
        self.l2 = nn.Linear(64, 64)
        self.out = nn.Linear(64, 1)

    def __call__(self, x):
        h = nn.silu(self.l1(x))
        h = nn.silu(self.l2(h))
        return self.out(h).squeeze(-1)


model = RingTime()
mx.eval(model.parameters())
opt = optim.AdamW(learning_rate=0.0, weight_decay=1e-4)


def loss_fn(m, x, y):
    return nn.losses.mse_loss(m(x), y)


grad_fn = nn.value_and_grad(model, loss_fn)

# one-off gradient audit: every parameter gets a signal
_, g0 = grad_fn(model, Xtr_m[:256], ytr_m[:256])
zero = [k for k, v in tree_flatten(g0) if float(mx.abs(v).max()) == 0.0]
log.info("grad audit: %d tensors, zero-grad tensors: %s", len(tree_flatten(g0)), zero or "none")

WARM = 40
CYCLES = [120, 240, 480, 960]
PEAK = 1e-2


def lr_at(step):
    if step < WARM:
        return PEAK * step / WARM          # step 0 -> exactly 0.0
    s = step - WARM
    peak = PEAK
    for c, L in enumerate(CYCLES):
        if s < L:
            return peak * 0.5 * (1 + math.cos(math.pi * s / L)), c + 1
        s -= L
        peak *= 0.7
    return peak * 0.05, len(CYCLES)


def evaluate():
    pred = model(Xva_m)
    mse = float(nn.losses.mse_loss(pred, yva_m))
    t_pred = np.exp(np.array(pred) * ys + ym)
    t_true = np.exp(yva)
    rel = np.abs(t_pred - t_true) / t_true
    return mse, float(np.median(np.abs(t_pred - t_true))), 100.0 * float((rel < 0.10).mean())


base_t = np.exp(np.full_like(yva, ym))
base_mae = float(np.median(np.abs(base_t - np.exp(yva))))
base_in10 = 100.0 * float((np.abs(base_t - np.exp(yva)) / np.exp(yva) < 0.10).mean())
log.info("reference: constant guess T60=%.2fs  median|err|=%.2fs  within10%%=%.1f%%",
         math.exp(ym), base_mae, base_in10)

BS = 128
step = 0
best = (float("inf"), -1, None)
bad_evals, PATIENCE = 0, 6
total = WARM + sum(CYCLES)
perm = rng.permutation(len(Xtr))
cursor = 0
run_loss = []
while step < total:
    r = lr_at(step)
    lr, cyc = (r, 0) if not isinstance(r, tuple) else r
    opt.learning_rate = lr
    if cursor + BS > len(perm):
        perm, cursor = rng.permutation(len(Xtr)), 0
    idx = mx.array(perm[cursor:cursor + BS])
    cursor += BS
    loss, grads = grad_fn(model, Xtr_m[idx], ytr_m[idx])
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state, loss)
    run_loss.append(float(loss))
    step += 1
    if step % 50 == 0:
        vmse, vmae, vin10 = evaluate()
        flag = ""
        if vmse < best[0] - 1e-4:
            snap = tree_map(lambda a: a * 1.0, model.parameters())
            mx.eval(snap)
            best = (vmse, step, snap)
            bad_evals = 0
            flag = " *"
        else:
            bad_evals += 1
        log.info("cyc %d st %4d lr %.2e | trn %.4f  val %.4f | med|err| %.2fs (ref %.2fs)  in10 %.1f%%%s",
                 cyc, step, lr, float(np.mean(run_loss)), vmse, vmae, base_mae, vin10, flag)
        run_loss = []
        if bad_evals >= PATIENCE:
            log.warning("no val gain for %d checks - stopping at step %d", PATIENCE, step)
            break

last = evaluate()
model.update(best[2])
mx.eval(model.parameters())
again = evaluate()
log.info("restore: best step %d, stored val %.4f, re-evaluated %.4f, |diff| %.2e; last-step val was %.4f",
         best[1], best[0], again[0], abs(again[0] - best[0]), last[0])
log.info("final: median|err| %.2fs vs reference %.2fs; within10%% %.1f%% vs %.1f%%",
         again[1], base_mae, again[2], base_in10)
