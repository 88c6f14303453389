"""Sailplane soaring: will a marked thermal give an average climb of at least
1.5 m/s?  Eight synthetic met / terrain readings per thermal.

No mlx.optimizers: a hand-written LAMB (Adam moments + layer-wise trust ratio
||w|| / ||update||).  Biases and LayerNorm parameters get neither weight decay
nor the trust ratio (ratio held at 1), as in the LAMB paper's setup.

Two stages:
  stage 1: batch 64, lr warms up from exactly 0, constant afterwards
  stage 2: batch 512 (large-batch phase), lr warmed up again from 0 to a
           sqrt(8)-scaled peak, then polynomial decay to 0.  This stage is
           silent until its end, where a per-layer trust-ratio table is shown.
Reports are Fortran-style namelist groups (&name key=value, ... /).
"""
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
from mlx.utils import tree_flatten, tree_unflatten

SEED = 2791
rng = np.random.default_rng(SEED)
mx.random.seed(SEED)

N_TRAIN, N_VAL = 8192, 2048


def make_thermals(n):
    lapse = rng.normal(0.8, 0.25, n)          # K per 100 m
    sun = rng.uniform(0, 1, n)                # insolation fraction
    wind = rng.gamma(2.0, 3.0, n)             # m/s
    base_km = rng.uniform(0.8, 2.8, n)        # cloud base
    dew_spread = rng.uniform(2, 18, n)
    slope_south = rng.uniform(-1, 1, n)       # terrain aspect
    hour = rng.uniform(9, 18, n)
    moist_soil = rng.uniform(0, 1, n)
    z = (2.2 * (lapse - 0.8) + 1.6 * sun - 0.11 * wind + 0.7 * (base_km - 1.8)
         + 0.05 * (dew_spread - 10) + 0.6 * slope_south * sun
         - 0.08 * (hour - 14.0) ** 2 + 0.9 - 0.8 * moist_soil
         + 0.5 * np.tanh(3 * (lapse - 0.9)) * sun)
    p = 1 / (1 + np.exp(-1.4 * z))
    y = (rng.uniform(0, 1, n) < p).astype(np.float32)
    x = np.stack([lapse, sun, wind, base_km, dew_spread, slope_south, hour, moist_soil], 1)
    return x.astype(np.float32), y, p


xtr, ytr, _ = make_thermals(N_TRAIN)
xva, yva, pva = make_thermals(N_VAL)
mu, sd = xtr.mean(0), xtr.std(0)
xtr, xva = (xtr - mu) / sd, (xva - mu) / sd


def bits(p, y):
    p = np.clip(p, 1e-7, 1 - 1e-7)
    return float(-np.mean(y * np.log2(p) + (1 - y) * np.log2(1 - p)))


def auc(score, y):
    order = np.argsort(score)
    ranks = np.empty(len(score))
    ranks[order] = np.arange(1, len(score) + 1)
    pos = y == 1
    return float((ranks[pos].sum() - pos.sum() * (pos.sum() + 1) / 2) / (pos.sum() * (~pos).sum()))


base_rate = ytr.mean()
prior_bits = bits(np.full_like(yva, base_rate), yva)
oracle_bits = bits(pva, yva)
# logistic regression reference (numpy, full batch gradient descent)
w_lr = np.zeros(xtr.shape[1]); b_lr = 0.0
for _ in range(400):
    q = 1 / (1 + np.exp(-(xtr @ w_lr + b_lr)))
    w_lr -= 0.5 * xtr.T @ (q - ytr) / N_TRAIN
    b_lr -= 0.5 * float(np.mean(q - ytr))
q_lr = 1 / (1 + np.exp(-(xva @ w_lr + b_lr)))
logreg_bits, logreg_auc = bits(q_lr, yva), auc(q_lr, yva)


