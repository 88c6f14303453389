"""Summit register: daily count of hikers signing the book at a mountain refuge.

Counts are over-dispersed, so the head predicts a negative-binomial mean per day and
a single learned dispersion. Training runs in two sessions: the first session writes a
checkpoint, the second session rebuilds the model from it and continues (with a fresh
optimizer and a short re-warmup, as a user resuming on another day would).
"""
import math
import os
import shutil
import tempfile
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

rng = np.random.default_rng(7)
mx.random.seed(7)

N_TRAIN, N_VAL = 6000, 1500
TRUE_R = 2.5


def make_days(n):
    doy = rng.uniform(0, 365, n)
    weekday = rng.integers(0, 7, n)
    sun_h = np.clip(rng.normal(6, 3, n), 0, 14)
    temp_c = 8 + 10 * np.sin(2 * np.pi * (doy - 100) / 365) + rng.normal(0, 3, n)
    closure = (rng.random(n) < 0.06).astype(np.float64)
    holiday = (rng.random(n) < 0.18).astype(np.float64)
    weekend = (weekday >= 5).astype(np.float64)
    log_mu = (1.6 + 0.18 * sun_h - 0.012 * (temp_c - 14) ** 2 + 0.7 * weekend
              + 0.5 * holiday - 2.2 * closure + 0.3 * np.cos(2 * np.pi * (doy - 200) / 365))
    mu = np.exp(log_mu)
    lam = rng.gamma(TRUE_R, mu / TRUE_R)
    y = rng.poisson(lam)
    feats = np.stack([
        np.sin(2 * np.pi * doy / 365), np.cos(2 * np.pi * doy / 365),
        np.sin(2 * np.pi * weekday / 7), np.cos(2 * np.pi * weekday / 7),
        (sun_h - 6) / 3, (temp_c - 8) / 8, closure, holiday,
    ], axis=1)
    return feats.astype(np.float32), y.astype(np.float32), mu.astype(np.float32)


xtr, ytr, mutr = make_days(N_TRAIN)
xva, yva, muva = make_days(N_VAL)
Xtr, Ytr = mx.array(xtr), mx.array(ytr)
Xva, Yva = mx.array(xva), mx.array(yva)
print(f"train days {N_TRAIN}  val days {N_VAL}  mean count {ytr.mean():.2f}  "
      f"var {ytr.var():.2f}  zero days {np.mean(ytr == 0) * 100:.1f}%")


def lgamma_pos(x):
    # Stirling series after shifting the argument up by 6 (x > 0)
    shift = mx.log(x * (x + 1) * (x + 2) * (x + 3) * (x + 4) * (x + 5))
    z = x + 6.0
    zi = 1.0 / z
    zi2 = zi * zi
    series = zi * (1.0 / 12 - zi2 * (1.0 / 360 - zi2 / 1260))
    return (z - 0.5) * mx.log(z) - z + 0.5 * math.log(2 * math.pi) + series - shift


def negbin_nll(log_mu, log_r, y):
    r = mx.exp(log_r)
    mu = mx.exp(log_mu)
    log_p = (lgamma_pos(y + r) - lgamma_pos(r) - lgamma_pos(y + 1.0)
             + r * (log_r - mx.logaddexp(log_r, log_mu))
             + y * (log_mu - mx.logaddexp(log_r, log_mu)))
    return -log_p


def poisson_nll(log_mu, y):
    return mx.exp(log_mu) - y * log_mu + lgamma_pos(y + 1.0)


class CountHead(nn.Module):
    def __init__(self, d_in, hidden=64):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(d_in, hidden), nn.SiLU(),
                                  nn.Linear(hidden, hidden), nn.SiLU())
        self.mean_out = nn.Linear(hidden, 1)
        self.log_r = mx.array([0.0])

    def __call__(self, x):
        return self.mean_out(self.body(x)).squeeze(-1) + 2.0


