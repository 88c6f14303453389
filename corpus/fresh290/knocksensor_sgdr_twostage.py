"""Engine knock intensity from a block-mounted accelerometer window.

Synthetic 256-sample windows at 25.6 kHz: combustion rumble, a valve-closing
click, a damped ~6.5 kHz knock ring whose amplitude is the target (bar), and
broadband noise that grows with engine speed. Features are 16 log band
energies (numpy rfft) plus rpm and load.

Two stages on one MLP with a mean head and a log-variance head:
  stage A (3 epochs): mean head only, MSE, log-variance head frozen, Adam.
  stage B (9 epochs): both heads, Gaussian negative log-likelihood (no
      constant term, so it goes below zero once the predicted spread is small),
      fresh AdamW with cosine warm restarts every 3 epochs (SGDR).
The reported loss switches meaning between stages; a restart raises the lr
back to its peak, so a small bump after each restart is expected.
"""

import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

FS = 25600
WIN = 256
N_BANDS = 16
rng = np.random.default_rng(11)
mx.random.seed(11)


def synth(n, rng):
    t = np.arange(WIN) / FS
    rpm = rng.uniform(1200, 6500, n)
    load = rng.uniform(0.2, 1.0, n)
    advance = rng.uniform(0.0, 1.0, n)
    # made-up knock law: more load and more spark advance, less at high rpm
    knock = np.clip(2.4 * load * advance ** 2 - 0.00012 * (rpm - 1200) * advance
                    + 0.15 * rng.standard_normal(n), 0.0, None)
    onset = rng.integers(20, 90, n)
    x = np.zeros((n, WIN), np.float32)
    for i in range(n):
        rumble = 0.6 * load[i] * np.sin(2 * np.pi * rng.uniform(300, 700) * t + rng.uniform(0, 6.3))
        click_at = rng.integers(0, WIN - 30)
        click = np.zeros(WIN)
        click[click_at:click_at + 30] = 0.5 * np.sin(2 * np.pi * 3000 * t[:30]) * np.exp(-t[:30] * 4000)
        ring = np.zeros(WIN)
        k = WIN - onset[i]
        tt = t[:k]
        f_knock = 6500 * (1 + 0.03 * rng.standard_normal())
        ring[onset[i]:] = knock[i] * np.sin(2 * np.pi * f_knock * tt) * np.exp(-tt * 900)
        noise_sd = 0.02 + 0.12 * ((rpm[i] - 1200) / 5300) ** 2
        x[i] = rumble + click + ring + noise_sd * rng.standard_normal(WIN)
    spec = np.abs(np.fft.rfft(x * np.hanning(WIN), axis=1)) ** 2
    edges = np.linspace(0, spec.shape[1], N_BANDS + 1).astype(int)
    bands = np.stack([spec[:, a:b].sum(1) for a, b in zip(edges[:-1], edges[1:])], 1)
    feats = np.concatenate([np.log(bands + 1e-6), ((rpm - 3850) / 1530)[:, None],
                            ((load - 0.6) / 0.23)[:, None]], 1).astype(np.float32)
    return feats, knock.astype(np.float32)


class KnockNet(nn.Module):
    def __init__(self, d_in, width=64):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(d_in, width), nn.SiLU(),
                                  nn.Linear(width, width), nn.SiLU())
        self.mean_head = nn.Linear(width, 1)
        self.logvar_head = nn.Linear(width, 1)

    def __call__(self, x):
        h = self.body(x)
        return self.mean_head(h).squeeze(-1), self.logvar_head(h).squeeze(-1)


def mse_loss(model, x, y):
    mu, _ = model(x)
    return nn.losses.mse_loss(mu, y)


def nll_loss(model, x, y):
    mu, logvar = model(x)
    logvar = mx.clip(logvar, -9.0, 4.0)
    return nn.losses.gaussian_nll_loss(mu, y, mx.exp(logvar))


def report(model, x, y):
    mu, logvar = model(x)
    var = mx.exp(mx.clip(logvar, -9.0, 4.0))
    rmse = mx.sqrt(mx.mean((mu - y) ** 2)).item()
    nll = nn.losses.gaussian_nll_loss(mu, y, var).item()
    half = 1.6449 * mx.sqrt(var)
    cover = mx.mean((mx.abs(y - mu) <= half).astype(mx.float32)).item()
    return rmse, nll, cover


