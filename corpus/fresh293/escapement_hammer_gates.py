# Clock auction house: regress the hammer price (log GBP) of antique clocks from
# 36 catalogue fields. Only a handful of the fields carry signal, so the inputs
# go through learned hard-concrete (L0) gates (Louizos et al. 2018) and the
# gate penalty is ramped in; the run checkpoints halfway and resumes from disk.
import math
import os
import shutil
import tempfile

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten, tree_unflatten

rng = np.random.default_rng(7)
N_TRAIN, N_TEST, D = 6000, 1500, 36
FIELD_NAMES = [f"f{i:02d}" for i in range(D)]
INFORMATIVE = [3, 8, 14, 21, 30]  # age, maker fame, case wood, movement, condition


def make_split(n):
    x = rng.normal(size=(n, D)).astype(np.float32)
    # a few decoy fields are noisy echoes of the informative ones
    x[:, 9] = 0.35 * x[:, 8] + rng.normal(size=n) * 0.95
    x[:, 22] = 0.35 * x[:, 21] + rng.normal(size=n) * 0.95
    a, fame, wood, mov, cond = (x[:, i] for i in INFORMATIVE)
    y = (
        8.2
        + 0.55 * a
        + 0.45 * np.tanh(1.5 * fame)
        + 0.30 * wood * (cond > 0)
        + 0.25 * mov**2
        + 0.35 * cond
        + rng.normal(size=n) * 0.15
    )
    return x, y.astype(np.float32)


xtr, ytr = make_split(N_TRAIN)
xte, yte = make_split(N_TEST)
y_mu, y_sd = ytr.mean(), ytr.std()
ytr_s, yte_s = (ytr - y_mu) / y_sd, (yte - y_mu) / y_sd
Xtr, Ytr, Xte, Yte = map(mx.array, (xtr, ytr_s, xte, yte_s))

# baselines (in log-GBP): predict the mean, and ordinary least squares on all fields
rmse_mean = float(np.sqrt(np.mean((yte - y_mu) ** 2)))
A = np.c_[xtr, np.ones(N_TRAIN)]
coef, *_ = np.linalg.lstsq(A, ytr, rcond=None)
rmse_ols = float(np.sqrt(np.mean((np.c_[xte, np.ones(N_TEST)] @ coef - yte) ** 2)))

BETA, GAMMA, ZETA = 2.0 / 3.0, -0.1, 1.1


class GatedRegressor(nn.Module):
    def __init__(self, d, hidden=64):
        super().__init__()
        self.log_alpha = mx.full((d,), 1.0)
        self.l1 = nn.Linear(d, hidden)
        self.l2 = nn.Linear(hidden, hidden)
        self.out = nn.Linear(hidden, 1)

    def gates(self, n=None):
        if self.training:
            u = mx.random.uniform(low=1e-6, high=1 - 1e-6, shape=(n, self.log_alpha.size))
            s = mx.sigmoid((mx.log(u) - mx.log(1 - u) + self.log_alpha) / BETA)
        else:
            s = mx.sigmoid(self.log_alpha)
        return mx.clip(s * (ZETA - GAMMA) + GAMMA, 0.0, 1.0)

    def expected_open(self):
        return mx.sigmoid(self.log_alpha - BETA * math.log(-GAMMA / ZETA)).sum()

    def __call__(self, x):
        z = self.gates(x.shape[0])
        h = nn.silu(self.l1(x * z))
        h = nn.silu(self.l2(h))
        return self.out(h).squeeze(-1)


STEPS, RESUME_AT, BATCH = 3000, 1500, 128
WARMUP, PEAK_LR = 200, 3e-3
LAM_MAX, RAMP_START, RAMP_END = 0.3, 400, 1400
GATE_LR_MULT = 10.0


def lam_at(step):
    if step < RAMP_START:
        return 0.0
    return LAM_MAX * min(1.0, (step - RAMP_START) / (RAMP_END - RAMP_START))




def make_schedule(peak):
    return optim.join_schedules(
        [
            optim.linear_schedule(0.0, peak, WARMUP),
            optim.cosine_decay(peak, STEPS - WARMUP, peak / 30),
        ],
        [WARMUP],
    )


def loss_fn(model, x, y, lam):
    mse = nn.losses.mse_loss(model(x), y, reduction="mean")
    l0 = model.expected_open() / D
    return mse + lam * l0, mse


def build():
    m = GatedRegressor(D)
    o = optim.MultiOptimizer(
        [
            optim.Adam(learning_rate=make_schedule(PEAK_LR * GATE_LR_MULT)),
            optim.Adam(learning_rate=make_schedule(PEAK_LR)),
        ],
        [lambda path, g: path == "log_alpha"],
    )
    return m, o


def test_rmse_gbp(model):
    model.eval()
    pred = model(Xte)
    model.train()
    return float(mx.sqrt(mx.mean((pred - Yte) ** 2)).item()) * float(y_sd)


def open_fields(model):
    model.eval()
    z = np.array(model.gates())
    model.train()
    return [FIELD_NAMES[i] for i in np.nonzero(z > 0)[0]]


def run_segment(model, opt, start, stop, log_every):
    vg = nn.value_and_grad(model, loss_fn)
    perm = rng.permutation(N_TRAIN)
    pos = 0
    for step in range(start, stop):
        if pos + BATCH > N_TRAIN:
            perm, pos = rng.permutation(N_TRAIN), 0
        idx = mx.array(perm[pos : pos + BATCH])
        pos += BATCH
        lam = lam_at(step)
        (total, mse), grads = vg(model, Xtr[idx], Ytr[idx], lam)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, total, mse)
        if (step + 1) % log_every == 0 or step == start:
            print(
                f"step {step + 1:5d}  lr {float(opt.optimizers[1].learning_rate.item()):.5f}  lam {lam:.3f}  "
                f"total {total.item():.4f}  mse {mse.item():.4f}  "
                f"E[open] {model.expected_open().item():5.2f}  test_rmse {test_rmse_gbp(model):.4f}"
            )


mx.random.seed(11)
model, opt = build()
print(f"fields {D}, train {N_TRAIN}, test {N_TEST}; baselines test_rmse: mean {rmse_mean:.4f}  ols {rmse_ols:.4f}")
run_segment(model, opt, 0, RESUME_AT, log_every=250)

ckpt = tempfile.mkdtemp(prefix="hammer_ckpt_")
model.save_weights(os.path.join(ckpt, "model.safetensors"))
mx.save_safetensors(os.path.join(ckpt, "opt.safetensors"), dict(tree_flatten(opt.state)))
print(f"checkpoint written at step {RESUME_AT}; open fields now: {open_fields(model)}")
del model, opt

model, opt = build()
model.load_weights(os.path.join(ckpt, "model.safetensors"))
opt.state = tree_unflatten(list(mx.load(os.path.join(ckpt, "opt.safetensors")).items()))
print(f"resumed from {ckpt} at step {RESUME_AT}, test_rmse {test_rmse_gbp(model):.4f}")
run_segment(model, opt, RESUME_AT, STEPS, log_every=500)

kept = open_fields(model)
truth = [FIELD_NAMES[i] for i in INFORMATIVE]
print(f"final test_rmse {test_rmse_gbp(model):.4f} (mean baseline {rmse_mean:.4f}, ols {rmse_ols:.4f})")
print(f"open gates {len(kept)}/{D}: {kept}")
print(f"informative fields {truth}; recovered {len(set(kept) & set(truth))}/{len(truth)}")
shutil.rmtree(ckpt, ignore_errors=True)