class ThermalNet(nn.Module):
    def __init__(self, width=96):
        super().__init__()
        self.l1 = nn.Linear(8, width)
        self.n1 = nn.LayerNorm(width)
        self.l2 = nn.Linear(width, width)
        self.n2 = nn.LayerNorm(width)
        self.l3 = nn.Linear(width, width // 2)
        self.head = nn.Linear(width // 2, 1)

    def __call__(self, x):
        h = nn.silu(self.n1(self.l1(x)))
        h = nn.silu(self.n2(self.l2(h)))
        h = nn.silu(self.l3(h))
        return self.head(h).squeeze(-1)


model = ThermalNet()
mx.eval(model.parameters())


def adapted(path, leaf):
    # weight matrices get decay and the trust ratio; biases / LayerNorm do not
    return leaf.ndim == 2


class LAMB:
    def __init__(self, betas=(0.9, 0.999), eps=1e-6, weight_decay=0.01):
        self.b1, self.b2 = betas
        self.eps, self.wd = eps, weight_decay
        self.m, self.v = {}, {}
        self.t = 0
        self.last_ratio = {}

    def arrays(self):
        return list(self.m.values()) + list(self.v.values())

    def step(self, model, grads, lr):
        self.t += 1
        params = dict(tree_flatten(model.trainable_parameters()))
        new = []
        c1 = 1 - self.b1 ** self.t
        c2 = 1 - self.b2 ** self.t
        for k, g in tree_flatten(grads):
            w = params[k]
            m = self.m.get(k, mx.zeros_like(w))
            v = self.v.get(k, mx.zeros_like(w))
            m = self.b1 * m + (1 - self.b1) * g
            v = self.b2 * v + (1 - self.b2) * g * g
            self.m[k], self.v[k] = m, v
            u = (m / c1) / (mx.sqrt(v / c2) + self.eps)
            if adapted(k, w):
                u = u + self.wd * w
                wn = mx.linalg.norm(w)
                un = mx.linalg.norm(u)
                ratio = mx.where((wn > 0) & (un > 0), wn / un, mx.array(1.0))
            else:
                ratio = mx.array(1.0)
            self.last_ratio[k] = ratio
            new.append((k, w - lr * ratio * u))
        model.update(tree_unflatten(new))


def loss_fn(m, x, y):
    return nn.losses.binary_cross_entropy(m(x), y, with_logits=True, reduction="mean")


loss_and_grad = nn.value_and_grad(model, loss_fn)
Xtr, Ytr, Xva = mx.array(xtr), mx.array(ytr), mx.array(xva)


def namelist(group, **kv):
    body = ", ".join(f"{k}={v}" for k, v in kv.items())
    print(f"&{group} {body} /")


def evaluate():
    logit = np.array(model(Xva))
    p = 1 / (1 + np.exp(-logit))
    return bits(p, yva), auc(p, yva), float(np.mean((p > 0.5) == (yva == 1))) * 100


namelist("data", n_train=N_TRAIN, n_val=N_VAL, base_rate=f"{base_rate:.3f}",
         prior_bits=f"{prior_bits:.4f}", logreg_bits=f"{logreg_bits:.4f}",
         logreg_auc=f"{logreg_auc:.4f}", oracle_bits=f"{oracle_bits:.4f}")

opt = LAMB(betas=(0.9, 0.999), eps=1e-6, weight_decay=0.01)

# gradient audit on one batch (no update)
_, g0 = loss_and_grad(model, Xtr[:64], Ytr[:64])
zero = [k for k, v in tree_flatten(g0) if float(mx.abs(v).max()) == 0.0]
n_adapt = sum(1 for k, v in tree_flatten(model.parameters()) if adapted(k, v))
namelist("gradcheck", leaves=len(tree_flatten(g0)), adapted_leaves=n_adapt,
         zero_grad_leaves=repr(",".join(zero) or "none"))
if zero:
    raise SystemExit(1)

vb, va, vacc = evaluate()
namelist("report", stage=0, epoch=0, step=0, lr="0.0", train_bits="'-'",
         val_bits=f"{vb:.4f}", val_auc=f"{va:.4f}", val_acc_pct=f"{vacc:.1f}")

LN2 = math.log(2)
t0 = time.perf_counter()
step = 0

# ---- stage 1: small batches
B1, EP1, PEAK1, WARM1 = 64, 6, 2e-3, 128
spe1 = N_TRAIN // B1
for epoch in range(1, EP1 + 1):
    perm = mx.array(rng.permutation(N_TRAIN).astype(np.int32))
    tot = 0.0
    for i in range(spe1):
        lr = PEAK1 * min(step / WARM1, 1.0)     # step 0 -> lr exactly 0
        idx = perm[i * B1:(i + 1) * B1]
        loss, g = loss_and_grad(model, Xtr[idx], Ytr[idx])
        opt.step(model, g, lr)
        mx.eval(model.parameters(), opt.arrays(), loss)
        tot += float(loss)
        step += 1
    vb, va, vacc = evaluate()
    namelist("report", stage=1, epoch=epoch, step=step, lr=f"{lr:.2e}",
             train_bits=f"{tot / spe1 / LN2:.4f}", val_bits=f"{vb:.4f}",
             val_auc=f"{va:.4f}", val_acc_pct=f"{vacc:.1f}",
             secs=f"{time.perf_counter() - t0:.1f}")

# ---- stage 2: large batches, silent until the end
B2, EP2, WARM2 = 512, 8, 24
PEAK2 = PEAK1 * math.sqrt(B2 / B1)
spe2 = N_TRAIN // B2
total2 = EP2 * spe2
s2 = 0
hist = []
for epoch in range(1, EP2 + 1):
    perm = mx.array(rng.permutation(N_TRAIN).astype(np.int32))
    tot = 0.0
    for i in range(spe2):
        if s2 < WARM2:
            lr = PEAK2 * s2 / WARM2
        else:
            lr = PEAK2 * (1 - (s2 - WARM2) / (total2 - WARM2)) ** 2
        idx = perm[i * B2:(i + 1) * B2]
        loss, g = loss_and_grad(model, Xtr[idx], Ytr[idx])
        opt.step(model, g, lr)
        mx.eval(model.parameters(), opt.arrays(), loss)
        tot += float(loss)
        step += 1
        s2 += 1
    hist.append(tot / spe2 / LN2)

vb, va, vacc = evaluate()
namelist("report", stage=2, epoch=EP1 + EP2, step=step, lr=f"{lr:.2e}",
         train_bits=f"{hist[-1]:.4f}", val_bits=f"{vb:.4f}", val_auc=f"{va:.4f}",
         val_acc_pct=f"{vacc:.1f}", secs=f"{time.perf_counter() - t0:.1f}")
namelist("stage2_train_bits", per_epoch="(" + ", ".join(f"{h:.4f}" for h in hist) + ")")
for k, r in opt.last_ratio.items():
    w = dict(tree_flatten(model.parameters()))[k]
    namelist("trust", leaf=repr(k), adapted=".true." if adapted(k, w) else ".false.",
             ratio=f"{float(r):.4f}", weight_norm=f"{float(mx.linalg.norm(w)):.3f}")
namelist("done", steps=step, val_bits=f"{vb:.4f}", oracle_bits=f"{oracle_bits:.4f}",
         logreg_bits=f"{logreg_bits:.4f}", val_auc=f"{va:.4f}", logreg_auc=f"{logreg_auc:.4f}")
