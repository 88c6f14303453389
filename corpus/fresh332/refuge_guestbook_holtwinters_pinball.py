"""Mountain refuge overnight-guest forecasting.

24 synthetic refuges, daily guest counts with a weekly (Fri/Sat) pattern, a slow
seasonal swell, a per-refuge trend and multiplicative noise.  Each refuge gets its
own learned Holt-Winters smoothing (level alpha and weekly-season gamma, additive in
log space, initial weekday indices learned too); a shared MLP reads the last 14
deseasonalised days and emits 10/50/90 % quantiles for the next 7 days.  Trained with
the pinball loss, Adam, linear warmup from exactly 0 then cosine decay, and a
checkpoint / resume into fresh objects halfway through.
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
from mlx.utils import tree_flatten, tree_unflatten

SEED = 7
N_REF = 24
N_DAYS = 168            # 24 weeks
HOLD = 7                # last week is the test horizon
LOOKBACK = 14
HORIZON = 7
QUANTS = (0.1, 0.5, 0.9)
NOISE_SD = 0.12
STEPS = 200
WARMUP = 25
PEAK_LR = 3e-3
RESUME_AT = 100
EVAL_EVERY = 40

rng = np.random.default_rng(SEED)
mx.random.seed(SEED)


def make_guests():
    days = np.arange(N_DAYS)
    weekday = days % 7
    base = rng.uniform(18, 70, size=(N_REF, 1))
    trend = rng.uniform(-0.0008, 0.0015, size=(N_REF, 1)) * days
    amp = rng.uniform(0.25, 0.7, size=(N_REF, 1))
    week_shape = np.array([-0.35, -0.4, -0.3, -0.1, 0.35, 0.6, 0.2])
    season = 0.3 * np.sin(2 * np.pi * (days - 40) / 200.0)
    log_y = (np.log(base) + trend + amp * week_shape[weekday][None, :]
             + season[None, :] + NOISE_SD * rng.standard_normal((N_REF, N_DAYS)))
    return np.exp(log_y).astype(np.float32)


guests = make_guests()
z_all = np.log(guests)
train_z = mx.array(z_all[:, : N_DAYS - HOLD])
test_y = guests[:, N_DAYS - HOLD:]
T_TRAIN = N_DAYS - HOLD


class RefugeForecaster(nn.Module):
    def __init__(self):
        super().__init__()
        self.alpha_raw = mx.full((N_REF,), -1.0)
        self.gamma_raw = mx.full((N_REF,), -2.0)
        self.season0 = mx.zeros((N_REF, 7))
        self.l1 = nn.Linear(LOOKBACK, 64)
        self.l2 = nn.Linear(64, 64)
        self.out = nn.Linear(64, HORIZON * 3)

    def smooth(self, z):
        """Holt-Winters recursion in log space; returns levels (N, T) and
        seasonal indices (N, T) where season[:, t] is the index written at t."""
        alpha = mx.sigmoid(self.alpha_raw)
        gamma = mx.sigmoid(self.gamma_raw)
        level = mx.mean(z[:, :7], axis=1)
        seasons = [self.season0[:, k] for k in range(7)]
        levels, new_seasons = [], []
        for t in range(z.shape[1]):
            s_prev = seasons[t] if t < 7 else new_seasons[t - 7]
            level = alpha * (z[:, t] - s_prev) + (1 - alpha) * level
            s_new = gamma * (z[:, t] - level) + (1 - gamma) * s_prev
            levels.append(level)
            new_seasons.append(s_new)
        return mx.stack(levels, axis=1), mx.stack(new_seasons, axis=1)

    def head(self, x):
        h = nn.gelu(self.l1(x))
        h = nn.gelu(self.l2(h))
        o = self.out(h).reshape(x.shape[0], HORIZON, 3)
        mid = o[..., 0]
        lo = mid - nn.softplus(o[..., 1])
        hi = mid + nn.softplus(o[..., 2])
        return mx.stack([lo, mid, hi], axis=-1)


ORIGINS = list(range(35, T_TRAIN - HORIZON + 1))
idx_hist = np.array([[o - LOOKBACK + k for k in range(LOOKBACK)] for o in ORIGINS])
idx_fut = np.array([[o + h for h in range(HORIZON)] for o in ORIGINS])
idx_fut_season = idx_fut - 7
IDX_HIST = mx.array(idx_hist)
IDX_FUT = mx.array(idx_fut)
IDX_FUT_SEASON = mx.array(idx_fut_season)
IDX_LAST = mx.array(np.array(ORIGINS) - 1)
Q = mx.array(QUANTS)


def windows(model, z):
    levels, seasons = model.smooth(z)
    last_level = levels[:, IDX_LAST]                         # (N, O)
    hist = z[:, IDX_HIST] - seasons[:, IDX_HIST]             # (N, O, L)
    x = hist - last_level[..., None]
    target = z[:, IDX_FUT] - seasons[:, IDX_FUT_SEASON] - last_level[..., None]
    return x.reshape(-1, LOOKBACK), target.reshape(-1, HORIZON)


def pinball(pred, target):
    err = target[..., None] - pred
    return mx.mean(mx.maximum(Q * err, (Q - 1) * err))


def loss_fn(model, z):
    x, target = windows(model, z)
    return pinball(model.head(x), target)


def forecast_test(model):
    levels, seasons = model.smooth(train_z)
    last = levels[:, -1]
    hist = train_z[:, -LOOKBACK:] - seasons[:, -LOOKBACK:] - last[:, None]
    q = model.head(hist)                                     # (N, 7, 3)
    fut_season = seasons[:, -7:]                             # weekday-aligned for +1..+7
    return mx.exp(q + last[:, None, None] + fut_season[..., None])


def smape(a, b):
    return float(np.mean(2 * np.abs(a - b) / (np.abs(a) + np.abs(b))) * 100)


naive = guests[:, N_DAYS - HOLD - 7: N_DAYS - HOLD]
naive_smape = smape(naive, test_y)
phi = lambda v: math.exp(-0.5 * v * v) / math.sqrt(2 * math.pi)
noise_floor = NOISE_SD * (phi(0.0) + 2 * phi(1.2816)) / 3


def make_optimizer():
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, PEAK_LR, WARMUP),
         optim.cosine_decay(PEAK_LR, STEPS - WARMUP, 2e-4)],
        [WARMUP])
    return optim.Adam(learning_rate=sched)


def evaluate(model, step, loss_val):
    q = np.array(forecast_test(model))
    mid = q[..., 1]
    cover = float(np.mean((test_y >= q[..., 0]) & (test_y <= q[..., 2])))
    a = float(mx.mean(mx.sigmoid(model.alpha_raw)).item())
    g = float(mx.mean(mx.sigmoid(model.gamma_raw)).item())
    print(f"  eval step {step:3d}: pinball {loss_val:.4f} (noise floor ~{noise_floor:.4f}) | "
          f"test sMAPE {smape(mid, test_y):5.2f}% vs seasonal-naive {naive_smape:5.2f}% | "
          f"80% band coverage {cover:.3f} | mean alpha {a:.3f} gamma {g:.3f}")


print(f"refuges {N_REF}, days {N_DAYS} (train {T_TRAIN}, test {HOLD}), windows/step "
      f"{N_REF * len(ORIGINS)}, quantiles {QUANTS}")
t0 = time.time()
model = RefugeForecaster()
mx.eval(model.parameters())
opt = make_optimizer()
step_fn = nn.value_and_grad(model, loss_fn)
ckpt_dir = tempfile.mkdtemp(prefix="refuge_ckpt_")

step = 0
while step < STEPS:
    loss, grads = step_fn(model, train_z)
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state, loss)
    lr = float(opt.learning_rate.item())
    step += 1
    if step <= 3 or step % 20 == 0:
        print(f"step {step:3d}  lr {lr:.2e}  pinball {loss.item():.4f}")
    if step % EVAL_EVERY == 0:
        evaluate(model, step, loss.item())
    if step == RESUME_AT:
        wpath = os.path.join(ckpt_dir, "weights.safetensors")
        opath = os.path.join(ckpt_dir, "optimizer.safetensors")
        model.save_weights(wpath)
        mx.save_safetensors(opath, dict(tree_flatten(opt.state)))
        print(f"checkpoint written at step {step}; rebuilding model and optimizer from disk")
        del model, opt, step_fn
        model = RefugeForecaster()
        model.load_weights(wpath)
        opt = make_optimizer()
        opt.state = tree_unflatten(list(mx.load(opath).items()))
        step_fn = nn.value_and_grad(model, loss_fn)
        mx.eval(model.parameters(), opt.state)
        print(f"resumed: optimizer step {int(opt.state['step'].item())}, "
              f"lr {float(opt.learning_rate.item()):.2e}")

q = np.array(forecast_test(model))
final = smape(q[..., 1], test_y)
print(f"final: test sMAPE {final:.2f}% vs seasonal-naive {naive_smape:.2f}%  "
      f"({time.time() - t0:.1f}s)")
shutil.rmtree(ckpt_dir, ignore_errors=True)
