"""Varroa mite load per apiary, predicted over a bipartite apiary <-> forage-field graph.

Bees from apiaries that share forage fields swap mites, so an apiary's load depends on
the apiaries two hops away (apiary -> field -> apiary). Inspection quality differs per
apiary, so the model predicts a mean and a log-variance and is trained with the Gaussian
negative log-likelihood (which goes below zero once the variance is learned).

Training runs in two sessions: session 1 writes a checkpoint (weights + optimizer state),
session 2 rebuilds everything from that checkpoint and carries on with the same schedule.
"""
import math
import os
import tempfile
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

rng = np.random.default_rng(7)
N_API, N_FIELD = 420, 150

# ---- synthetic landscape -------------------------------------------------------------
api_xy = rng.uniform(0, 10, size=(N_API, 2))
field_xy = rng.uniform(0, 10, size=(N_FIELD, 2))
colonies = rng.integers(4, 40, size=N_API)
treated = rng.uniform(size=N_API) < 0.45
hive_age = rng.uniform(0, 12, size=N_API)
inspect_quality = rng.uniform(0, 1, size=N_API)      # drives the noise level
seed_mites = rng.gamma(2.0, 0.6, size=N_API) * (1.0 - 0.7 * treated)
bloom = rng.uniform(0, 1, size=N_FIELD)
pesticide = rng.uniform(0, 1, size=N_FIELD)

# each apiary forages on its 3-5 nearest fields
src_api, dst_field = [], []
for a in range(N_API):
    d = np.linalg.norm(field_xy - api_xy[a], axis=1)
    k = rng.integers(3, 6)
    for f in np.argsort(d)[:k]:
        src_api.append(a)
        dst_field.append(f)
src_api = np.array(src_api)
dst_field = np.array(dst_field)

field_deg = np.bincount(dst_field, minlength=N_FIELD).astype(np.float64)
api_deg = np.bincount(src_api, minlength=N_API).astype(np.float64)

# field mite pressure = mean seed load of visiting apiaries, amplified by bloom
field_pressure = np.zeros(N_FIELD)
np.add.at(field_pressure, dst_field, seed_mites[src_api] * np.log1p(colonies[src_api]))
field_pressure = field_pressure / np.maximum(field_deg, 1) * (0.5 + bloom)
api_exposure = np.zeros(N_API)
np.add.at(api_exposure, src_api, field_pressure[dst_field])
api_exposure = api_exposure / np.maximum(api_deg, 1)

log_load = 0.8 * seed_mites + 0.9 * api_exposure - 0.6 * treated + 0.05 * hive_age
sigma = 0.05 + 0.45 * (1.0 - inspect_quality) ** 2
y = log_load + sigma * rng.standard_normal(N_API)

api_x = np.stack([np.log1p(colonies), treated.astype(float), hive_age / 12.0,
                  inspect_quality, seed_mites, api_xy[:, 0] / 10, api_xy[:, 1] / 10], 1)
field_x = np.stack([bloom, pesticide, field_xy[:, 0] / 10, field_xy[:, 1] / 10], 1)

perm = rng.permutation(N_API)
train_idx, val_idx = np.sort(perm[:300]), np.sort(perm[300:])
y_mean, y_std = y[train_idx].mean(), y[train_idx].std()
y_n = (y - y_mean) / y_std

A_X = mx.array(api_x, dtype=mx.float32)
F_X = mx.array(field_x, dtype=mx.float32)
SRC = mx.array(src_api, dtype=mx.int32)
DST = mx.array(dst_field, dtype=mx.int32)
INV_FDEG = mx.array(1.0 / np.maximum(field_deg, 1), dtype=mx.float32)[:, None]
INV_ADEG = mx.array(1.0 / np.maximum(api_deg, 1), dtype=mx.float32)[:, None]
Y = mx.array(y_n, dtype=mx.float32)
TR = mx.array(train_idx, dtype=mx.int32)
VA = mx.array(val_idx, dtype=mx.int32)


