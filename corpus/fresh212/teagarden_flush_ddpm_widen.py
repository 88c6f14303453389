"""Tiny DDPM over tea-garden "flush" profiles.

Each sample is the shoot-growth of a tea bush over 8 consecutive plucking
rounds (mm per round), made from three hidden drivers: monsoon onset round,
flush strength and a dry-spell dip.  Profiles are standardised, then a small
MLP learns to predict the added noise.

Curriculum: the first stage only trains on the noisier half of the timesteps
(easy for eps-prediction), the second stage opens up the whole range, so the
training loss jumps up at the switch before it settles again.
"""
import math
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map

mx.random.seed(11)

ROUNDS = 8
T = 50
N_TRAIN = 4096
BATCH = 128
STEPS = 1300
STAGE2_AT = 500
WARMUP = 120
PEAK_LR = 2e-3
EMA_DECAY = 0.99


def make_profiles(n, key):
    k1, k2, k3, k4 = mx.random.split(key, 4)
    onset = mx.random.uniform(1.0, 4.0, (n, 1), key=k1)
    strength = mx.random.uniform(0.6, 1.6, (n, 1), key=k2)
    dip_at = mx.random.randint(3, 7, (n, 1), key=k3).astype(mx.float32)
    r = mx.arange(ROUNDS, dtype=mx.float32)[None, :]
    growth = strength * 20.0 / (1.0 + mx.exp(-(r - onset) * 1.5))
    dip = 6.0 * mx.exp(-((r - dip_at) ** 2))
    noise = 0.8 * mx.random.normal((n, ROUNDS), key=k4)
    return growth - dip + noise


raw = make_profiles(N_TRAIN + 512, mx.random.key(3))
mu, sd = raw[:N_TRAIN].mean(axis=0), raw[:N_TRAIN].std(axis=0)
data = (raw - mu) / sd
train_x, hold_x = data[:N_TRAIN], data[N_TRAIN:]

betas = mx.linspace(1e-4, 0.25, T)
alphas = 1.0 - betas
abar = mx.cumprod(alphas)


def time_features(t):
    freqs = mx.exp(mx.arange(8, dtype=mx.float32) * (-math.log(100.0) / 8))
    ang = t.astype(mx.float32)[:, None] * freqs[None, :]
    return mx.concatenate([mx.sin(ang), mx.cos(ang)], axis=1)


class EpsNet(nn.Module):
    def __init__(self, width=96):
        super().__init__()
        self.inp = nn.Linear(ROUNDS + 16, width)
        self.h1 = nn.Linear(width, width)
        self.h2 = nn.Linear(width, width)
        self.out = nn.Linear(width, ROUNDS)

    def __call__(self, x, t):
        h = nn.silu(self.inp(mx.concatenate([x, time_features(t)], axis=1)))
        h = h + nn.silu(self.h1(h))
        h = h + nn.silu(self.h2(h))
        return self.out(h)


def diffuse(x0, t, eps):
    a = abar[t][:, None]
    return mx.sqrt(a) * x0 + mx.sqrt(1.0 - a) * eps


def loss_fn(model, x0, t, eps):
    pred = model(diffuse(x0, t, eps), t)
    return mx.mean((pred - eps) ** 2)


model = EpsNet()
mx.eval(model.parameters())
ema = tree_map(lambda p: mx.array(p), model.parameters())
mx.eval(ema)

warm = optim.linear_schedule(0.0, PEAK_LR, WARMUP)
decay = optim.cosine_decay(PEAK_LR, STEPS - WARMUP, 5e-5)
opt = optim.AdamW(learning_rate=optim.join_schedules([warm, decay], [WARMUP]),
                  weight_decay=1e-4)
grad_fn = nn.value_and_grad(model, loss_fn)

# fixed held-out probe: every timestep, same noise every time
probe_t = mx.tile(mx.arange(T), 512 // T + 1)[:512]
probe_eps = mx.random.normal(hold_x.shape, key=mx.random.key(99))


def probe_loss(params):
    keep = model.parameters()
    model.update(params)
    val = loss_fn(model, hold_x, probe_t, probe_eps)
    model.update(keep)
    return val


n_params = sum(v.size for _, v in tree_flatten(model.parameters()))
print(f"EpsNet  params={n_params}  T={T}  train={N_TRAIN}  hold={hold_x.shape[0]}")
print(f"stage 1: t in [{T // 2},{T})   stage 2 from step {STAGE2_AT}: t in [0,{T})")

bar_w = 20
t0 = time.time()
run_loss = None
for step in range(1, STEPS + 1):
    lo = T // 2 if step <= STAGE2_AT else 0
    k_i, k_t, k_e = mx.random.split(mx.random.key(1000 + step), 3)
    idx = mx.random.randint(0, N_TRAIN, (BATCH,), key=k_i)
    x0 = train_x[idx]
    t = mx.random.randint(lo, T, (BATCH,), key=k_t)
    eps = mx.random.normal(x0.shape, key=k_e)

    lr_now = opt.learning_rate
    loss, grads = grad_fn(model, x0, t, eps)
    opt.update(model, grads)
    ema = tree_map(lambda e, p: EMA_DECAY * e + (1.0 - EMA_DECAY) * p,
                   ema, model.parameters())
    mx.eval(model.parameters(), opt.state, ema, loss)

    run_loss = loss.item() if run_loss is None else 0.9 * run_loss + 0.1 * loss.item()
    if step == STAGE2_AT + 1:
        print(f"-- widening timestep range to all {T} steps --")
    if step % 100 == 0 or step == 1:
        frac = step / STEPS
        filled = int(bar_w * frac)
        el = time.time() - t0
        eta = el / step * (STEPS - step)
        bar = "#" * filled + "." * (bar_w - filled)
        print(f"train {int(frac * 100):3d}%|{bar}| {step}/{STEPS} "
              f"[{el:4.1f}s<{eta:4.1f}s, loss={run_loss:.4f}, lr={lr_now.item():.2e}]")

raw_probe = probe_loss(model.parameters()).item()
ema_probe = probe_loss(ema).item()
print("held-out eps-MSE over all t (predict-zero reference = 1.000):")
print(f"  raw weights {raw_probe:.4f}   ema weights {ema_probe:.4f}")

# ancestral sampling with the EMA weights, compare moments to held-out data
model.update(ema)
x = mx.random.normal((1024, ROUNDS), key=mx.random.key(7))
for i, ti in enumerate(range(T - 1, -1, -1)):
    tt = mx.full((x.shape[0],), ti, dtype=mx.int32)
    eps_hat = model(x, tt)
    coef = betas[ti] / mx.sqrt(1.0 - abar[ti])
    x = (x - coef * eps_hat) / mx.sqrt(alphas[ti])
    if ti > 0:
        x = x + mx.sqrt(betas[ti]) * mx.random.normal(x.shape, key=mx.random.key(500 + i))
    mx.eval(x)

gen = x * sd + mu
ref = hold_x * sd + mu
print("round | mean mm ref  gen  | sd mm ref  gen")
for r in range(ROUNDS):
    print(f"  {r + 1}   | {ref[:, r].mean().item():6.2f} {gen[:, r].mean().item():6.2f} "
          f"| {ref[:, r].std().item():5.2f} {gen[:, r].std().item():5.2f}")
gap = mx.abs(gen.mean(axis=0) - ref.mean(axis=0)).mean().item()
print(f"mean abs gap of round means: {gap:.3f} mm  (round sd averages {ref.std(axis=0).mean().item():.2f} mm)")
print(f"done in {time.time() - t0:.1f}s")
