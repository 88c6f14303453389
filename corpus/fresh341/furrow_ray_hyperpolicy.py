import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np

# Drip irrigation planner: one hypernetwork emits the weights of a small
# dosing net for any trade-off weight lam in [0, 1] between crop water
# stress and water spent. Sweeping lam is supposed to trace a frontier:
# stress goes UP and water goes DOWN as lam grows.

rng = np.random.default_rng(11)
mx.random.seed(11)
D, H = 7, 16
WATER_PRICE = 0.6


def make_fields(n):
    x = rng.normal(size=(n, D)).astype(np.float32)
    # hidden agronomy: daily deficit in mm (>= 0)
    need = 3.0 + 1.2 * x[:, 0] - 0.8 * x[:, 1] + 0.5 * x[:, 2] * x[:, 3] + 0.6 * np.tanh(x[:, 4])
    need = np.maximum(need + rng.normal(0, 0.3, size=n), 0.0).astype(np.float32)
    return x, need


xtr, ntr = make_fields(8000)
xte, nte = make_fields(2000)

SIZES = [(D, H), (H,), (H, 1), (1,)]
N_TARGET = sum(int(np.prod(s)) for s in SIZES)


class RayHyper(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(2, 64), nn.SiLU(), nn.Linear(64, 64), nn.SiLU())
        self.out = nn.Linear(64, N_TARGET)
        self.out.weight = self.out.weight * 0.1

    def target_params(self, lam):
        ray = mx.array([[lam, 1.0 - lam]]) if isinstance(lam, float) else mx.stack([lam, 1.0 - lam], axis=-1)[None]
        flat = self.out(self.body(ray))[0]
        parts, i = [], 0
        for s in SIZES:
            n = int(np.prod(s))
            parts.append(flat[i:i + n].reshape(s))
            i += n
        return parts

    def __call__(self, x, lam):
        w1, b1, w2, b2 = self.target_params(lam)
        w1 = w1 * (1.0 / np.sqrt(D))
        h = nn.silu(x @ w1 + b1)
        return nn.softplus(3.0 * (h @ w2 + b2)[:, 0] + 1.0)     # dose in mm, >= 0


def objectives(dose, need):
    stress = mx.mean(mx.maximum(need - dose, 0.0) ** 2)
    water = WATER_PRICE * mx.mean(dose ** 2)
    return stress, water


def loss_fn(model, x, need, lam):
    s, w = objectives(model(x, lam), need)
    return (1.0 - lam) * s + lam * w


def oracle(need, lam):
    # per-field minimiser of (1-lam)(need-a)^2 + lam*c*a^2
    a = (1.0 - lam) * need / ((1.0 - lam) + lam * WATER_PRICE)
    s = np.mean(np.maximum(need - a, 0) ** 2)
    w = WATER_PRICE * np.mean(a ** 2)
    return (1 - lam) * s + lam * w


# SGDR: three cosine cycles, each restarting at the peak rate
CYCLES = [700, 700, 1000]
PEAKS = [3e-4, 2e-4, 1.2e-4]
sched = optim.join_schedules(
    [optim.cosine_decay(p, n, p * 0.05) for p, n in zip(PEAKS, CYCLES)],
    list(np.cumsum(CYCLES)[:-1]),
)
model = RayHyper()
mx.eval(model.parameters())
opt = optim.Lion(learning_rate=sched, weight_decay=1e-3)
vg = nn.value_and_grad(model, loss_fn)
TOTAL = sum(CYCLES)
BATCH = 128
LAMS = [0.1, 0.3, 0.5, 0.7, 0.9]

print("irrigation frontier hypernetwork")
print(f"fields train={len(xtr)} test={len(xte)} target_net_params={N_TARGET} lion steps={TOTAL} restarts_at={[int(c) for c in np.cumsum(CYCLES)[:-1]]}")
print("\t".join(["step", "lr", "mixed_loss", "gap_to_oracle@0.5", "secs"]))

xt_m, nt_m = mx.array(xte), mx.array(nte)
t0 = time.time()
window = []
for step in range(1, TOTAL + 1):
    idx = rng.integers(0, len(xtr), BATCH)
    lam = mx.array(float(rng.uniform(0.0, 1.0)))
    loss, grads = vg(model, mx.array(xtr[idx]), mx.array(ntr[idx]), lam)
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state, loss)
    window.append(loss.item())
    if step % 200 == 0 or step == 1:
        mid = loss_fn(model, xt_m, nt_m, 0.5).item() - oracle(nte, 0.5)
        print(f"{step}\t{float(opt.learning_rate):.2e}\t{np.mean(window):.4f}\t{mid:.4f}\t{time.time() - t0:.1f}")
        window = []

print()
print("\t".join(["lam", "stress_mm2", "water_cost", "mixed", "oracle", "gap"]))
for lam in LAMS:
    s, w = objectives(model(xt_m, lam), nt_m)
    mixed = (1 - lam) * s.item() + lam * w.item()
    o = oracle(nte, lam)
    print(f"{lam:.1f}\t{s.item():.4f}\t{w.item():.4f}\t{mixed:.4f}\t{o:.4f}\t{mixed - o:.4f}")

# dense sweep for the report (no output while it runs)
grid = np.linspace(0.02, 0.98, 49)
gaps, stresses = [], []
for lam in grid:
    for _ in range(20):
        s, w = objectives(model(xt_m, float(lam)), nt_m)
        mx.eval(s, w)
    stresses.append(s.item())
    gaps.append((1 - lam) * s.item() + lam * w.item() - oracle(nte, float(lam)))
mono = int(np.sum(np.diff(stresses) > 0))
print()
print(f"sweep points={len(grid)} max_gap={max(gaps):.4f} mean_gap={np.mean(gaps):.4f} stress_rising_steps={mono}/{len(grid) - 1}")
print(f"done in {time.time() - t0:.1f}s")
