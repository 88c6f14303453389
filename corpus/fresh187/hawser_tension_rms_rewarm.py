# Harbour berth monitoring: peak mooring-hawser tension (kN) of a berthed ship from quay sensor readings.
# RMSprop, LR ramps from exactly 0, two cosine cycles (the 2nd restarts at a higher peak), JSON lines.
import json
import math
import time
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

mx.random.seed(11)
N_TR, N_VA = 3000, 600


def synth(n):
    k = mx.random.uniform(shape=(n, 6))
    wind = 2 + 20 * k[:, 0]              # beam wind, m/s
    current = 0.1 + 1.4 * k[:, 1]        # tidal current, knots
    disp = 5 + 45 * k[:, 2]              # ship displacement, kt
    length = 20 + 60 * k[:, 3]           # hawser length, m
    stiff = k[:, 4]                      # line stiffness index (0 nylon .. 1 HMPE)
    swell = 0.2 + 1.8 * k[:, 5]          # long-period swell, m
    gust = mx.maximum(wind - 12, 0) / 4.0
    tension = (
        60 + 18 * gust ** 2 + 14 * current * disp / 25 + 9 * swell * (0.5 + stiff)
        + 12 * mx.sin(3 * stiff) - 0.25 * (length - 50)
    )
    y = tension + 2.5 * mx.random.normal((n,))
    X = mx.stack([wind, current, disp, length, stiff, swell], axis=1)
    return X, y[:, None]


Xtr, ytr = synth(N_TR)
Xva, yva = synth(N_VA)
mu, sd = Xtr.mean(axis=0), Xtr.std(axis=0)
ym, ys = ytr.mean(), ytr.std()
Xtr, Xva = (Xtr - mu) / sd, (Xva - mu) / sd
baseline_mse = (((yva - ym)) ** 2).mean().item()


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.inp = nn.Linear(6, 64)
        self.h1 = nn.Linear(64, 64)
        self.h2 = nn.Linear(64, 64)
        self.out = nn.Linear(64, 1)

    def __call__(self, x):
        h = nn.silu(self.inp(x))
        h = h + nn.silu(self.h1(h))
        h = h + nn.silu(self.h2(h))
        return self.out(h)


model = Net()
mx.eval(model.parameters())
opt = optim.RMSprop(learning_rate=0.0, alpha=0.95)

# schedule: 60-step linear warmup from 0 to 3e-3, cosine to 0 over cycle 1 (600 steps),
# then a restart: cycle 2 (600 steps) peaks at 4e-3 -> the loss rises for a while.
CYCLES = [(0, 600, 3e-3), (600, 1200, 4e-3)]
WARM = 60


def lr_at(step):
    for start, end, peak in CYCLES:
        if start <= step < end:
            t = step - start
            if t < WARM:
                return peak * t / WARM
            frac = (t - WARM) / (end - start - WARM)
            return peak * 0.5 * (1 + math.cos(math.pi * frac))
    return 0.0


def loss_fn(m, x, y):
    return nn.losses.mse_loss(m(x), (y - ym) / ys)


vg = nn.value_and_grad(model, loss_fn)
t0 = time.time()
BS = 100
first_grads_checked = False
for step in range(1200):
    idx = mx.random.randint(0, N_TR, (BS,))
    opt.learning_rate = lr_at(step)
    loss, grads = vg(model, Xtr[idx], ytr[idx])
    if not first_grads_checked:
        norms = {k: mx.linalg.norm(v).item() for k, v in nn.utils.tree_flatten(grads)}
        print(json.dumps({"check": "grad_norms_step0", "min": round(min(norms.values()), 5),
                          "n_params": len(norms), "zero": [k for k, v in norms.items() if v == 0]}))
        first_grads_checked = True
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state, loss)
    if step % 100 == 0 or step == 1199:
        pred = model(Xva) * ys + ym
        va_mse = ((pred - yva) ** 2).mean().item()
        print(json.dumps({
            "step": step, "cycle": 1 if step < 600 else 2, "lr": round(lr_at(step), 6),
            "train_mse_std": round(loss.item(), 4), "val_mse": round(va_mse, 3),
            "baseline_mse": round(baseline_mse, 3),
            "r2_pct": round(100 * (1 - va_mse / baseline_mse), 2),
        }))
print(json.dumps({"done": True, "seconds": round(time.time() - t0, 2)}))
