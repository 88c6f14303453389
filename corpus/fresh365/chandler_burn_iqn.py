"""Candle workshop: burn time (hours) of a poured pillar candle, learned as a
whole conditional quantile function (implicit quantile regression).

The network takes the six pour-sheet readings plus a quantile level tau in
(0, 1) and returns the tau-quantile of the burn time.  Each training row gets
fresh tau levels drawn uniformly, scored with the pinball loss.  Evaluation
uses a constant grid of 19 levels (average pinball ~ half the CRPS).
"""

import math
import time
from functools import partial

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

rng = np.random.default_rng(365)

FEATURES = ["wax_blend", "wick_ply", "diameter_cm", "height_cm", "fragrance_pct", "room_draft"]


def pour_sheet(n):
    wax = rng.uniform(0.0, 1.0, n)            # 0 = paraffin, 1 = soy
    wick = rng.integers(2, 7, n).astype(np.float64)
    diam = rng.uniform(5.0, 10.0, n)
    height = rng.uniform(7.0, 20.0, n)
    frag = rng.uniform(0.0, 10.0, n)
    draft = rng.exponential(0.6, n)
    mass = 0.9 * math.pi * (diam / 2) ** 2 * height / 1000.0   # kg of wax
    rate = 0.007 + 0.0021 * wick - 0.002 * wax + 0.0004 * frag + 0.004 * draft
    median_h = mass / rate
    # right-skewed scatter that grows with the draft (guttering in a draught)
    spread = 0.06 + 0.10 * draft
    noise = rng.gamma(2.0, 1.0, n) - 2.0 + 0.3 * rng.standard_normal(n)
    hours = median_h * np.exp(spread * noise)
    x = np.stack([wax, wick, diam, height, frag, draft], axis=1)
    return x.astype(np.float32), hours.astype(np.float32)


x_tr, y_tr = pour_sheet(9000)
x_va, y_va = pour_sheet(2000)
mu_x, sd_x = x_tr.mean(0), x_tr.std(0)
log_tr, log_va = np.log(y_tr), np.log(y_va)
mu_y, sd_y = log_tr.mean(), log_tr.std()
Xtr = mx.array((x_tr - mu_x) / sd_x)
Xva = mx.array((x_va - mu_x) / sd_x)
Ytr = mx.array(((log_tr - mu_y) / sd_y).astype(np.float32))
Yva = mx.array(((log_va - mu_y) / sd_y).astype(np.float32))

N_COS = 16
GRID = np.linspace(0.05, 0.95, 19).astype(np.float32)


class ImplicitQuantileNet(nn.Module):
    def __init__(self, d_in, width=48):
        super().__init__()
        self.trunk = nn.Sequential(nn.Linear(d_in, width), nn.SiLU(), nn.Linear(width, width), nn.SiLU())
        self.tau_embed = nn.Linear(N_COS, width)
        self.head = nn.Sequential(nn.Linear(width, width), nn.SiLU(), nn.Linear(width, 1))
        self._freqs = mx.arange(1, N_COS + 1).astype(mx.float32) * math.pi

    def __call__(self, x, tau):
        # x: (B, d), tau: (B, K)  ->  quantiles (B, K)
        h = self.trunk(x)[:, None, :]
        phi = nn.relu(self.tau_embed(mx.cos(tau[..., None] * self._freqs)))
        return self.head(h * phi).squeeze(-1)


def pinball(q, y, tau):
    diff = y[:, None] - q
    return mx.maximum(tau * diff, (tau - 1.0) * diff)


def loss_fn(model, x, y, tau):
    return pinball(model(x, tau), y, tau).mean()


mx.random.seed(365)
model = ImplicitQuantileNet(len(FEATURES))
mx.eval(model.parameters())

BATCH, K_TAU = 128, 8
STEPS = 1000
WARM = 150
schedule = optim.join_schedules(
    [optim.linear_schedule(0.0, 2e-3, WARM), optim.cosine_decay(2e-3, STEPS - WARM, 2e-5)], [WARM]
)
opt = optim.Adam(learning_rate=schedule)

