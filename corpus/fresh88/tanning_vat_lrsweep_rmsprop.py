# Tannery: leather thickness gain (mm) after a vegetable-tanning vat, from vat features.
# LR range test first (loss blows up at the end of the sweep by design), then a real run
# from FRESH weights with lr = (best sweep lr) / 10.
import time, math
from dataclasses import dataclass
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

@dataclass
class Report:
    phase: str
    step: int
    lr: float
    loss: object
    val_mae_mm: float = float("nan")

rng = np.random.default_rng(7)
def make(n):
    X = rng.normal(size=(n, 5)).astype(np.float32)  # tannin %, days, temp, pH, hide weight
    y = 0.4 + 0.25 * np.tanh(X[:, 0]) + 0.15 * X[:, 1] - 0.1 * X[:, 2] * X[:, 3] + 0.05 * X[:, 4] ** 2
    y = y + 0.03 * rng.normal(size=n)
    return X, y.astype(np.float32)
Xtr, ytr = make(6000); Xva, yva = make(1500)
mu, sd = ytr.mean(), ytr.std()
Xtr_m, ytr_m = mx.array(Xtr), mx.array((ytr - mu) / sd)
Xva_m = mx.array(Xva)

class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(5, 64); self.l2 = nn.Linear(64, 64); self.out = nn.Linear(64, 1)
    def __call__(self, x):
        return self.out(nn.silu(self.l2(nn.silu(self.l1(x))))).squeeze(-1)

def loss_fn(m, x, y):
    return nn.losses.mse_loss(m(x), y)

def val_mae(m):
    p = m(Xva_m) * sd + mu
    return float(mx.mean(mx.abs(p - mx.array(yva))))

def batches(bs, seed):
    r = np.random.default_rng(seed)
    while True:
        perm = r.permutation(len(Xtr))
        for i in range(0, len(perm) - bs + 1, bs):
            idx = mx.array(perm[i:i + bs])
            yield Xtr_m[idx], ytr_m[idx]

# ---- phase 1: LR range test (exponential sweep 1e-5 -> 3) ----
mx.random.seed(0)
net = Net(); opt = optim.RMSprop(learning_rate=1e-5)
vg = nn.value_and_grad(net, loss_fn)
n_sweep = 120; lo, hi = 1e-5, 3.0
smooth, best, best_lr, it = 0.0, float("inf"), None, batches(64, 1)
t0 = time.time()
for k in range(n_sweep):
    lr = lo * (hi / lo) ** (k / (n_sweep - 1))
    opt.learning_rate = lr
    x, y = next(it)
    loss, g = vg(net, x, y)
    opt.update(net, g); mx.eval(net.parameters(), opt.state, loss)
    l = loss.item()
    smooth = 0.9 * smooth + 0.1 * l if k else l
    if k % 15 == 0 or not math.isfinite(l):
        print(Report("sweep", k, round(lr, 7), round(l, 5)))
    if math.isfinite(smooth) and smooth < best:
        best, best_lr = smooth, lr
    if not math.isfinite(l) or smooth > 4 * best:
        print(Report("sweep", k, round(lr, 7), round(l, 5)), "-> stopped, loss exploded")
        break
pick = best_lr / 10
print(f"# sweep done in {time.time()-t0:.1f}s: best smoothed loss {best:.4f} at lr {best_lr:.2e}; using lr {pick:.2e}")

# ---- phase 2: real training from fresh weights ----
mx.random.seed(1)
net = Net(); opt = optim.RMSprop(learning_rate=pick)
vg = nn.value_and_grad(net, loss_fn)
it = batches(64, 2)
print(Report("train", 0, round(pick, 7), None, round(val_mae(net), 4)))
win = []
for step in range(1, 2401):
    x, y = next(it)
    loss, g = vg(net, x, y)
    if step == 1:
        leaves = tree_flatten(g)
        zero = [k for k, v in leaves if float(mx.max(mx.abs(v))) == 0.0]
        print(f"# first-step gradient: {len(leaves)} leaves, all-zero leaves: {zero}")
    opt.update(net, g); mx.eval(net.parameters(), opt.state, loss)
    win.append(loss.item())
    if step % 300 == 0:
        print(Report("train", step, round(pick, 7), round(sum(win) / len(win), 5), round(val_mae(net), 4)))
        win = []
print(f"# done in {time.time()-t0:.1f}s; noise floor MAE ~ {0.03*math.sqrt(2/math.pi):.4f} mm, predict-mean MAE {np.mean(np.abs(yva-mu)):.4f} mm")
