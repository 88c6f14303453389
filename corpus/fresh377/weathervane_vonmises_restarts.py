# Rooftop weather-vane network: predict the wind direction a vane will settle on
# from nearby sensor readings. The target is an angle, so the model outputs a
# von Mises distribution (mean direction + concentration) and is trained on its
# negative log-likelihood. That NLL goes below zero once the model is confident,
# and the warm-restart schedule makes the loss jump up at each restart.
import math
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np

rng = np.random.default_rng(7)
mx.random.seed(7)

N_TRAIN, N_VAL = 6000, 1500


def make_readings(n):
    # pressure gradient east/north, temperature difference sea-land,
    # hour of day (as sin/cos), humidity, a pure-noise channel
    dpx = rng.normal(0, 1, n)
    dpy = rng.normal(0, 1, n)
    dtemp = rng.normal(0, 1, n)
    hour = rng.uniform(0, 24, n)
    hum = rng.uniform(0, 1, n)
    junk = rng.normal(0, 1, n)
    # geostrophic-ish direction rotated by a sea-breeze term
    base = np.arctan2(dpy, dpx) + 0.5 * np.pi
    breeze = 0.6 * np.tanh(dtemp) * np.sin(2 * np.pi * hour / 24)
    strength = np.hypot(dpx, dpy)
    # gusty when the gradient is weak -> heteroscedastic direction noise
    noise = rng.vonmises(0.0, 6.0 + 30.0 * strength, n)
    theta = np.angle(np.exp(1j * (base + breeze + noise)))
    x = np.stack(
        [dpx, dpy, dtemp, np.sin(2 * np.pi * hour / 24),
         np.cos(2 * np.pi * hour / 24), hum, junk], axis=1
    ).astype(np.float32)
    return x, theta.astype(np.float32)


xtr, ytr = make_readings(N_TRAIN)
xva, yva = make_readings(N_VAL)
mu_x, sd_x = xtr.mean(0), xtr.std(0) + 1e-6
xtr = (xtr - mu_x) / sd_x
xva = (xva - mu_x) / sd_x
Xtr, Ytr = mx.array(xtr), mx.array(ytr)
Xva, Yva = mx.array(xva), mx.array(yva)


def log_i0(k):
    # Abramowitz & Stegun 9.8.1 / 9.8.2, each branch fed a clamped argument so
    # the unused branch never sees values that blow up
    ks = mx.minimum(k, 3.75)
    t = (ks / 3.75) ** 2
    small = mx.log(
        1 + t * (3.5156229 + t * (3.0899424 + t * (1.2067492 + t * (
            0.2659732 + t * (0.0360768 + t * 0.0045813)))))
    )
    kl = mx.maximum(k, 3.75)
    u = 3.75 / kl
    poly = 0.39894228 + u * (0.01328592 + u * (0.00225319 + u * (
        -0.00157565 + u * (0.00916281 + u * (-0.02057706 + u * (
            0.02635537 + u * (-0.01647633 + u * 0.00392377)))))))
    large = kl - 0.5 * mx.log(kl) + mx.log(poly)
    return mx.where(k <= 3.75, small, large)


class VaneNet(nn.Module):
    def __init__(self, d_in=7, hidden=96):
        super().__init__()
        self.body = nn.Sequential(
            nn.Linear(d_in, hidden), nn.SiLU(),
            nn.Linear(hidden, hidden), nn.SiLU(),
        )
        self.direction = nn.Linear(hidden, 2)
        self.concentration = nn.Linear(hidden, 1)

    def __call__(self, x):
        h = self.body(x)
        v = self.direction(h)
        mu = mx.arctan2(v[:, 1], v[:, 0])
        kappa = nn.softplus(self.concentration(h)[:, 0]) + 1e-3
        return mu, kappa


def vonmises_nll(model, x, y):
    mu, kappa = model(x)
    nll = -kappa * mx.cos(y - mu) + math.log(2 * math.pi) + log_i0(kappa)
    return nll.mean()


def angular_error_deg(a, b):
    d = mx.abs(mx.arctan2(mx.sin(a - b), mx.cos(a - b)))
    return (d * 180.0 / math.pi).mean().item()


model = VaneNet()
mx.eval(model.parameters())

# warm restarts: four cosine cycles of growing length, each restarting at peak
cycles = [150, 300, 450, 600]
peak = 3e-3
schedules = [optim.cosine_decay(peak, c, end=1e-5) for c in cycles]
boundaries = list(np.cumsum(cycles)[:-1])
lr_schedule = optim.join_schedules(schedules, [int(b) for b in boundaries])
total_steps = int(sum(cycles))

opt = optim.AdamW(learning_rate=lr_schedule, weight_decay=1e-4)
loss_and_grad = nn.value_and_grad(model, vonmises_nll)

# baselines the vane crew already uses
clim = math.atan2(float(np.sin(ytr).mean()), float(np.cos(ytr).mean()))
clim_err = angular_error_deg(mx.full(Yva.shape, clim), Yva)
geo_err = angular_error_deg(
    mx.array(np.arctan2(xva[:, 1] * sd_x[1] + mu_x[1],
                        xva[:, 0] * sd_x[0] + mu_x[0]) + 0.5 * np.pi), Yva
)
print(f"baseline climatology mean direction: val angular error {clim_err:.1f} deg")
print(f"baseline pressure-gradient rule    : val angular error {geo_err:.1f} deg")

batch = 128
step = 0
t0 = time.time()
restart_steps = set(int(b) for b in boundaries)
for cyc, length in enumerate(cycles):
    window = []
    for _ in range(length):
        idx = mx.array(rng.integers(0, N_TRAIN, batch))
        loss, grads = loss_and_grad(model, Xtr[idx], Ytr[idx])
        grads, gnorm = optim.clip_grad_norm(grads, 5.0)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        window.append(loss.item())
        step += 1
        # only report right after a restart and at the end of each cycle
        if step - 1 in restart_steps and len(window) <= 3:
            print(f"  step {step:5d}  restart  lr {lr_schedule(step - 1).item():.2e}  "
                  f"loss {window[-1]:+.4f}")
    val_nll = vonmises_nll(model, Xva, Yva).item()
    mu_va, kappa_va = model(Xva)
    err = angular_error_deg(mu_va, Yva)
    print(f"cycle {cyc + 1}/{len(cycles)}  step {step:5d}  lr {lr_schedule(step - 1).item():.2e}  "
          f"train nll (last 50) {np.mean(window[-50:]):+.4f}  val nll {val_nll:+.4f}  "
          f"val angular error {err:.1f} deg  median kappa {np.median(np.array(kappa_va)):.2f}")

print(f"finished {total_steps} steps in {time.time() - t0:.1f}s")
mu_va, _ = model(Xva)
final_err = angular_error_deg(mu_va, Yva)
print(f"final val angular error {final_err:.1f} deg "
      f"(climatology {clim_err:.1f}, pressure rule {geo_err:.1f})")
