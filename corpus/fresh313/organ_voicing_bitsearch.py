"""Organ-pipe voicing bench: per-layer bit-width search, then locked-width fine-tuning.

Target: the pitch offset in cents of a flue pipe after voicing, from 8 synthetic
bench measurements.  The regressor is an MLP whose three hidden layers are
SearchLinear layers: each holds float latent weights plus logits over the
candidate bit-widths {2, 3, 4, 8}.  During the SEARCH phase the forward pass
uses the softmax(logits / T) mixture of the fake-quantised weights (symmetric
per-row, straight-through rounding) and the objective adds lam * expected bits,
with lam ramped up and T annealed down, so the objective goes UP while the
chosen bit-widths come down.  In the LOCKED phase the arg-max width is kept,
the logits are frozen, and the weights are fine-tuned with a fresh optimizer
(warm-up from exactly 0).  Reports are YAML documents on stdout.
"""
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

SEED = 11
np.random.seed(SEED)
mx.random.seed(SEED)
BITS = [2, 3, 4, 8]

# ---------------------------------------------------------------- data
rng = np.random.default_rng(SEED)
N_TRAIN, N_VAL = 6000, 1500


def bench(n):
    length = rng.uniform(0.3, 2.4, n)          # speaking length, m
    scale = rng.uniform(0.05, 0.16, n)         # diameter / length
    mouth = rng.uniform(0.18, 0.30, n)         # mouth width ratio
    cutup = rng.uniform(0.20, 0.40, n)         # cut-up ratio
    wind = rng.uniform(60, 110, n)             # wind pressure, mm water
    temp = rng.uniform(12, 24, n)              # chamber temperature, C
    nick = rng.integers(0, 12, n).astype(float)  # number of nicks
    toe = rng.uniform(3, 9, n)                 # toe bore, mm
    cents = (
        8.0 * np.log(wind / 80.0) * 12
        + 3.0 * (temp - 18.0)
        - 40.0 * (scale - 0.1) / 0.05 * np.tanh(length)
        + 25.0 * np.sin(3.0 * cutup / 0.3) * mouth / 0.24
        - 1.2 * nick
        + 2.0 * (toe - 6.0) * (wind / 80.0)
        + rng.normal(0, 2.5, n)
    )
    X = np.stack([length, scale, mouth, cutup, wind, temp, nick, toe], 1)
    return X, cents


Xtr, ytr = bench(N_TRAIN)
Xva, yva = bench(N_VAL)
mu, sd = Xtr.mean(0), Xtr.std(0)
ym, ys = ytr.mean(), ytr.std()
Xtr_m = mx.array(((Xtr - mu) / sd).astype(np.float32))
Xva_m = mx.array(((Xva - mu) / sd).astype(np.float32))
ytr_m = mx.array(((ytr - ym) / ys).astype(np.float32))
yva_np = yva


# ---------------------------------------------------------------- model
def fake_quant(w, bits):
    qmax = 2 ** (bits - 1) - 1
    s = mx.maximum(mx.max(mx.abs(w), axis=1, keepdims=True), 1e-8) / qmax
    q = mx.clip(mx.round(w / s), -qmax, qmax) * s
    return w + mx.stop_gradient(q - w)


class SearchLinear(nn.Module):
    def __init__(self, din, dout):
        super().__init__()
        lim = math.sqrt(6.0 / (din + dout))
        self.weight = mx.random.uniform(-lim, lim, (dout, din))
        self.bias = mx.zeros((dout,))
        self.alpha = mx.zeros((len(BITS),))
        self.temperature = 5.0
        self.locked = None

    def probs(self):
        return mx.softmax(self.alpha / self.temperature)

    def expected_bits(self):
        return mx.sum(self.probs() * mx.array(BITS, dtype=mx.float32))

    def __call__(self, x):
        if self.locked is not None:
            w = fake_quant(self.weight, self.locked)
        else:
            p = self.probs()
            w = sum(p[i] * fake_quant(self.weight, b) for i, b in enumerate(BITS))
        return x @ w.T + self.bias


class VoicingNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = SearchLinear(8, 96)
        self.l2 = SearchLinear(96, 96)
        self.l3 = SearchLinear(96, 48)
        self.out = nn.Linear(48, 1)

    def searchable(self):
        return [self.l1, self.l2, self.l3]

    def __call__(self, x):
        x = nn.silu(self.l1(x))
        x = nn.silu(self.l2(x))
        x = nn.silu(self.l3(x))
        return self.out(x).squeeze(-1)

    def avg_bits(self):
        sizes = [l.weight.size for l in self.searchable()]
        tot = sum(sizes)
        return sum(l.expected_bits() * (s / tot) for l, s in zip(self.searchable(), sizes))


model = VoicingNet()
mx.eval(model.parameters())


def objective(model, x, y, lam):
    mse = mx.mean((model(x) - y) ** 2)
    return mse + lam * model.avg_bits(), mse


grad_fn = nn.value_and_grad(model, objective)


