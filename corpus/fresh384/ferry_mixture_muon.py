"""Ferry crossing fuel burn: learn from a hull simulator first, then blend in real voyage logs."""
import os
import tempfile
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

rng = np.random.default_rng(7)
mx.random.seed(7)
FEATS = ["wind_kn", "head_angle", "wave_m", "load_t", "speed_kn", "hull_days", "current_kn"]


def draw(n):
    wind = rng.uniform(0, 35, n)
    ang = rng.uniform(-1, 1, n)          # cos of wind angle to bow
    wave = rng.gamma(2.0, 0.5, n)
    load = rng.uniform(20, 180, n)
    speed = rng.uniform(8, 16, n)
    fouling = rng.uniform(0, 400, n)
    cur = rng.normal(0, 1.2, n)
    return np.stack([wind, ang, wave, load, speed, fouling, cur], 1)


def sim_burn(X):
    wind, ang, wave, load, speed, fouling, cur = X.T
    return 0.055 * speed ** 2.6 * (1 + load / 400) + 1.8 * wind * np.maximum(ang, 0) + 9 * wave


def real_burn(X):
    wind, ang, wave, load, speed, fouling, cur = X.T
    base = sim_burn(X) * (1 + fouling / 900)
    return base + 6 * cur * np.sign(ang + 1e-3) + 3.5 * wave * np.maximum(ang, 0) * wind / 10


X_sim = draw(30000)
y_sim = sim_burn(X_sim) + rng.normal(0, 4, len(X_sim))
X_log = draw(2400)
y_log = real_burn(X_log) + rng.normal(0, 14, len(X_log))
X_te = draw(3000)
y_te = real_burn(X_te) + rng.normal(0, 14, len(X_te))

mu, sd = X_sim.mean(0), X_sim.std(0)
ymu, ysd = y_sim.mean(), y_sim.std()
zx = lambda X: mx.array(((X - mu) / sd).astype(np.float32))
zy = lambda y: mx.array(((y - ymu) / ysd).astype(np.float32))
Xs, Ys, Xl, Yl, Xt = zx(X_sim), zy(y_sim), zx(X_log), zy(y_log), zx(X_te)


class BurnNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(7, 64)
        self.l2 = nn.Linear(64, 64)
        self.out = nn.Linear(64, 1)

    def __call__(self, x):
        h = nn.silu(self.l1(x))
        h = h + nn.silu(self.l2(h))
        return self.out(h).squeeze(-1)


def make_opt():
    return optim.MultiOptimizer(
        [optim.Muon(learning_rate=0.02, momentum=0.95, weight_decay=0.0), optim.Adam(learning_rate=2e-3)],
        [lambda name, w: w.ndim == 2],
    )


def loss_fn(model, x, y):
    return nn.losses.mse_loss(model(x), y)


def test_rmse(model):
    pred = np.array(model(Xt)) * ysd + ymu
    return float(np.sqrt(np.mean((pred - y_te) ** 2)))


mean_base = float(np.sqrt(np.mean((y_log.mean() - y_te) ** 2)))
sim_base = float(np.sqrt(np.mean((sim_burn(X_te) - y_te) ** 2)))
print(f"voyages: simulator {len(X_sim)} | logged {len(X_log)} | held-out logged {len(X_te)}")
print(f"reference rmse (litres/crossing): fleet mean {mean_base:.1f} | simulator formula {sim_base:.1f}")

PHASES = [("hull simulator only", 1.0, 500), ("blend", 0.6, 400), ("mostly logs", 0.2, 600)]
B = 128


def run_phase(model, opt, share_sim, steps, t0, step0):
    vg = nn.value_and_grad(model, loss_fn)
    ns = int(round(B * share_sim))
    window = []
    for s in range(1, steps + 1):
        parts_x, parts_y = [], []
        if ns:
            i = mx.array(rng.integers(0, Xs.shape[0], ns))
            parts_x.append(Xs[i]); parts_y.append(Ys[i])
        if B - ns:
            j = mx.array(rng.integers(0, Xl.shape[0], B - ns))
            parts_x.append(Xl[j]); parts_y.append(Yl[j])
        x = mx.concatenate(parts_x); y = mx.concatenate(parts_y)
        loss, g = vg(model, x, y)
        opt.update(model, g)
        mx.eval(model.parameters(), opt.state, loss)
        window.append(loss.item())
        if s % 100 == 0 or s == steps:
            print(f"  {step0 + s:5d} {np.mean(window):10.4f} {test_rmse(model):12.1f} {time.time() - t0:7.1f}s")
            window = []


t0 = time.time()
model = BurnNet()
mx.eval(model.parameters())
opt = make_opt()
print(f"untrained held-out rmse {test_rmse(model):.1f}")
step = 0
ckpt = tempfile.mkdtemp()
for k, (label, share, steps) in enumerate(PHASES[:2], 1):
    print(f"=== phase {k}/3: {label} | batch mix sim {share:.0%} / logs {1 - share:.0%} | {steps} steps ===")
    print(f"  {'step':>5} {'train_mse_z':>10} {'test_rmse_L':>12} {'elapsed':>8}")
    run_phase(model, opt, share, steps, t0, step)
    step += steps

model.save_weights(os.path.join(ckpt, "burn.safetensors"))
mx.savez(os.path.join(ckpt, "opt.npz"), **dict(tree_flatten(opt.state)))
saved_rmse = test_rmse(model)
print(f"checkpoint written after step {step} (held-out rmse {saved_rmse:.1f}); starting a new process state")
del model, opt

model = BurnNet()
model.load_weights(os.path.join(ckpt, "burn.safetensors"))
opt = make_opt()
opt.init(model.trainable_parameters())
opt.state = tree_unflatten(list(mx.load(os.path.join(ckpt, "opt.npz")).items()))
mx.eval(model.parameters(), opt.state)
print(f"resumed: held-out rmse {test_rmse(model):.1f} (saved {saved_rmse:.1f})")
label, share, steps = PHASES[2]
print(f"=== phase 3/3: {label} | batch mix sim {share:.0%} / logs {1 - share:.0%} | {steps} steps ===")
print(f"  {'step':>5} {'train_mse_z':>10} {'test_rmse_L':>12} {'elapsed':>8}")
run_phase(model, opt, share, steps, t0, step)
final = test_rmse(model)
print(f"done: held-out rmse {final:.1f} litres vs fleet mean {mean_base:.1f} and simulator formula {sim_base:.1f}")