class BipartiteSage(nn.Module):
    def __init__(self, hid=32):
        super().__init__()
        self.api_in = nn.Linear(7, hid)
        self.field_in = nn.Linear(4, hid)
        self.field_upd = nn.Linear(2 * hid, hid)
        self.api_upd = nn.Linear(2 * hid, hid)
        self.api_upd2 = nn.Linear(2 * hid, hid)
        self.field_upd2 = nn.Linear(2 * hid, hid)
        self.head = nn.Linear(hid, 2)

    def _to_fields(self, h_api, h_field, layer):
        msg = mx.zeros_like(h_field).at[DST].add(h_api[SRC]) * INV_FDEG
        return nn.silu(layer(mx.concatenate([h_field, msg], axis=1)))

    def _to_apiaries(self, h_api, h_field, layer):
        msg = mx.zeros_like(h_api).at[SRC].add(h_field[DST]) * INV_ADEG
        return nn.silu(layer(mx.concatenate([h_api, msg], axis=1)))

    def __call__(self):
        ha = nn.silu(self.api_in(A_X))
        hf = nn.silu(self.field_in(F_X))
        hf = self._to_fields(ha, hf, self.field_upd)
        ha = self._to_apiaries(ha, hf, self.api_upd)
        hf = self._to_fields(ha, hf, self.field_upd2)
        ha = self._to_apiaries(ha, hf, self.api_upd2)
        out = self.head(ha)
        return out[:, 0], mx.clip(out[:, 1], -9.0, 4.0)


def gauss_nll(mu, logvar, target):
    return 0.5 * mx.mean(logvar + (target - mu) ** 2 * mx.exp(-logvar) + math.log(2 * math.pi))


def loss_fn(model, idx):
    mu, lv = model()
    return gauss_nll(mu[idx], lv[idx], Y[idx])


WARM, TOTAL, SESSION1 = 40, 520, 260
PEAK = 2e-3


def make_optimizer():
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, PEAK, WARM), optim.cosine_decay(PEAK, TOTAL - WARM, 2e-4)],
        [WARM])
    return optim.AdamW(learning_rate=sched, weight_decay=2e-2)


def evaluate(model):
    mu, lv = model()
    nll_va = gauss_nll(mu[VA], lv[VA], Y[VA]).item()
    rmse = math.sqrt(mx.mean((mu[VA] - Y[VA]) ** 2).item()) * y_std
    return nll_va, rmse


# constant-Gaussian baseline fitted on the training apiaries
base_nll = 0.5 * (math.log(2 * math.pi * 1.0) + 1.0)
base_rmse = float(np.sqrt(np.mean((y[val_idx] - y_mean) ** 2)))
# irreducible NLL on the validation apiaries (true noise, in standardised units)
floor_nll = float(np.mean(np.log(sigma[val_idx] / y_std) + 0.5 * math.log(2 * math.pi * math.e)))
print(f"graph: {N_API} apiaries, {N_FIELD} fields, {len(src_api)} forage links")
print(f"baseline (constant Gaussian): val nll {base_nll:.3f}  val rmse {base_rmse:.3f} log-mites")
print(f"noise floor (true sigma): val nll {floor_nll:+.3f}")


def run_session(model, opt, first, last):
    step_fn = nn.value_and_grad(model, loss_fn)
    for ep in range(first, last):
        loss, grads = step_fn(model, TR)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state)
        if ep < 3 or (ep + 1) % 40 == 0:
            nll_va, rmse = evaluate(model)
            lr = opt.learning_rate.item()
            print(f"epoch {ep + 1:4d}  lr {lr:.5f}  train nll {loss.item():+.4f}  "
                  f"val nll {nll_va:+.4f}  val rmse {rmse:.3f}")


t0 = time.time()
mx.random.seed(0)
model = BipartiteSage()
opt = make_optimizer()
print("session 1")
run_session(model, opt, 0, SESSION1)

ckpt = tempfile.mkdtemp()
model.save_weights(os.path.join(ckpt, "weights.safetensors"))
mx.save_safetensors(os.path.join(ckpt, "optim.safetensors"), dict(tree_flatten(opt.state)))
saved_val = evaluate(model)
print(f"checkpoint written after epoch {SESSION1} (step {opt.step.item()})")
del model, opt

print("session 2 (resumed from checkpoint)")
model = BipartiteSage()
model.load_weights(os.path.join(ckpt, "weights.safetensors"))
opt = make_optimizer()
opt.state = tree_unflatten(list(mx.load(os.path.join(ckpt, "optim.safetensors")).items()))
mx.eval(model.parameters())
resumed_val = evaluate(model)
print(f"resumed at step {opt.step.item()}: val nll {resumed_val[0]:+.4f} "
      f"(saved {saved_val[0]:+.4f})")
run_session(model, opt, SESSION1, TOTAL)

nll_va, rmse = evaluate(model)
print(f"final: val nll {nll_va:+.4f} (baseline {base_nll:+.3f})  "
      f"val rmse {rmse:.3f} (baseline {base_rmse:.3f})  time {time.time() - t0:.1f}s")
