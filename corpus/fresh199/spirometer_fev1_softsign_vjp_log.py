"""Spirometry clinic: predict FEV1 (litres) from a few intake measurements.

Two stages: a never-smoker, sea-level cohort first, then the full clinic
population (smokers, altitude residents) is mixed in.  The MLP uses a softsign
activation with a hand-written VJP; every few hundred steps the custom gradient
is audited against plain autodiff.
"""
import logging
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s spiro: %(message)s",
                    datefmt="%H:%M:%S")
log = logging.getLogger("spiro")

rng = np.random.default_rng(2417)
mx.random.seed(2417)


def make_cohort(n, smokers_allowed):
    age = rng.uniform(20, 80, n)
    height = rng.normal(171, 9, n)
    male = (rng.random(n) < 0.5).astype(np.float64)
    height = height - 8 * (1 - male)
    bmi = rng.normal(26, 4, n).clip(16, 45)
    if smokers_allowed:
        packs = np.where(rng.random(n) < 0.4, rng.gamma(2.0, 12.0, n), 0.0)
        alt_km = np.where(rng.random(n) < 0.25, rng.uniform(1.0, 3.2, n), rng.uniform(0, 0.3, n))
    else:
        packs = np.zeros(n)
        alt_km = rng.uniform(0, 0.3, n)
    fev1 = np.where(male > 0,
                    0.043 * height - 0.029 * age - 2.49,
                    0.0395 * height - 0.025 * age - 2.60)
    fev1 = fev1 - 0.011 * packs - 0.0002 * packs ** 2 \
        - 0.018 * np.maximum(bmi - 30, 0) + 0.09 * alt_km * (age < 50)
    fev1 = fev1 + rng.normal(0, 0.22, n)
    X = np.stack([age, height, male, bmi, packs, alt_km], 1)
    return X, fev1.clip(0.4, None)


Xa, ya = make_cohort(3000, smokers_allowed=False)
Xb, yb = make_cohort(5000, smokers_allowed=True)
Xv, yv = make_cohort(1500, smokers_allowed=True)
mu, sd = Xb.mean(0), Xb.std(0) + 1e-6


def prep(X, y):
    return mx.array(((X - mu) / sd).astype(np.float32)), mx.array(y.astype(np.float32))


Xa_m, ya_m = prep(Xa, ya)
Xb_m, yb_m = prep(Xb, yb)
Xv_m, yv_m = prep(Xv, yv)
# reference equation (sex/age/height only, no smoking) printed beside the model
ref_v = np.where(Xv[:, 2] > 0, 0.043 * Xv[:, 1] - 0.029 * Xv[:, 0] - 2.49,
                 0.0395 * Xv[:, 1] - 0.025 * Xv[:, 0] - 2.60)
ref_mae_ml = float(np.abs(ref_v - yv).mean() * 1000)


@mx.custom_function
def softsign(x):
    return x / (1 + mx.abs(x))


@softsign.vjp
def softsign_vjp(primals, cotangent, output):
    x = primals[0] if isinstance(primals, (tuple, list)) else primals
    d = 1 + mx.abs(x)
    return cotangent / (d * d)


def softsign_plain(x):
    return x / (1 + mx.abs(x))


class FEV1Net(nn.Module):
    def __init__(self, act=softsign):
        super().__init__()
        self.l1 = nn.Linear(6, 48)
        self.l2 = nn.Linear(48, 48)
        self.out = nn.Linear(48, 1)
        self.act = act

    def __call__(self, x):
        h = self.act(self.l1(x))
        h = self.act(self.l2(h))
        return self.out(h).squeeze(-1) + 3.0


model = FEV1Net()
mx.eval(model.parameters())


def loss_fn(m, x, y):
    return nn.losses.huber_loss(m(x), y, delta=0.5, reduction="mean")


loss_and_grad = nn.value_and_grad(model, loss_fn)

peak_lr = 0.03
warm = 150
opt = optim.SGD(learning_rate=0.0, momentum=0.9, nesterov=True)


def audit(x, y):
    plain = FEV1Net(act=softsign_plain)
    plain.update(model.parameters())
    _, g_auto = nn.value_and_grad(plain, loss_fn)(plain, x, y)
    _, g_cust = loss_and_grad(model, x, y)
    fa, fc = dict(tree_flatten(g_auto)), dict(tree_flatten(g_cust))
    diff = max(float(mx.abs(fa[k] - fc[k]).max()) for k in fa)
    gnorm = float(mx.sqrt(sum((v * v).sum() for v in fc.values())))
    zero = [k for k, v in fc.items() if float(mx.abs(v).max()) == 0.0]
    return diff, gnorm, zero


def val_mae_ml():
    return float(mx.abs(model(Xv_m) - yv_m).mean()) * 1000


stages = [("never-smokers@sea-level", Xa_m, ya_m, 900),
          ("full-clinic", mx.concatenate([Xa_m, Xb_m]), mx.concatenate([ya_m, yb_m]), 1500)]
bs = 64
global_step = 0
t0 = time.time()
log.info("reference-equation MAE on validation: %.0f mL (no smoking/altitude terms)", ref_mae_ml)
for sname, X, Y, nsteps in stages:
    n = X.shape[0]
    perm = mx.array(rng.permutation(n))
    ptr = 0
    running = []
    for step in range(nsteps):
        lr = peak_lr * min(1.0, global_step / warm)
        opt.learning_rate = lr
        if ptr + bs > n:
            perm = mx.array(rng.permutation(n))
            ptr = 0
        idx = perm[ptr:ptr + bs]
        ptr += bs
        loss, grads = loss_and_grad(model, X[idx], Y[idx])
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        running.append(loss.item())
        global_step += 1
        if step % 300 == 0:
            d, gn, zero = audit(X[:256], Y[:256])
            log.info("audit stage=%s step=%d vjp max|custom-auto|=%.2e grad_norm=%.4f zero_grad_tensors=%d",
                     sname, step, d, gn, len(zero))
        if step % 100 == 0 or step == nsteps - 1:
            log.info("stage=%s step=%d lr=%.4f huber=%.4f val_mae=%.0f mL (ref %.0f mL)",
                     sname, step, lr, float(np.mean(running)), val_mae_ml(), ref_mae_ml)
            running = []

final = val_mae_ml()
log.info("done in %.1fs: val MAE %.0f mL vs reference equation %.0f mL (%.0f%% of reference)",
         time.time() - t0, final, ref_mae_ml, 100 * final / ref_mae_ml)
