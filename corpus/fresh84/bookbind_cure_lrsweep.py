"""Bookbinding: predict PVA glue cure time (minutes) of a spine from workshop readings.
First a learning-rate range test on a throwaway model, then the real run from fresh weights."""
import math, sys, time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

rng = np.random.default_rng(7)
N, NT = 8000, 1500
def make(n):
    temp = rng.uniform(15, 30, n); hum = rng.uniform(30, 85, n)
    glue = rng.uniform(0.1, 0.6, n); paper = rng.uniform(60, 160, n)
    fan = rng.integers(0, 2, n).astype(np.float64)
    cure = 40 * np.exp(-(temp - 20) / 18) * (1 + (hum - 50) / 90) * (0.6 + glue) * (paper / 100) ** 0.3 * (1 - 0.25 * fan)
    cure = cure + rng.normal(0, 1.0, n)
    return np.stack([temp, hum, glue, paper, fan], 1), cure
Xtr, ytr = make(N); Xte, yte = make(NT)
mu, sd = Xtr.mean(0), Xtr.std(0); ym, ys = ytr.mean(), ytr.std()
Xtr_m = mx.array(((Xtr - mu) / sd).astype(np.float32)); Xte_m = mx.array(((Xte - mu) / sd).astype(np.float32))
ytr_m = mx.array(((ytr - ym) / ys).astype(np.float32)); yte_np = yte

class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(5, 160); self.l2 = nn.Linear(160, 160); self.out = nn.Linear(160, 1)
    def __call__(self, x):
        h = nn.silu(self.l1(x)); h = h + nn.silu(self.l2(h))
        return self.out(h).squeeze(-1)

def loss_fn(m, x, y):
    return nn.losses.mse_loss(m(x), y)

def w(msg):
    sys.stdout.write("bind> " + msg + "\n"); sys.stdout.flush()

def test_rmse(m):
    p = m(Xte_m) * ys + ym
    return float(mx.sqrt(mx.mean((p - mx.array(yte_np.astype(np.float32))) ** 2)))

B = 64
w("rows %d/%d  noise floor 1.00 min  predict-mean rmse %.2f min" % (N, NT, yte.std()))

# ---- phase 1: LR range test (loss blows up at the end on purpose) ----
mx.random.seed(1)
probe = Net(); popt = optim.SGD(learning_rate=1e-4, momentum=0.9)
pvg = nn.value_and_grad(probe, loss_fn)
lrs = np.geomspace(1e-4, 10.0, 120)
smooth, best_lr, best_s, hist = 0.0, None, float("inf"), []
for i, lr in enumerate(lrs):
    popt.learning_rate = float(lr)
    idx = mx.array(rng.integers(0, N, B))
    l, g = pvg(probe, Xtr_m[idx], ytr_m[idx])
    popt.update(probe, g); mx.eval(probe.parameters(), popt.state, l)
    lv = float(l)
    smooth = 0.9 * smooth + 0.1 * lv
    s = smooth / (1 - 0.9 ** (i + 1))
    hist.append((lr, s))
    if not math.isfinite(s) or s > 4 * best_s:
        break
    if s < best_s:
        best_s, best_lr = s, lr
for lr, s in hist[::15] + [hist[-1]]:
    w("  sweep lr %.2e  smoothed mse %s" % (lr, ("%.4f" % s) if math.isfinite(s) else s))
chosen = best_lr / 10
w("sweep stopped at lr %.2e after %d steps; min at %.2e -> using %.2e" % (hist[-1][0], len(hist), best_lr, chosen))
del probe, popt

# ---- phase 2: real run from fresh weights ----
mx.random.seed(2)
model = Net(); opt = optim.SGD(learning_rate=chosen, momentum=0.9)
vg = nn.value_and_grad(model, loss_fn)
w("untrained test rmse %.2f min" % test_rmse(model))
t0 = time.time(); step = 0
for ep in range(1, 25):
    perm = rng.permutation(N); tot = 0.0; nb = 0
    for s in range(0, N - B + 1, B):
        idx = mx.array(perm[s:s + B])
        l, g = vg(model, Xtr_m[idx], ytr_m[idx])
        if step == 0:
            from mlx.utils import tree_flatten
            flat = tree_flatten(g)
            zero = [k for k, v in flat if float(mx.abs(v).max()) == 0.0]
            w("grad check: %d leaves, zero %s" % (len(flat), zero))
        opt.update(model, g); mx.eval(model.parameters(), opt.state, l)
        tot += float(l); nb += 1; step += 1
    w("epoch %d  train mse(std) %.4f  test rmse %.3f min  %.1fs" % (ep, tot / nb, test_rmse(model), time.time() - t0))
w("done: %d steps, final test rmse %.3f min (floor 1.00)" % (step, test_rmse(model)))
