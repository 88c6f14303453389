"""Controlled-atmosphere apple store: unsupervised fault screening of hourly room
readings with an ENSEMBLE of small autoencoders trained side by side through
mx.vmap (parameters stacked on a leading member axis, one bootstrap minibatch
per member). Anomaly score = mean member reconstruction error + disagreement.

Log lines are RFC 5424 style syslog records.
"""
import datetime as dt
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

rng = np.random.default_rng(5424)
mx.random.seed(5424)
E = 4          # ensemble members
D = 10         # readings per hour
H = 32
K = 3          # bottleneck
NOISE = 0.15   # sensor noise sd in standardised units (before final scaling)

MIX = rng.standard_normal((3, D)) * 0.8


def rooms(n):
    # 3 hidden drivers: respiration, refrigeration load, scrubber cycle
    z = rng.standard_normal((n, 3))
    x = np.tanh(z @ MIX) + 0.5 * (z @ MIX)
    return x + NOISE * rng.standard_normal((n, D))


def faults(n):
    x = rooms(n)
    kind = rng.integers(0, 3, n)
    x[kind == 0, 1] += rng.uniform(1.2, 2.0, (kind == 0).sum())      # CO2 scrubber stuck
    x[kind == 1, 4] -= rng.uniform(1.2, 2.0, (kind == 1).sum())      # door seal leak: O2 creeps
    x[kind == 2, 7:9] += rng.uniform(0.8, 1.4, ((kind == 2).sum(), 1))  # evaporator icing
    return x


tr = rooms(6000)
va = rooms(1000)
te = np.concatenate([rooms(900), faults(100)])
te_y = np.concatenate([np.zeros(900), np.ones(100)])
m, s = tr.mean(0), tr.std(0)
tr, va, te = [(a - m) / s for a in (tr, va, te)]
Xtr, Xva, Xte = (mx.array(a.astype(np.float32)) for a in (tr, va, te))
# noise left after projecting onto a K-dim surface: (D-K)/D of the sensor noise
noise_floor = float(np.mean((NOISE / s) ** 2)) * (D - K) / D


class StackedAE(nn.Module):
    def __init__(self):
        super().__init__()
        def w(i, o):
            return mx.random.normal((E, i, o)) * math.sqrt(2.0 / i)
        self.w1, self.b1 = w(D, H), mx.zeros((E, H))
        self.w2, self.b2 = w(H, K), mx.zeros((E, K))
        self.w3, self.b3 = w(K, H), mx.zeros((E, H))
        self.w4, self.b4 = w(H, D), mx.zeros((E, D))


def member_forward(p, x):
    h = nn.silu(x @ p["w1"] + p["b1"])
    z = h @ p["w2"] + p["b2"]
    h = nn.silu(z @ p["w3"] + p["b3"])
    return h @ p["w4"] + p["b4"]


def member_mse(p, x):
    return mx.mean(mx.square(member_forward(p, x) - x))


ens_fwd = mx.vmap(member_forward, in_axes=(0, None))      # same x for all members
ens_mse_own = mx.vmap(member_mse, in_axes=(0, 0))         # own bootstrap batch each


def loss_fn(model, xb):
    per = ens_mse_own(model.parameters(), xb)
    return mx.sum(per), per   # sum: each member receives only its own gradient


model = StackedAE()
mx.eval(model.parameters())
opt = optim.SGD(learning_rate=0.05, momentum=0.9)
vg = nn.value_and_grad(model, loss_fn)


def score(X):
    r = ens_fwd(model.parameters(), X)                 # (E, N, D)
    err = mx.mean(mx.square(r - X[None]), axis=2)      # (E, N)
    sc = mx.mean(err, 0) + mx.std(err, 0)
    mx.eval(sc, err)
    return np.array(sc), np.array(err)


