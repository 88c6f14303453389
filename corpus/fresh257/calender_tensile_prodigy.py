"""Paper machine: predict the tensile index of a finished sheet (N*m/g)
from seven stock and machine readings.

The optimizer is a hand-written Prodigy (learning-rate-free Adam): the step
size d starts at 1e-6 and is estimated on the fly, so the first few dozen
steps barely move the weights.  On top of that a multiplier schedule
(linear warm-up from 0, then cosine) built with mlx.optimizers schedules.
"""

import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

rng = np.random.default_rng(2571)
mx.random.seed(2571)

FEATURES = ["freeness", "fibre_len", "refining_kwh", "filler_pct",
            "press_load", "basis_weight", "speed"]


def make_sheets(n):
    freeness = rng.normal(450, 80, n)          # CSF ml
    fibre = rng.normal(2.2, 0.35, n)           # mm
    refining = rng.gamma(4.0, 25.0, n)         # kWh/t
    filler = rng.uniform(5, 25, n)             # %
    press = rng.normal(90, 12, n)              # kN/m
    basis = rng.normal(80, 10, n)              # g/m2
    speed = rng.normal(900, 120, n)            # m/min
    tensile = (
        62.0
        + 9.0 * np.tanh((refining - 100) / 60)
        - 0.035 * (freeness - 450)
        + 5.5 * (fibre - 2.2)
        - 0.55 * (filler - 15)
        + 0.09 * (press - 90)
        - 0.004 * (speed - 900)
        + 0.02 * (basis - 80) * (fibre - 2.2) * 4
        - 0.00004 * (refining - 100) ** 2
    )
    tensile = tensile + rng.normal(0, 1.5, n)   # lab scatter
    X = np.stack([freeness, fibre, refining, filler, press, basis, speed], 1)
    return X.astype(np.float32), tensile.astype(np.float32)


Xtr, ytr = make_sheets(8000)
Xva, yva = make_sheets(2000)
mu, sd = Xtr.mean(0), Xtr.std(0)
ymu, ysd = float(ytr.mean()), float(ytr.std())
Xtr_m = mx.array((Xtr - mu) / sd)
Xva_m = mx.array((Xva - mu) / sd)
ytr_m = mx.array((ytr - ymu) / ysd)
yva_np = yva


class TensileNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(7, 64)
        self.l2 = nn.Linear(64, 64)
        self.out = nn.Linear(64, 1)

    def __call__(self, x):
        h = nn.silu(self.l1(x))
        h = nn.silu(self.l2(h))
        return self.out(h).squeeze(-1)


def loss_fn(model, x, y):
    return nn.losses.mse_loss(model(x), y)


class Prodigy:
    """Prodigy-Adam (Mishchenko & Defazio), one global step-size estimate d.

    lr is a multiplier (1.0 by convention) and may be a schedule."""

    def __init__(self, lr, betas=(0.9, 0.999), eps=1e-8, d0=1e-6,
                 weight_decay=0.0):
        self.lr = lr
        self.b1, self.b2 = betas
        self.b3 = math.sqrt(self.b2)
        self.eps = eps
        self.d0 = d0
        self.wd = weight_decay
        self.state = None

    def init(self, params):
        leaves = tree_flatten(params)
        self.keys = [k for k, _ in leaves]
        self.state = {
            "step": mx.array(0, mx.int32),
            "d": mx.array(self.d0, mx.float32),
            "d_num": mx.array(0.0, mx.float32),
            "p0": [mx.array(v) for _, v in leaves],
            "s": [mx.zeros_like(v) for _, v in leaves],
            "m": [mx.zeros_like(v) for _, v in leaves],
            "v": [mx.zeros_like(v) for _, v in leaves],
        }

    def multiplier(self):
        lr = self.lr
        return lr(self.state["step"]) if callable(lr) else mx.array(lr)

    def update(self, model, grads):
        if self.state is None:
            self.init(model.trainable_parameters())
        st = self.state
        params = [v for _, v in tree_flatten(model.trainable_parameters())]
        gs = [v for _, v in tree_flatten(grads)]
        d = st["d"]
        lr = self.multiplier()
        dlr = d * lr
        ratio = d / self.d0
        d_num = st["d_num"] * self.b3
        d_den = mx.array(0.0)
        new_m, new_v, new_s = [], [], []
        for g, p, p0, s, m, v in zip(gs, params, st["p0"], st["s"],
                                     st["m"], st["v"]):
            m = self.b1 * m + d * (1 - self.b1) * g
            v = self.b2 * v + d * d * (1 - self.b2) * g * g
            d_num = d_num + ratio * dlr * mx.sum(g * (p0 - p))
            s = self.b3 * s + ratio * dlr * g
            d_den = d_den + mx.sum(mx.abs(s))
            new_m.append(m)
            new_v.append(v)
            new_s.append(s)
        d_hat = mx.where(d_den > 0, d_num / mx.maximum(d_den, 1e-30), 0.0)
        d_new = mx.maximum(d, d_hat)
        new_p = []
        for p, m, v in zip(params, new_m, new_v):
            if self.wd:
                p = p - self.wd * dlr * p
            p = p - dlr * m / (mx.sqrt(v) + d_new * self.eps)
            new_p.append(p)
        st.update(d=d_new, d_num=d_num, m=new_m, v=new_v, s=new_s,
                  step=st["step"] + 1)
        model.update(tree_unflatten(list(zip(self.keys, new_p))))
        return dlr