# one eager gradient (no update) to check every leaf gets a gradient
tau0 = mx.random.uniform(shape=(BATCH, K_TAU))
_, g0 = nn.value_and_grad(model, loss_fn)(model, Xtr[:BATCH], Ytr[:BATCH], tau0)
leaves = [(k, float(mx.abs(v).sum())) for k, v in tree_flatten(g0)]
dead = [k for k, s in leaves if s == 0.0]

state = [model.state, opt.state]


@partial(mx.compile, inputs=state, outputs=state)
def step(x, y, tau):
    loss, grads = nn.value_and_grad(model, loss_fn)(model, x, y, tau)
    opt.update(model, grads)
    return loss


def evaluate(X, Y, y_hours):
    taus = mx.broadcast_to(mx.array(GRID)[None, :], (X.shape[0], len(GRID)))
    q = model(X, taus)
    crps_half = pinball(q, Y, taus).mean()
    qn = np.array(q)
    crossings = int((np.diff(qn, axis=1) < 0).any(axis=1).sum())
    lo = np.exp(qn[:, 0] * sd_y + mu_y)
    hi = np.exp(qn[:, -1] * sd_y + mu_y)
    med = np.exp(qn[:, 9] * sd_y + mu_y)
    cover = 100.0 * np.mean((y_hours >= lo) & (y_hours <= hi))
    mae = float(np.mean(np.abs(med - y_hours)))
    return float(crps_half), cover, mae, crossings


def sexp(tag, **kv):
    parts = []
    for k, v in kv.items():
        if isinstance(v, float):
            v = f"{v:.4f}"
        parts.append(f"({k} {v})")
    print(f"({tag} " + " ".join(parts) + ")", flush=True)


# unconditional baseline: the training set's marginal quantiles for every row
marg = np.quantile(np.array(Ytr), GRID).astype(np.float32)
taus_va = np.broadcast_to(GRID[None, :], (len(y_va), len(GRID)))
base = np.maximum(taus_va * (np.array(Yva)[:, None] - marg), (taus_va - 1) * (np.array(Yva)[:, None] - marg)).mean()

sexp("data", rows_train=len(y_tr), rows_valid=len(y_va), features=len(FEATURES), median_hours=float(np.median(y_tr)))
sexp("gradient_check", leaves=len(leaves), zero_leaves=len(dead))
c0, cov0, mae0, x0 = evaluate(Xva, Yva, y_va)
sexp("baseline", marginal_quantile_pinball=float(base), untrained_pinball=c0, untrained_cover90_pct=cov0)

t0 = time.perf_counter()
perm, cur = rng.permutation(len(y_tr)), 0
window = []
report_at = {1, 2, WARM} | set(range(250, STEPS + 1, 250))
for it in range(1, STEPS + 1):
    if cur + BATCH > len(perm):
        perm, cur = rng.permutation(len(y_tr)), 0
    idx = mx.array(perm[cur:cur + BATCH])
    cur += BATCH
    tau = mx.random.uniform(low=1e-3, high=1 - 1e-3, shape=(BATCH, K_TAU))
    lr_used = float(schedule(mx.array(it - 1)))
    loss = step(Xtr[idx], Ytr[idx], tau)
    mx.eval(loss, state)
    window.append(loss.item())
    if it in report_at:
        v_pin, cov, mae, cross = evaluate(Xva, Yva, y_va)
        sexp("report", step=it, lr=lr_used, train_pinball_window=float(np.mean(window)),
             valid_pinball=v_pin, valid_median_mae_h=mae, cover90_pct=cov,
             crossed_rows=cross, secs=time.perf_counter() - t0)
        window = []

v_pin, cov, mae, cross = evaluate(Xva, Yva, y_va)
sexp("done", valid_pinball=v_pin, marginal_baseline=float(base), ratio=v_pin / float(base),
     cover90_pct=cov, crossed_rows=cross)
