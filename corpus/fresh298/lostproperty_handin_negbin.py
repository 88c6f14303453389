"""Rail terminus lost-property office: items handed in per hour.

Counts are overdispersed, so the model predicts a negative-binomial
distribution (log-mean head + log-dispersion head).

Stage A: Poisson warm-up of the mean head only (dispersion head frozen).
Stage B: full negative-binomial likelihood, fresh Adam with a warmup that
         starts from a learning rate of exactly 0.
Half-way through stage B the run is checkpointed, the process state is
thrown away, and training resumes from the files on disk.
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

SEED = 7
np.random.seed(SEED)
mx.random.seed(SEED)

# ----------------------------------------------------------------------------
# synthetic hourly records
# ----------------------------------------------------------------------------
N_TRAIN, N_TEST = 12000, 3000
TRUE_R = 3.0


def make_data(n, rng):
    hour = rng.integers(0, 24, size=n)
    weekend = (rng.random(n) < 2 / 7).astype(np.float32)
    rain = (rng.random(n) < 0.3).astype(np.float32)
    log_pax = rng.normal(0.0, 1.0, size=n)
    event = (rng.random(n) < 0.08).astype(np.float32)
    ang = 2 * np.pi * hour / 24.0
    log_mu = (
        0.9
        + 0.55 * np.sin(ang - 1.2)
        + 0.25 * np.cos(2 * ang)
        + 0.45 * log_pax
        + 0.35 * rain
        - 0.2 * weekend
        + 0.6 * event
    )
    mu = np.exp(log_mu)
    lam = rng.gamma(TRUE_R, mu / TRUE_R)
    y = rng.poisson(lam).astype(np.float32)
    x = np.stack([np.sin(ang), np.cos(ang), weekend, rain, log_pax, event], 1)
    return x.astype(np.float32), y


rng = np.random.default_rng(SEED)
x_tr, y_tr = make_data(N_TRAIN, rng)
x_te, y_te = make_data(N_TEST, rng)
print(f"train {len(y_tr)} hours, test {len(y_te)} hours; "
      f"mean items/hour {y_tr.mean():.2f}, variance {y_tr.var():.2f}")

Xtr, Ytr = mx.array(x_tr), mx.array(y_tr)
Xte, Yte = mx.array(x_te), mx.array(y_te)

# ----------------------------------------------------------------------------
# differentiable log-gamma (Lanczos, shifted by one so arguments stay >= 1)
# ----------------------------------------------------------------------------
_G = 7
_C = [0.99999999999980993, 676.5203681218851, -1259.1392167224028,
      771.32342877765313, -176.61502916214059, 12.507343278686905,
      -0.13857109526572012, 9.9843695780195716e-6, 1.5056327351493116e-7]
_HALF_LOG_2PI = 0.5 * math.log(2 * math.pi)


def _lgamma_ge1(z):
    z = z - 1.0
    a = mx.array(_C[0])
    t = z + _G + 0.5
    for i in range(1, _G + 2):
        a = a + _C[i] / (z + i)
    return (z + 0.5) * mx.log(t) - t + mx.log(a) + _HALF_LOG_2PI


def lgamma(x):
    return _lgamma_ge1(x + 1.0) - mx.log(x)


def negbin_nll(log_mu, log_r, y):
    mu = mx.exp(log_mu)
    r = mx.exp(log_r)
    ll = (lgamma(y + r) - lgamma(r) - lgamma(y + 1.0)
          + r * (log_r - mx.logaddexp(log_r, log_mu))
          + y * (log_mu - mx.logaddexp(log_r, log_mu)))
    return -mx.mean(ll)


def poisson_nll(log_mu, y):
    return mx.mean(mx.exp(log_mu) - y * log_mu + lgamma(y + 1.0))


# ----------------------------------------------------------------------------
# model
# ----------------------------------------------------------------------------
class HandInModel(nn.Module):
    def __init__(self, d_in=6, width=32):
        super().__init__()
        self.trunk = nn.Sequential(nn.Linear(d_in, width), nn.SiLU(),
                                   nn.Linear(width, width), nn.SiLU())
        self.mean_head = nn.Linear(width, 1)
        self.disp_head = nn.Linear(width, 1)

    def __call__(self, x):
        h = self.trunk(x)
        log_mu = self.mean_head(h).squeeze(-1)
        log_r = mx.clip(self.disp_head(h).squeeze(-1), -4.0, 6.0)
        return log_mu, log_r


def loss_poisson(model, x, y):
    log_mu, _ = model(x)
    return poisson_nll(log_mu, y)


def loss_negbin(model, x, y):
    log_mu, log_r = model(x)
    return negbin_nll(log_mu, log_r, y)


def batches(n, bs, rng):
    perm = rng.permutation(n)
    for s in range(0, n, bs):
        yield mx.array(perm[s:s + bs])


def warm_schedule(peak, warm_steps, total_steps):
    warm = optim.linear_schedule(0.0, peak, warm_steps)
    decay = optim.cosine_decay(peak, total_steps - warm_steps, peak * 0.05)
    return optim.join_schedules([warm, decay], [warm_steps])


BS = 128
STEPS_PER_EPOCH = math.ceil(N_TRAIN / BS)
STAGE_A_EPOCHS = 5
STAGE_B_EPOCHS = 12
CKPT_AFTER = 6  # stage-B epoch after which the run is checkpointed

model = HandInModel()
mx.eval(model.parameters())
disp_before = np.array(model.disp_head.weight)

# ---------------------------- stage A ---------------------------------------
model.disp_head.freeze()
opt = optim.Adam(learning_rate=warm_schedule(3e-3, STEPS_PER_EPOCH, STAGE_A_EPOCHS * STEPS_PER_EPOCH))
step_fn = nn.value_and_grad(model, loss_poisson)
brng = np.random.default_rng(SEED + 1)
t0 = time.time()
print("stage A: Poisson warm-up, dispersion head frozen")
for ep in range(1, STAGE_A_EPOCHS + 1):
    tot = 0.0
    for idx in batches(N_TRAIN, BS, brng):
        loss, grads = step_fn(model, Xtr[idx], Ytr[idx])
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        tot += loss.item() * len(idx)
    te = loss_poisson(model, Xte, Yte).item()
    print(f"  A epoch {ep:2d}  poisson-nll train {tot / N_TRAIN:.4f}  test {te:.4f}  "
          f"lr {opt.learning_rate.item():.2e}")
disp_after_a = np.array(model.disp_head.weight)
print(f"  dispersion head max |change| during stage A: {np.abs(disp_after_a - disp_before).max():.1e}")
model.unfreeze()

# ---------------------------- stage B ---------------------------------------
total_b = STAGE_B_EPOCHS * STEPS_PER_EPOCH


def fresh_optimizer():
    return optim.Adam(learning_rate=warm_schedule(2e-3, 2 * STEPS_PER_EPOCH, total_b))


opt = fresh_optimizer()
step_fn = nn.value_and_grad(model, loss_negbin)
print("stage B: negative-binomial likelihood, new Adam (lr starts at 0.0)")
ckdir = tempfile.mkdtemp()
ep = 1
while ep <= STAGE_B_EPOCHS:
    tot = 0.0
    for idx in batches(N_TRAIN, BS, brng):
        loss, grads = step_fn(model, Xtr[idx], Ytr[idx])
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        tot += loss.item() * len(idx)
    log_mu, log_r = model(Xte)
    te = negbin_nll(log_mu, log_r, Yte).item()
    r_med = float(np.median(np.exp(np.array(log_r))))
    print(f"  B epoch {ep:2d}  nb-nll train {tot / N_TRAIN:.4f}  test {te:.4f}  "
          f"median r {r_med:.2f}  lr {opt.learning_rate.item():.2e}")
    if ep == CKPT_AFTER:
        model.save_weights(os.path.join(ckdir, "model.safetensors"))
        mx.save_safetensors(os.path.join(ckdir, "opt.safetensors"), dict(tree_flatten(opt.state)))
        print(f"  checkpoint written after B epoch {ep}; dropping in-memory state")
        del model, opt, step_fn
        model = HandInModel()
        model.load_weights(os.path.join(ckdir, "model.safetensors"))
        opt = fresh_optimizer()
        opt.state = tree_unflatten(list(mx.load(os.path.join(ckdir, "opt.safetensors")).items()))
        step_fn = nn.value_and_grad(model, loss_negbin)
        mx.eval(model.parameters())
        print(f"  resumed: optimizer step {int(opt.state['step'].item())}, "
              f"lr {opt.learning_rate.item():.2e}")
    ep += 1

# ---------------------------- evaluation ------------------------------------
log_mu, log_r = model(Xte)
nb_test = negbin_nll(log_mu, log_r, Yte).item()
m, v = float(y_tr.mean()), float(y_tr.var())
r0 = m * m / max(v - m, 1e-3)
base = negbin_nll(mx.full((N_TEST,), math.log(m)), mx.full((N_TEST,), math.log(r0)), Yte).item()
pois_same_mean = poisson_nll(log_mu, Yte).item()
mae = float(np.abs(np.exp(np.array(log_mu)) - y_te).mean())
mae_base = float(np.abs(m - y_te).mean())
print(f"test nb-nll {nb_test:.4f}  (constant-rate NB baseline {base:.4f}, "
      f"Poisson with same means {pois_same_mean:.4f})")
print(f"test MAE items/hour {mae:.3f}  (baseline {mae_base:.3f});  "
      f"median dispersion r {float(np.median(np.exp(np.array(log_r)))):.2f} (data generated with r={TRUE_R})")
print(f"done in {time.time() - t0:.1f}s")