def loss_fn(model, x, y):
    return negbin_nll(model(x), model.log_r[0], y).mean()


def evaluate(model):
    log_mu = model(Xva)
    nb = negbin_nll(log_mu, model.log_r[0], Yva).mean()
    po = poisson_nll(log_mu, Yva).mean()
    mae = mx.abs(mx.exp(log_mu) - Yva).mean()
    mx.eval(nb, po, mae)
    return nb.item(), po.item(), mae.item()


def make_optimizer(total_steps, warm, peak):
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, peak, warm), optim.cosine_decay(peak, total_steps - warm, 1e-5)],
        [warm])
    return optim.Adam(learning_rate=sched)


BATCH = 128
steps_per_epoch = N_TRAIN // BATCH


def run_session(model, opt, epochs, first_epoch, tag):
    step_fn = nn.value_and_grad(model, loss_fn)
    for ep in range(first_epoch, first_epoch + epochs):
        perm = mx.array(rng.permutation(N_TRAIN))
        tot = 0.0
        for i in range(steps_per_epoch):
            idx = perm[i * BATCH:(i + 1) * BATCH]
            loss, grads = step_fn(model, Xtr[idx], Ytr[idx])
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
            tot += loss.item()
        nb, po, mae = evaluate(model)
        lr = opt.learning_rate.item()
        print(f"[{tag}] epoch {ep:2d} | train nb-nll {tot / steps_per_epoch:.4f} | val nb-nll {nb:.4f} "
              f"| val poisson-nll {po:.4f} | val mae {mae:.3f} | r {math.exp(model.log_r.item()):.2f} | lr {lr:.2e}")


t0 = time.time()
model = CountHead(xtr.shape[1])
mx.eval(model.parameters())
nb0, po0, mae0 = evaluate(model)
print(f"before training: val nb-nll {nb0:.4f}  val poisson-nll {po0:.4f}  val mae {mae0:.3f}")

EPOCHS_A, EPOCHS_B = 8, 10
opt = make_optimizer(EPOCHS_A * steps_per_epoch, 40, 3e-3)
run_session(model, opt, EPOCHS_A, 1, "session 1")

ckpt_dir = tempfile.mkdtemp()
ckpt = os.path.join(ckpt_dir, "count_head.safetensors")
model.save_weights(ckpt)
print(f"checkpoint written ({os.path.getsize(ckpt)} bytes)")

model = CountHead(xtr.shape[1])
model.load_weights(ckpt)
mx.eval(model.parameters())
nb_r, _, _ = evaluate(model)
print(f"session 2 reloaded checkpoint: val nb-nll {nb_r:.4f}")
opt = make_optimizer(EPOCHS_B * steps_per_epoch, 20, 1e-3)
run_session(model, opt, EPOCHS_B, EPOCHS_A + 1, "session 2")

# baselines on the validation days
ybar = float(ytr.mean())
const_logmu = mx.full(Yva.shape, math.log(ybar))
r_mom = ybar ** 2 / max(float(ytr.var()) - ybar, 1e-3)
const_nb = negbin_nll(const_logmu, mx.array(math.log(r_mom)), Yva).mean().item()
oracle_nb = negbin_nll(mx.log(mx.array(muva)), mx.array(math.log(TRUE_R)), Yva).mean().item()
nb, po, mae = evaluate(model)
print("validation NLL per day (lower is better):")
print(f"  constant-mean negbin baseline  {const_nb:.4f}")
print(f"  this model, poisson likelihood {po:.4f}")
print(f"  this model, negbin likelihood  {nb:.4f}")
print(f"  oracle (true mean, true r)     {oracle_nb:.4f}")
print(f"learned dispersion r = {math.exp(model.log_r.item()):.2f} (simulated with {TRUE_R})")
print(f"done in {time.time() - t0:.1f}s")
shutil.rmtree(ckpt_dir, ignore_errors=True)
