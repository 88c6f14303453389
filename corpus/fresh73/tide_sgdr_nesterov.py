# Harbour tide gauge: predict water level (m) from astronomical phase features.
# Hand-written Nesterov SGD on a tree of params, SGDR (cosine with warm restarts,
# cycle length doubling), loss shown as a bias-corrected EMA; skill = NSE.
import math, time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
from mlx.utils import tree_flatten, tree_map

rs = np.random.default_rng(11)
# constituents: M2, S2, K1, O1, N2 (periods in hours)
PER = np.array([12.4206, 12.0, 23.9345, 25.8193, 12.6583])
AMP = np.array([1.20, 0.42, 0.30, 0.22, 0.25])
PH = rs.uniform(0, 2 * np.pi, 5)

def make(hours):
    t = hours[:, None]
    ang = 2 * np.pi * t / PER + PH
    surge = 0.15 * np.sin(2 * np.pi * hours / (24 * 9.3))      # weather surge, not in features
    level = (AMP * np.cos(ang)).sum(1) + 0.06 * np.cos(ang[:, 0]) ** 2 + surge
    level = level + rs.normal(0, 0.05, len(hours))
    # features: only the phase of each constituent, as sin/cos (10 inputs)
    feats = np.concatenate([np.sin(2 * np.pi * t / PER), np.cos(2 * np.pi * t / PER)], 1)
    return feats.astype(np.float32), level.astype(np.float32)

Xtr, ytr = make(np.sort(rs.uniform(0, 24 * 300, 30000)))
Xva, yva = make(np.sort(rs.uniform(0, 24 * 300, 1440)))
mu, sd = ytr.mean(), ytr.std()
Xtr, Xva = mx.array(Xtr), mx.array(Xva)
ytr_n, yva_m = mx.array((ytr - mu) / sd), mx.array(yva)

class TideNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(10, 128)
        self.l2 = nn.Linear(128, 128)
        self.l3 = nn.Linear(128, 1)
    def __call__(self, x):
        return self.l3(nn.tanh(self.l2(nn.tanh(self.l1(x))))).squeeze(-1)

mx.random.seed(3)
net = TideNet()
mx.eval(net.parameters())

def mse(model, x, y):
    return ((model(x) - y) ** 2).mean()

vg = nn.value_and_grad(net, mse)

def nse():
    pred = net(Xva) * sd + mu
    return 1.0 - (((pred - yva_m) ** 2).sum() / ((yva_m - yva_m.mean()) ** 2).sum()).item()

# SGDR: T0 = 300 steps, T_mult = 2, 3 cycles -> 300 + 600 + 1200 = 2100 steps
LR_MAX, LR_MIN, T0 = 0.05, 5e-4, 300
cycles = [T0 * 2 ** k for k in range(3)]
TOTAL = sum(cycles)

def lr_at(step):
    s = step
    for k, T in enumerate(cycles):
        if s < T:
            return LR_MIN + 0.5 * (LR_MAX - LR_MIN) * (1 + math.cos(math.pi * s / T)), k
        s -= T
    return LR_MIN, len(cycles) - 1

MOM = 0.9
vel = tree_map(mx.zeros_like, net.parameters())
B = 256
ema, beta = 0.0, 0.98

l0, g0 = vg(net, Xtr[:B], ytr_n[:B])
flat = tree_flatten(g0)
print(f"gauge: {Xtr.shape[0]} training hours, {Xva.shape[0]} held-out random hours, "
      f"level sd {sd:.3f} m")
print(f"step-0 gradient: {sum(1 for _, a in flat if mx.abs(a).max().item() > 0)}/{len(flat)} "
      f"leaves non-zero, loss {l0.item():.3f}; untrained NSE {nse():.3f}")

t0 = time.time()
perm = np.array([], dtype=np.int64); pos = 0
prev_cycle = 0
for step in range(TOTAL):
    if pos + B > len(perm):
        perm = rs.permutation(Xtr.shape[0]); pos = 0
    idx = mx.array(perm[pos:pos + B]); pos += B
    lr, cyc = lr_at(step)
    if cyc != prev_cycle:
        print(f"  -- warm restart: cycle {cyc + 1} begins, lr back to {lr:.3g}, length {cycles[cyc]} steps")
        prev_cycle = cyc
    loss, g = vg(net, Xtr[idx], ytr_n[idx])
    # Nesterov: v <- mu v + g ; p <- p - lr (g + mu v)
    vel = tree_map(lambda v, gg: MOM * v + gg, vel, g)
    upd = tree_map(lambda p, gg, v: p - lr * (gg + MOM * v), net.parameters(), g, vel)
    net.update(upd)
    mx.eval(net.parameters(), vel, loss)
    ema = beta * ema + (1 - beta) * loss.item()
    if (step + 1) % 150 == 0:
        ema_hat = ema / (1 - beta ** (step + 1))
        print(f"t+{time.time() - t0:6.1f}s  cycle {cyc + 1}/3  step {step + 1:4d}  lr {lr:.2e}  "
              f"ema_loss {ema_hat:.4f}  NSE {nse():.4f}")
rmse = math.sqrt(((net(Xva) * sd + mu - yva_m) ** 2).mean().item())
print(f"final: NSE {nse():.4f} (1 = perfect, 0 = no better than the mean level), RMSE {100 * rmse:.1f} cm")