t0 = time.time()
xtr, ytr = synth(5000, rng)
xva, yva = synth(1000, rng)
mu_x, sd_x = xtr.mean(0), xtr.std(0) + 1e-6
xtr = mx.array((xtr - mu_x) / sd_x)
xva = mx.array((xva - mu_x) / sd_x)
ytr, yva = mx.array(ytr), mx.array(yva)
base_mu = ytr.mean()
base_var = mx.var(ytr)
base_rmse = mx.sqrt(mx.mean((yva - base_mu) ** 2)).item()
base_nll = nn.losses.gaussian_nll_loss(mx.full(yva.shape, base_mu), yva,
                                       mx.full(yva.shape, base_var)).item()
print(f"windows: train {xtr.shape[0]}, val {xva.shape[0]}, features {xtr.shape[1]} | "
      f"knock mean {base_mu.item():.3f} bar, share of zero-knock windows {(ytr == 0).mean().item():.2f}")
print(f"val baselines (predict train mean/var): rmse {base_rmse:.4f} | nll {base_nll:.4f}")

model = KnockNet(xtr.shape[1])
mx.eval(model.parameters())
BATCH = 100
steps_per_epoch = xtr.shape[0] // BATCH

# ---- stage A: mean only ----
model.logvar_head.freeze()
opt_a = optim.Adam(learning_rate=2e-3)
step_a = nn.value_and_grad(model, mse_loss)
for epoch in range(1, 4):
    perm = mx.array(np.random.default_rng(epoch).permutation(xtr.shape[0]))
    tot = 0.0
    for i in range(steps_per_epoch):
        idx = perm[i * BATCH:(i + 1) * BATCH]
        loss, grads = step_a(model, xtr[idx], ytr[idx])
        opt_a.update(model, grads)
        mx.eval(model.parameters(), opt_a.state)
        tot += loss.item()
    rmse, _, _ = report(model, xva, yva)
    print(f"stage A epoch {epoch:2d} | lr {opt_a.learning_rate.item():.2e} | train_mse {tot / steps_per_epoch:.5f} "
          f"| val_rmse {rmse:.4f} (baseline {base_rmse:.4f})")

# ---- stage B: mean + spread, Gaussian NLL, SGDR ----
model.logvar_head.unfreeze()
CYCLE = 3 * steps_per_epoch
PEAK, FLOOR = 1.5e-3, 1e-5


def sgdr(step):
    pos = step % CYCLE
    return FLOOR + 0.5 * (PEAK - FLOOR) * (1 + mx.cos(math.pi * pos / CYCLE))


opt_b = optim.AdamW(learning_rate=sgdr, weight_decay=1e-4)
step_b = nn.value_and_grad(model, nll_loss)
for epoch in range(4, 13):
    perm = mx.array(np.random.default_rng(epoch).permutation(xtr.shape[0]))
    tot = 0.0
    lr_start = opt_b.learning_rate.item()
    for i in range(steps_per_epoch):
        idx = perm[i * BATCH:(i + 1) * BATCH]
        loss, grads = step_b(model, xtr[idx], ytr[idx])
        opt_b.update(model, grads)
        mx.eval(model.parameters(), opt_b.state)
        tot += loss.item()
    rmse, nll, cover = report(model, xva, yva)
    tag = " <- restart" if (epoch - 4) % 3 == 0 and epoch > 4 else ""
    print(f"stage B epoch {epoch:2d} | lr {lr_start:.2e}->{opt_b.learning_rate.item():.2e} | "
          f"train_nll {tot / steps_per_epoch:+.4f} | val_nll {nll:+.4f} | val_rmse {rmse:.4f} | "
          f"cover90 {cover:.3f}{tag}")

rmse, nll, cover = report(model, xva, yva)
print(f"final: val_rmse {rmse:.4f} vs baseline {base_rmse:.4f} | val_nll {nll:+.4f} vs baseline {base_nll:+.4f} "
      f"| 90% interval coverage {cover:.3f} | {time.time() - t0:.1f}s")
