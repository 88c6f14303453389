# Chimney sweep log: soot depth (mm) predicted from burn hours, wood moisture,
# flue height, stove efficiency and liner flag. Data arrive as a stream of
# jobs; a reservoir replay buffer grows up to a cap and then holds its size.
import time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

rng = np.random.default_rng(7)
mx.random.seed(7)

def draw_jobs(n):
    hours = rng.uniform(50, 800, n)
    moist = rng.uniform(10, 35, n)
    flue = rng.uniform(3, 12, n)
    eff = rng.uniform(0.5, 0.85, n)
    liner = rng.integers(0, 2, n).astype(np.float64)
    soot = (0.004 * hours * (1 + 0.05 * (moist - 15)) * (1.4 - eff)
            + 0.3 * np.sqrt(flue) - 0.8 * liner + rng.normal(0, 0.25, n))
    X = np.stack([hours / 400 - 1, (moist - 22) / 7, (flue - 7.5) / 3,
                  (eff - 0.675) / 0.1, liner - 0.5], 1)
    return X.astype(np.float32), soot.astype(np.float32)

class Reservoir:
    def __init__(self, cap, dim):
        self.cap, self.seen = cap, 0
        self.X = np.zeros((cap, dim), np.float32)
        self.y = np.zeros(cap, np.float32)
    def __len__(self):
        return min(self.seen, self.cap)
    def add(self, X, y):
        for xi, yi in zip(X, y):
            if self.seen < self.cap:
                j = self.seen
            else:
                j = rng.integers(0, self.seen + 1)
            if j < self.cap:
                self.X[j], self.y[j] = xi, yi
            self.seen += 1
    def sample(self, k):
        idx = rng.integers(0, len(self), k)
        return mx.array(self.X[idx]), mx.array(self.y[idx])

class SootNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(5, 64)
        self.l2 = nn.Linear(64, 64)
        self.out = nn.Linear(64, 1)
    def __call__(self, x):
        h = nn.tanh(self.l1(x))
        h = nn.tanh(self.l2(h))
        return self.out(h).squeeze(-1)

def loss_fn(model, X, y):
    return nn.losses.huber_loss(model(X), y, delta=1.0, reduction="mean")

Xte, yte = draw_jobs(2000)
Xte_m, yte_m = mx.array(Xte), mx.array(yte)
model = SootNet()
opt = optim.Lion(learning_rate=3e-4, weight_decay=0.01)
step_fn = nn.value_and_grad(model, loss_fn)
buf = Reservoir(cap=4000, dim=5)

def test_mae():
    return mx.mean(mx.abs(model(Xte_m) - yte_m)).item()

print(f"chimney-log :: test jobs {len(yte)}, soot mean {yte.mean():.2f} mm, "
      f"predict-mean MAE {np.abs(yte - yte.mean()).mean():.3f} mm")
print(f"chimney-log :: day 0, untrained test MAE {test_mae():.3f} mm")
t0 = time.perf_counter()
window = []
for day in range(1, 121):
    Xn, yn = draw_jobs(100)          # 100 new jobs logged per day
    buf.add(Xn, yn)
    for _ in range(20):
        Xb, yb = buf.sample(64)
        loss, grads = step_fn(model, Xb, yb)
        if day == 1 and not window:
            leaves = tree_flatten(grads)
            zero = [k for k, g in leaves if mx.all(g == 0).item()]
            print(f"chimney-log :: first step gradient leaves {len(leaves)}, all-zero {zero}")
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        window.append(loss.item())
    if day % 15 == 0:
        print(f"chimney-log :: day {day:3d} | buffer {len(buf):4d}/{buf.cap} (seen {buf.seen:5d}) "
              f"| huber(last 300 steps) {np.mean(window[-300:]):.4f} | test MAE {test_mae():.3f} mm "
              f"| {time.perf_counter() - t0:.1f}s")
print(f"chimney-log :: done, noise-floor MAE about {0.25 * np.sqrt(2 / np.pi):.3f} mm")
