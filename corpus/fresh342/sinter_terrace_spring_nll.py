"""Hot-spring survey: outlet water temperature (deg C) of a spring vent,
with its own spread, from 6 borehole/weather readings.

Stage A fits the mean alone (squared error), stage B fits mean and log-variance
with the Gaussian negative log-likelihood (whose value can go below zero).
Training is quiet; a table of snapshots is printed at the end.
"""
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

rng = np.random.default_rng(21)


def survey(n):
    depth = rng.uniform(20, 400, n)            # m
    rain = rng.gamma(2.0, 6.0, n)              # mm last 48 h
    air = rng.normal(12, 7, n)                 # deg C
    flow = rng.lognormal(0.5, 0.6, n)          # L/s
    silica = rng.normal(300, 60, n)            # mg/L
    fault = rng.uniform(0, 1.5, n)             # km to fault trace
    mean = (38 + 0.08 * depth - 0.35 * rain + 0.15 * air + 4.0 * np.log(flow)
            + 0.02 * (silica - 300) - 6.0 * fault)
    spread = 0.4 + 0.08 * rain + 1.5 * np.exp(-depth / 80.0)
    t = mean + spread * rng.standard_normal(n)
    X = np.stack([depth, rain, air, np.log(flow), silica, fault], 1)
    return X, t


Xtr, ttr = survey(5000)
Xte, tte = survey(1500)
xm, xs = Xtr.mean(0), Xtr.std(0)
tm, ts = ttr.mean(), ttr.std()
Xtr_m = mx.array(((Xtr - xm) / xs).astype(np.float32))
Xte_m = mx.array(((Xte - xm) / xs).astype(np.float32))
ttr_m = mx.array(((ttr - tm) / ts).astype(np.float32))


class VentNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.trunk = nn.Sequential(nn.Linear(6, 64), nn.Tanh(), nn.Linear(64, 64), nn.Tanh())
        self.mu = nn.Linear(64, 1)
        self.logvar = nn.Linear(64, 1)

    def __call__(self, x):
        h = self.trunk(x)
        return self.mu(h).squeeze(-1), self.logvar(h).squeeze(-1)


def sq_loss(model, x, t):
    m, _ = model(x)
    return ((m - t) ** 2).mean()


def gauss_nll(model, x, t):
    m, lv = model(x)
    lv = mx.clip(lv, -8.0, 6.0)
    return (0.5 * (lv + (t - m) ** 2 * mx.exp(-lv)) + 0.5 * math.log(2 * math.pi)).mean()


def test_metrics(model):
    m, lv = model(Xte_m)
    m = np.array(m) * ts + tm
    s = np.sqrt(np.exp(np.clip(np.array(lv), -8.0, 6.0))) * ts
    mae = np.abs(m - tte).mean()
    cover = (np.abs(tte - m) <= 1.645 * s).mean()
    z = (tte - m) / s
    nll = (np.log(s) + 0.5 * z ** 2 + 0.5 * math.log(2 * math.pi)).mean()
    return mae, cover, nll


clim_mae = np.abs(tte - ttr.mean()).mean()
sd_const = ttr.std()
clim_nll = (np.log(sd_const) + 0.5 * ((tte - ttr.mean()) / sd_const) ** 2
            + 0.5 * math.log(2 * math.pi)).mean()
print(f"vents: train {len(ttr)}, test {len(tte)}; outlet temp mean {tm:.1f} C, sd {ts:.1f} C")
print(f"reference (one constant guess): test MAE {clim_mae:.2f} C, test NLL {clim_nll:.3f}, "
      f"90% band coverage 90.0% by construction on train")

mx.random.seed(5)
model = VentNet()
mx.eval(model.parameters())
opt = optim.RMSprop(learning_rate=1e-3, alpha=0.95)
snaps = []
t0 = time.time()
step = 0
for stage, fn, n_steps in (("A:mean", sq_loss, 500), ("B:nll", gauss_nll, 900)):
    grad_fn = nn.value_and_grad(model, fn)
    run = 0.0
    for i in range(n_steps):
        idx = mx.array(rng.integers(0, len(ttr), 256))
        loss, grads = grad_fn(model, Xtr_m[idx], ttr_m[idx])
        grads, gnorm = optim.clip_grad_norm(grads, 5.0)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss, gnorm)
        run = loss.item() if i == 0 else 0.97 * run + 0.03 * loss.item()
        step += 1
        if i in (0, n_steps - 1) or (i + 1) % 150 == 0:
            mae, cover, nll = test_metrics(model)
            snaps.append((stage, i, step, run, gnorm.item(), mae, 100 * cover, nll))
    if stage == "A:mean":
        opt = optim.RMSprop(learning_rate=5e-4, alpha=0.95)

print(f"(trained quietly for {step} updates in {time.time() - t0:.1f}s)")
print(f"{'stage':7s} {'it':>4s} {'upd':>5s} {'train(ema)':>11s} {'|g|':>7s} "
      f"{'MAE C':>6s} {'cov90%':>7s} {'testNLL':>8s}")
for st, i, s, r, g, mae, cov, nll in snaps:
    print(f"{st:7s} {i:4d} {s:5d} {r:11.4f} {g:7.3f} {mae:6.2f} {cov:7.1f} {nll:8.3f}")
mae, cover, nll = test_metrics(model)
print(f"final: MAE {mae:.2f} C (constant guess {clim_mae:.2f}); 90% band covers "
      f"{100 * cover:.1f}% of test vents; NLL {nll:.3f} (constant {clim_nll:.3f})")