TOTAL = 1600
WARM = 120
mult = optim.join_schedules(
    [optim.linear_schedule(0.0, 1.0, WARM),
     optim.cosine_decay(1.0, TOTAL - WARM, 0.05)],
    [WARM],
)

model = TensileNet()
mx.eval(model.parameters())
opt = Prodigy(mult, weight_decay=1e-4)
opt.init(model.trainable_parameters())
loss_and_grad = nn.value_and_grad(model, loss_fn)


def valid_report():
    pred = np.array(model(Xva_m)) * ysd + ymu
    err = np.abs(pred - yva_np)
    return float(np.sqrt(np.mean(err ** 2))), float(np.percentile(err, 90))


# gradient audit on one batch before anything moves
_, g0 = loss_and_grad(model, Xtr_m[:256], ytr_m[:256])
flat = tree_flatten(g0)
dead = [k for k, v in flat if float(mx.abs(v).max()) == 0.0]
print(f"audit | {len(flat)} gradient leaves | all-zero leaves: {dead or 'none'}")

base_rmse = float(np.sqrt(np.mean((ytr.mean() - yva_np) ** 2)))
print(f"audit | mean-predictor valid RMSE {base_rmse:.2f} N*m/g | lab scatter 1.50 N*m/g")

r0, p0 = valid_report()
print(f"tensile | step 0000 | mult 0.000 | d {1e-6:.2e} | eff_lr 0.0e+00 | "
      f"train  -     | valid rmse {r0:6.2f} N*m/g | p90 |err| {p0:5.2f}")

report_at = {1, 10, 25, 50, 100, 200, 400, 800, 1200, TOTAL}
batch = 128
perm = rng.permutation(len(Xtr))
cursor = 0
window = []
t0 = time.time()
for step in range(1, TOTAL + 1):
    if cursor + batch > len(perm):
        perm = rng.permutation(len(Xtr))
        cursor = 0
    idx = mx.array(perm[cursor:cursor + batch])
    cursor += batch
    loss, grads = loss_and_grad(model, Xtr_m[idx], ytr_m[idx])
    dlr = opt.update(model, grads)
    mx.eval(model.parameters(), opt.state, loss)
    window.append(float(loss))
    if step in report_at:
        rmse, p90 = valid_report()
        tr = sum(window[-50:]) / len(window[-50:])
        print(f"tensile | step {step:04d} | mult {float(mult(mx.array(step - 1))):.3f} | "
              f"d {float(opt.state['d']):.2e} | eff_lr {float(dlr):.1e} | "
              f"train {tr:6.4f} | valid rmse {rmse:6.2f} N*m/g | p90 |err| {p90:5.2f}")

rmse, p90 = valid_report()
print(f"done | {TOTAL} steps in {time.time() - t0:.1f}s | final d {float(opt.state['d']):.3e} | "
      f"valid rmse {rmse:.2f} vs mean-predictor {base_rmse:.2f} N*m/g")
