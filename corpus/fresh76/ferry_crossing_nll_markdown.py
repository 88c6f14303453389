"""Ferry operations: predict crossing time (minutes) AND its uncertainty from
wind, tide, load and departure hour.  Heteroscedastic Gaussian NLL (can go
negative), Adafactor with a linear warm-up from 0, Markdown table report."""
import math
import time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

rng = np.random.default_rng(11)


def crossings(n):
    wind = rng.gamma(2.0, 4.0, n)                   # m/s
    wind_dir = rng.uniform(0, 2 * np.pi, n)
    tide = rng.uniform(-1, 1, n)                    # ebb..flood
    load = rng.uniform(0.1, 1.0, n)                 # deck load fraction
    hour = rng.integers(5, 23, n)
    head = wind * np.cos(wind_dir)
    base = 42 + 0.35 * head + 3.0 * tide + 4.0 * load + 0.02 * wind ** 2
    noise_sd = 0.6 + 0.12 * wind + 0.8 * (np.abs(tide) > 0.8)
    t = base + noise_sd * rng.normal(size=n)
    X = np.stack([wind / 10, np.cos(wind_dir), np.sin(wind_dir), tide, load,
                  np.sin(2 * np.pi * hour / 24), np.cos(2 * np.pi * hour / 24)], 1)
    return X.astype(np.float32), ((t - 45) / 10).astype(np.float32), noise_sd


Xtr, ytr, _ = crossings(24000)
Xte, yte, sd_te = crossings(3000)


class CrossingNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(7, 96), nn.GELU(), nn.Linear(96, 96), nn.GELU())
        self.mean = nn.Linear(96, 1)
        self.logvar = nn.Linear(96, 1)

    def __call__(self, x):
        h = self.body(x)
        return self.mean(h).squeeze(-1), mx.clip(self.logvar(h).squeeze(-1), -9.0, 4.0)


def nll(model, x, y):
    m, lv = model(x)
    # Gaussian NLL in nats per crossing (target in units of 10 minutes)
    return mx.mean(0.5 * (lv + (y - m) ** 2 * mx.exp(-lv) + math.log(2 * math.pi)))


mx.random.seed(5)
model = CrossingNet()
mx.eval(model.parameters())
steps, warm = 2500, 250
sched = optim.join_schedules([optim.linear_schedule(0.0, 2e-3, warm),
                              optim.cosine_decay(2e-3, steps - warm, 1e-5)], [warm])
opt = optim.Adafactor(learning_rate=sched, relative_step=False, scale_parameter=False)
vg = nn.value_and_grad(model, nll)

xb0, yb0 = mx.array(Xtr[:128]), mx.array(ytr[:128])
_, g = vg(model, xb0, yb0)
flat = tree_flatten(g)
print(f"gradient check: {len(flat)} leaves, zero: {[k for k, v in flat if not mx.any(v != 0).item()]}")


def test_metrics():
    m, lv = model(mx.array(Xte))
    yt = mx.array(yte)
    l = mx.mean(0.5 * (lv + (yt - m) ** 2 * mx.exp(-lv) + math.log(2 * math.pi))).item()
    err = np.abs(np.array(m) - yte) * 10
    sd = np.exp(0.5 * np.array(lv)) * 10
    cover = float(np.mean(err <= 1.96 * sd)) * 100
    return l, float(np.sqrt(np.mean(err ** 2))), cover, float(np.median(sd))


print("| step | lr | train nll (nats) | test nll (nats) | rmse (min) | 95% cover | median sd (min) | s |")
print("|---:|---:|---:|---:|---:|---:|---:|---:|")
t0 = time.time()
l, r, c, s = test_metrics()
print(f"| 0 | 0 | - | {l:.3f} | {r:.2f} | {c:.1f}% | {s:.2f} | 0.0 |")
window = []
for step in range(1, steps + 1):
    idx = rng.integers(0, len(Xtr), 128)
    loss, grads = vg(model, mx.array(Xtr[idx]), mx.array(ytr[idx]))
    lr_used = sched(opt.step).item()
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state, loss)
    window.append(loss.item())
    if step % 250 == 0 or step == 1:
        l, r, c, s = test_metrics()
        print(f"| {step} | {lr_used:.2e} | {np.mean(window):.3f} | {l:.3f} | {r:.2f} | {c:.1f}% | {s:.2f} | {time.time() - t0:.1f} |")
        window = []
print(f"\ntrue noise sd on the test set: median {np.median(sd_te):.2f} min; "
      f"oracle nll {np.mean(np.log(sd_te / 10) + 0.5 * math.log(2 * math.pi) + 0.5):.3f} nats")