def val_rmse_cents():
    pred = np.array(model(Xva_m)) * ys + ym
    return float(np.sqrt(np.mean((pred - yva_np) ** 2)))


def report(**kv):
    print("---")
    for k, v in kv.items():
        print(f"{k}: {v}")


mean_rmse = float(np.sqrt(np.mean((yva_np - ym) ** 2)))
report(event="data", train=N_TRAIN, val=N_VAL, bench_noise_cents=2.5,
       predict_mean_rmse_cents=round(mean_rmse, 2), candidate_bits=BITS)

BATCH = 128
SEARCH_EPOCHS, TUNE_EPOCHS = 14, 10
steps_per_epoch = N_TRAIN // BATCH
search_steps = SEARCH_EPOCHS * steps_per_epoch

# two optimizers in the search phase: weights and bit logits
w_opt = optim.Adam(learning_rate=2e-3)
a_opt = optim.Adam(learning_rate=5e-2)


def split_grads(g):
    a = {k: {"alpha": v["alpha"]} for k, v in g.items() if k != "out"}
    w = {k: ({kk: vv for kk, vv in v.items() if kk != "alpha"} if k != "out" else v) for k, v in g.items()}
    return w, a


t0 = time.time()
step = 0
for epoch in range(1, SEARCH_EPOCHS + 1):
    perm = np.random.permutation(N_TRAIN)
    objs, mses = [], []
    for b in range(steps_per_epoch):
        frac = step / search_steps
        lam = 0.004 * min(1.0, frac / 0.6)
        T = 5.0 * (0.2 / 5.0) ** frac
        for l in model.searchable():
            l.temperature = T
        idx = mx.array(perm[b * BATCH:(b + 1) * BATCH])
        (obj, mse), g = grad_fn(model, Xtr_m[idx], ytr_m[idx], lam)
        if step == 0:
            flat = tree_flatten(g)
            nz = [k for k, v in flat if float(mx.abs(v).sum().item()) > 0]
            report(event="grad_check", leaves=len(flat), nonzero=len(nz))
        wg, ag = split_grads(g)
        w_opt.update(model, wg)
        a_opt.update(model, ag)
        mx.eval(model.parameters(), w_opt.state, a_opt.state, obj)
        objs.append(obj.item())
        mses.append(mse.item())
        step += 1
    if epoch % 2 == 0:
        report(phase="search", epoch=epoch, lam=round(lam, 5), temperature=round(T, 3),
               objective=round(float(np.mean(objs)), 4), scaled_mse=round(float(np.mean(mses)), 4),
               expected_avg_bits=round(model.avg_bits().item(), 3),
               val_rmse_cents=round(val_rmse_cents(), 3),
               layer_probs=[[round(float(p), 2) for p in np.array(l.probs())] for l in model.searchable()],
               secs=round(time.time() - t0, 1))

# ---------------------------------------------------------------- locked widths
chosen = []
for l in model.searchable():
    l.locked = BITS[int(mx.argmax(l.alpha).item())]
    chosen.append(l.locked)
model.freeze(keys=["alpha"])
alpha_before = [np.array(l.alpha) for l in model.searchable()]
sizes = [l.weight.size for l in model.searchable()]
avg_locked = sum(b * s for b, s in zip(chosen, sizes)) / sum(sizes)
report(event="widths_locked", bits=chosen, avg_bits=round(avg_locked, 3),
       val_rmse_cents_right_after=round(val_rmse_cents(), 3),
       trainable_leaves=len(tree_flatten(model.trainable_parameters())))

tune_steps = TUNE_EPOCHS * steps_per_epoch
WARM = 60
ft_opt = optim.Adam(learning_rate=optim.join_schedules(
    [optim.linear_schedule(0.0, 1e-3, WARM), optim.cosine_decay(1e-3, tune_steps - WARM, end=1e-5)], [WARM]))

for epoch in range(1, TUNE_EPOCHS + 1):
    perm = np.random.permutation(N_TRAIN)
    mses = []
    for b in range(steps_per_epoch):
        idx = mx.array(perm[b * BATCH:(b + 1) * BATCH])
        (obj, mse), g = grad_fn(model, Xtr_m[idx], ytr_m[idx], 0.0)
        ft_opt.update(model, g)
        mx.eval(model.parameters(), ft_opt.state, mse)
        mses.append(mse.item())
    report(phase="locked", epoch=epoch, lr=f"{ft_opt.learning_rate.item():.2e}",
           scaled_mse=round(float(np.mean(mses)), 4), val_rmse_cents=round(val_rmse_cents(), 3),
           predict_mean_rmse_cents=round(mean_rmse, 2), secs=round(time.time() - t0, 1))

drift = max(float(np.abs(np.array(l.alpha) - a).max()) for l, a in zip(model.searchable(), alpha_before))
report(event="done", bits=chosen, avg_bits=round(avg_locked, 3), alpha_drift_after_freeze=drift,
       val_rmse_cents=round(val_rmse_cents(), 3), noise_floor_cents=2.5,
       predict_mean_rmse_cents=round(mean_rmse, 2))