def auroc(sc, y):
    r = np.empty(len(sc))
    r[np.argsort(sc)] = np.arange(1, len(sc) + 1)
    n1 = y.sum(); n0 = len(y) - n1
    return float((r[y == 1].sum() - n1 * (n1 + 1) / 2) / (n1 * n0))


# PCA reference with the same bottleneck width
U, S_, Vt = np.linalg.svd(tr - 0, full_matrices=False)
P = Vt[:K]
pca_err = np.mean((te - te @ P.T @ P) ** 2, 1)
pca_auc = auroc(pca_err, te_y)

HOST = "ca-room-07"
APP = "aescreen"


def log(sev, msgid, **kv):
    pri = 16 * 8 + sev   # facility local0
    ts = dt.datetime(2026, 10, 1, tzinfo=dt.timezone.utc) + dt.timedelta(seconds=time.perf_counter() - T0)
    sd = " ".join(f'{k}="{v}"' for k, v in kv.items())
    print(f"<{pri}>1 {ts.isoformat(timespec='milliseconds')} {HOST} {APP} 337 {msgid} [run@32473 {sd}] -")


T0 = time.perf_counter()
log(6, "DATA", train=len(tr), val=len(va), test=len(te), faults=int(te_y.sum()),
    members=E, resid_noise_floor=f"{noise_floor:.4f}", pca_k3_auroc=f"{pca_auc:.3f}")

BS = 128
EPOCHS = 60
steps = len(tr) // BS
best, wait, lr = float("inf"), 0, 0.05
PATIENCE, FACTOR, MIN_LR = 3, 0.5, 2e-3

# gradient audit: every stacked leaf gets a gradient, and member 0's gradient
# depends only on member 0's batch
idx0 = mx.array(rng.integers(0, len(tr), (E, BS)))
(l0, per0), g0 = vg(model, Xtr[idx0])
nz = sum(int(float(mx.abs(v).max()) > 0) for _, v in tree_flatten(g0))
log(6, "AUDIT", leaves=len(tree_flatten(g0)), nonzero=nz,
    start_member_mse=",".join(f"{v:.3f}" for v in np.array(per0)))

for ep in range(1, EPOCHS + 1):
    tot = np.zeros(E)
    for _ in range(steps):
        idx = mx.array(rng.integers(0, len(tr), (E, BS)))     # bootstrap per member
        (l, per), g = vg(model, Xtr[idx])
        opt.update(model, g)
        mx.eval(model.parameters(), opt.state, per)
        tot += np.array(per)
    tot /= steps
    _, verr = score(Xva)
    vloss = float(verr.mean())
    if vloss < best * (1 - 0.005):
        best, wait = vloss, 0
    else:
        wait += 1
        if wait >= PATIENCE and lr > MIN_LR:
            lr *= FACTOR
            opt.learning_rate = lr
            wait = 0
            log(5, "LRDROP", epoch=ep, lr=f"{lr:.4g}", val_mse=f"{vloss:.4f}", best=f"{best:.4f}")
    if ep % 10 == 0:
        sc, _ = score(Xte)
        thr = float(np.quantile(score(Xva)[0], 0.99))
        fl = sc > thr
        log(6, "EPOCH", epoch=ep, lr=f"{lr:.4g}",
            train_mse=",".join(f"{v:.4f}" for v in tot),
            val_mse=f"{vloss:.4f}", resid_noise_floor=f"{noise_floor:.4f}",
            auroc=f"{auroc(sc, te_y):.3f}", pca_auroc=f"{pca_auc:.3f}",
            alarm_pct=f"{100 * fl[te_y == 0].mean():.1f}", catch_pct=f"{100 * fl[te_y == 1].mean():.1f}")

sc, err = score(Xte)
spread = float(np.corrcoef(err)[np.triu_indices(E, 1)].mean())
log(6, "DONE", seconds=f"{time.perf_counter() - T0:.1f}", final_auroc=f"{auroc(sc, te_y):.3f}",
    member_score_corr=f"{spread:.3f}", lr=f"{lr:.4g}")
