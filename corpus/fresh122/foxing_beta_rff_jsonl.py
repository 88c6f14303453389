"""Archive conservation: predict the FRACTION of a book page covered by foxing
(brown age spots) from storage records, with a Beta-regression head.

The input goes through a fixed random-Fourier-feature layer (frozen on purpose:
it is a random kernel approximation, not something we want to learn), then a
small trainable MLP predicts the Beta mean (logit) and the log-precision.

The loss is the Beta negative log-likelihood in nats. Densities on (0,1) can be
far above 1, so a good model has a NEGATIVE NLL. Reports are JSON lines.
"""
import json
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

rng = np.random.default_rng(11)


def make_pages(n):
    rh = rng.uniform(30, 85, n)              # mean relative humidity %
    temp = rng.uniform(8, 28, n)             # storage temperature C
    ph = rng.uniform(4.0, 7.5, n)            # paper pH
    years = rng.uniform(5, 250, n)           # years in storage
    light = rng.exponential(1.0, n)          # relative light exposure
    rag = (rng.random(n) < 0.35).astype(np.float64)  # rag paper vs wood pulp
    logit = (-3.0 + 0.06 * (rh - 55) + 0.05 * (temp - 18) - 0.7 * (ph - 5.8)
             + 0.9 * np.log(years / 60) + 0.25 * light - 0.8 * rag
             + 0.4 * np.sin(0.12 * (rh - 30)) * (ph < 5.5))
    mu = 1 / (1 + np.exp(-logit))
    phi = np.where(rag > 0, 60.0, 25.0)
    y = rng.beta(mu * phi, (1 - mu) * phi)
    y = np.clip(y, 1e-4, 1 - 1e-4)
    x = np.stack([rh, temp, ph, np.log(years), light, rag], axis=1)
    return x.astype(np.float32), y.astype(np.float32)


x_tr, y_tr = make_pages(12000)
x_va, y_va = make_pages(2000)
mean, sd = x_tr.mean(0), x_tr.std(0)
x_tr = (x_tr - mean) / sd
x_va = (x_va - mean) / sd
X_tr, Y_tr = mx.array(x_tr), mx.array(y_tr)
X_va, Y_va = mx.array(x_va), mx.array(y_va)


def lgamma(z):
    """log Gamma for z > 0: shift by 6 with the recurrence, then Stirling."""
    shift = mx.log(z * (z + 1) * (z + 2) * (z + 3) * (z + 4) * (z + 5))
    w = z + 6
    st = ((w - 0.5) * mx.log(w) - w + 0.5 * math.log(2 * math.pi)
          + 1 / (12 * w) - 1 / (360 * w ** 3) + 1 / (1260 * w ** 5))
    return st - shift


class RandomFourier(nn.Module):
    def __init__(self, d_in, d_out, scale=1.0):
        super().__init__()
        self.proj = nn.Linear(d_in, d_out)
        self.proj.weight = mx.random.normal((d_out, d_in)) * scale
        self.proj.bias = mx.random.uniform(0, 2 * math.pi, (d_out,))
        self.d_out = d_out

    def __call__(self, x):
        return math.sqrt(2.0 / self.d_out) * mx.cos(self.proj(x)) * 4.0


class FoxingNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.rff = RandomFourier(6, 96, scale=0.7)
        self.skip = nn.Linear(6, 32)
        self.hidden = nn.Linear(96, 32)
        self.mean_head = nn.Linear(32, 1)
        self.prec_head = nn.Linear(32, 1)

    def __call__(self, x):
        h = nn.silu(self.hidden(self.rff(x)) + self.skip(x))
        m_logit = self.mean_head(h).squeeze(-1)
        log_phi = mx.clip(self.prec_head(h).squeeze(-1) + 2.5, -1.0, 6.0)
        return m_logit, log_phi


def beta_nll(model, x, y):
    m_logit, log_phi = model(x)
    mu = mx.sigmoid(m_logit)
    phi = mx.exp(log_phi)
    a = mu * phi + 1e-4
    b = (1 - mu) * phi + 1e-4
    logpdf = (lgamma(a + b) - lgamma(a) - lgamma(b)
              + (a - 1) * mx.log(y) + (b - 1) * mx.log1p(-y))
    return -mx.mean(logpdf)


mx.random.seed(3)
model = FoxingNet()
model.rff.freeze()
mx.eval(model.parameters())
rff_before = np.array(model.rff.proj.weight)

steps, batch = 2400, 128
schedule = optim.join_schedules(
    [optim.linear_schedule(0.0, 2e-3, 200), optim.cosine_decay(2e-3, steps - 200, 2e-5)],
    [200])
opt = optim.Adam(learning_rate=schedule)
loss_and_grad = nn.value_and_grad(model, beta_nll)


def emit(**kw):
    print(json.dumps(kw, sort_keys=True), flush=True)


def validate():
    nll = beta_nll(model, X_va, Y_va)
    m_logit, _ = model(X_va)
    mae = mx.mean(mx.abs(mx.sigmoid(m_logit) - Y_va)) * 100
    return nll.item(), mae.item()


n_tr = len(y_tr)
n_trainable = len(tree_flatten(model.trainable_parameters()))
n_frozen = len(tree_flatten(model.parameters())) - n_trainable
# predict-the-mean baseline: a single Beta fitted by moments
m0, v0 = float(y_tr.mean()), float(y_tr.var())
phi0 = m0 * (1 - m0) / v0 - 1
base = float(-mx.mean(
    lgamma(mx.array(phi0)) - lgamma(mx.array(m0 * phi0)) - lgamma(mx.array((1 - m0) * phi0))
    + (m0 * phi0 - 1) * mx.log(Y_va) + ((1 - m0) * phi0 - 1) * mx.log1p(-Y_va)))
v_nll, v_mae = validate()
emit(event="start", trainable_leaves=n_trainable, frozen_leaves=n_frozen,
     single_beta_val_nll=round(base, 4), untrained_val_nll=round(v_nll, 4),
     untrained_val_mae_pct=round(v_mae, 3))

perm = rng.permutation(n_tr)
cursor = 0
window = []
t0 = time.perf_counter()
for step in range(1, steps + 1):
    if cursor + batch > n_tr:
        perm = rng.permutation(n_tr)
        cursor = 0
    idx = mx.array(perm[cursor:cursor + batch])
    cursor += batch
    lr_now = float(schedule(opt.step))
    loss, grads = loss_and_grad(model, X_tr[idx], Y_tr[idx])
    if step == 1:
        flat = tree_flatten(grads)
        zero = [k for k, g in flat if float(mx.max(mx.abs(g))) == 0.0]
        emit(event="grad_check", leaves=len(flat), zero_grad_leaves=zero, lr_first_update=lr_now)
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state, loss)
    window.append(loss.item())
    if step in (1, 50) or step % 300 == 0:
        v_nll, v_mae = validate()
        emit(event="report", step=step, lr=float(f"{lr_now:.3e}"),
             train_nll=round(sum(window) / len(window), 4),
             val_nll=round(v_nll, 4), val_mae_pct=round(v_mae, 3),
             secs=round(time.perf_counter() - t0, 1))
        window = []

rff_after = np.array(model.rff.proj.weight)
v_nll, v_mae = validate()
emit(event="done", val_nll=round(v_nll, 4), val_mae_pct=round(v_mae, 3),
     rff_unchanged=bool(np.array_equal(rff_before, rff_after)),
     secs=round(time.perf_counter() - t0, 1))
