"""Bagpipe reed workshop: predict the pitch offset (cents from A) of a drone reed
from seven cane measurements, with a heteroscedastic Gaussian head.

Unit-wise adaptive gradient clipping (per output row, NFNet style) over the
gradient tree, SGD with Nesterov momentum, linear warmup that starts at 0.
"""
import math
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map

mx.random.seed(7)

N_TRAIN, N_VAL, D = 12000, 2000, 7


def make_reeds(n, key):
    k1, k2 = mx.random.split(key)
    x = mx.random.normal((n, D), key=k1)
    # made-up law: wall thickness, tongue length, cane density, bridle position ...
    thick, tongue, dens, bridle, moist, age, bore = [x[:, i] for i in range(D)]
    mean = (
        18.0 * thick
        - 25.0 * mx.tanh(tongue)
        + 6.0 * dens * bridle
        + 9.0 * mx.sin(1.3 * moist)
        - 4.0 * age
        + 3.0 * bore**2
    )
    sd = 2.0 + 3.0 * mx.sigmoid(2.0 * moist)  # damp cane is less predictable
    y = mean + sd * mx.random.normal((n,), key=k2)
    return x, y, sd


xtr, ytr, sdtr = make_reeds(N_TRAIN, mx.random.key(1))
xva, yva, sdva = make_reeds(N_VAL, mx.random.key(2))
y_mu, y_sd = ytr.mean(), ytr.std()
ytr_s, yva_s = (ytr - y_mu) / y_sd, (yva - y_mu) / y_sd


class ReedNet(nn.Module):
    def __init__(self, width=64):
        super().__init__()
        self.inp = nn.Linear(D, width)
        self.blocks = [nn.Linear(width, width) for _ in range(2)]
        self.norms = [nn.LayerNorm(width) for _ in range(2)]
        self.mean_head = nn.Linear(width, 1)
        self.logvar_head = nn.Linear(width, 1)

    def __call__(self, x):
        h = nn.silu(self.inp(x))
        for lin, ln in zip(self.blocks, self.norms):
            h = h + nn.silu(lin(ln(h)))
        mu = self.mean_head(h).squeeze(-1)
        logvar = mx.clip(self.logvar_head(h).squeeze(-1), -8.0, 4.0)
        return mu, logvar


def gauss_nll(model, x, y):
    mu, logvar = model(x)
    return 0.5 * (logvar + (y - mu) ** 2 * mx.exp(-logvar) + math.log(2 * math.pi)).mean()


def unitwise_norm(a):
    if a.ndim <= 1:
        return mx.sqrt((a * a).sum())
    return mx.sqrt((a * a).sum(axis=tuple(range(1, a.ndim)), keepdims=True))


def adaptive_clip(grads, params, ratio=0.02, eps=1e-3):
    """Scale each row of each gradient so ||g_row|| <= ratio * max(||w_row||, eps)."""
    counts = []

    def clip_one(g, w):
        w_n = mx.maximum(unitwise_norm(w), eps)
        g_n = unitwise_norm(g)
        limit = ratio * w_n
        hit = g_n > limit
        counts.append((hit.sum(), hit.size))
        scale = mx.where(hit, limit / mx.maximum(g_n, 1e-6), 1.0)
        return g * scale

    clipped = tree_map(clip_one, grads, params)
    hits = sum(c[0] for c in counts)
    total = sum(c[1] for c in counts)
    return clipped, hits / total


model = ReedNet()
mx.eval(model.parameters())
n_params = sum(v.size for _, v in tree_flatten(model.parameters()))

STEPS, WARMUP, BATCH = 1500, 150, 128
schedule = optim.join_schedules(
    [optim.linear_schedule(0.0, 0.05, WARMUP), optim.cosine_decay(0.05, STEPS - WARMUP, 0.002)],
    [WARMUP],
)
opt = optim.SGD(learning_rate=schedule, momentum=0.9, nesterov=True)
loss_and_grad = nn.value_and_grad(model, gauss_nll)


def step(x, y):
    loss, grads = loss_and_grad(model, x, y)
    grads, clip_share = adaptive_clip(grads, model.trainable_parameters())
    opt.update(model, grads)
    return loss, clip_share


# baseline: a constant Gaussian fitted to the training targets (standardised -> N(0,1))
base_nll = 0.5 * (math.log(2 * math.pi) + (yva_s**2).mean().item())
base_rmse = yva.std().item()
floor_rmse = mx.sqrt((sdva**2).mean()).item()
print(f"reeds: train {N_TRAIN}, val {N_VAL}, features {D}, params {n_params}")
print(f"baseline (constant Gaussian): val NLL {base_nll:.3f}  RMSE {base_rmse:.2f} cents")
print(f"noise floor RMSE ~ {floor_rmse:.2f} cents")

t0 = time.time()
perm = mx.random.permutation(N_TRAIN)
cursor = 0
for it in range(STEPS):
    if cursor + BATCH > N_TRAIN:
        perm, cursor = mx.random.permutation(N_TRAIN), 0
    idx = perm[cursor : cursor + BATCH]
    cursor += BATCH
    lr_now = schedule(opt.step).item()
    loss, share = step(xtr[idx], ytr_s[idx])
    mx.eval(model.parameters(), opt.state, loss, share)
    if it < 3 or (it + 1) % 250 == 0:
        mu, logvar = model(xva)
        val_nll = gauss_nll(model, xva, yva_s).item()
        rmse = (mx.sqrt(((mu - yva_s) ** 2).mean()) * y_sd).item()
        print(
            f"step {it:5d}  lr {lr_now:.4f}  train NLL {loss.item():+.4f}  "
            f"val NLL {val_nll:+.4f}  val RMSE {rmse:6.2f}  rows clipped {share.item() * 100:5.1f}%"
        )

mu, logvar = model(xva)
rmse = (mx.sqrt(((mu - yva_s) ** 2).mean()) * y_sd).item()
pred_sd = (mx.exp(0.5 * logvar) * y_sd)
coverage = (mx.abs(mu - yva_s) * y_sd < 1.96 * pred_sd).mean().item()
corr = mx.mean((pred_sd - pred_sd.mean()) * (sdva - sdva.mean())) / (pred_sd.std() * sdva.std())
print(f"final val RMSE {rmse:.2f} cents (baseline {base_rmse:.2f}, floor ~{floor_rmse:.2f})")
print(f"95% interval coverage {coverage * 100:.1f}%  corr(pred sd, true sd) {corr.item():.2f}")
print(f"done in {time.time() - t0:.1f}s")
