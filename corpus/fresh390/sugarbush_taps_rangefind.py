"""Sugarbush tap yield: litres of syrup-grade sap per tap per day from weather and tree data.
First an LR range test from the untouched initial weights, then a one-cycle run that starts
again from those same initial weights."""
import time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_map

rng = np.random.default_rng(7)
N, NV = 9000, 1500
tmax = rng.uniform(-4, 12, N + NV)          # daytime high, C
tmin = rng.uniform(-14, 4, N + NV)          # night low, C
dbh = rng.uniform(20, 70, N + NV)           # trunk diameter, cm
crown = rng.uniform(0.2, 1.0, N + NV)       # crown fraction
taps = rng.integers(1, 4, N + NV).astype(float)
snow = rng.uniform(0, 80, N + NV)           # snowpack, cm
freeze_thaw = (np.clip(tmax, 0, None) * np.clip(-tmin, 0, None)) ** 0.5
y = (0.35 * freeze_thaw + 0.04 * dbh * crown - 0.25 * (taps - 1) + 0.006 * snow
     - 0.03 * np.clip(tmin, 0, None) ** 2 + rng.normal(0, 0.25, N + NV))
y = np.clip(y, 0, None)
X = np.stack([tmax, tmin, dbh, crown, taps, snow], 1)
mu, sd = X[:N].mean(0), X[:N].std(0)
X = ((X - mu) / sd).astype(np.float32)
ym, ys = y[:N].mean(), y[:N].std()
Xtr, Xva = mx.array(X[:N]), mx.array(X[N:])
ytr, yva = mx.array(((y[:N] - ym) / ys).astype(np.float32)), y[N:]


class TapNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(6, 64)
        self.l2 = nn.Linear(64, 64)
        self.out = nn.Linear(64, 1)

    def __call__(self, x):
        h = nn.silu(self.l1(x))
        h = nn.silu(self.l2(h))
        return self.out(h).squeeze(-1)


def loss_fn(model, xb, yb):
    return nn.losses.mse_loss(model(xb), yb)


def val_rmse(model):
    p = np.array(model(Xva)) * ys + ym
    return float(np.sqrt(np.mean((p - yva) ** 2)))


mx.random.seed(11)
model = TapNet()
mx.eval(model.parameters())
init_params = tree_map(lambda a: mx.array(a), model.parameters())
print(f"sugarbush: {N} tap-days train, {NV} held out; mean-guess RMSE {np.std(yva):.3f} L")

# ---- range test: lr grows geometrically from 1e-6; stop once the smoothed loss is 4x its best
vg = nn.value_and_grad(model, loss_fn)
opt = optim.Adam(learning_rate=1e-6)
lr, grow = 1e-6, (10.0 / 1e-6) ** (1 / 250)
ema, best, best_lr, rows = 0.0, float("inf"), None, []
for k in range(1, 251):
    idx = mx.array(rng.integers(0, N, 128))
    loss, g = vg(model, Xtr[idx], ytr[idx])
    opt.learning_rate = lr
    opt.update(model, g)
    mx.eval(model.parameters(), opt.state, loss)
    ema = 0.9 * ema + 0.1 * loss.item()
    sm = ema / (1 - 0.9 ** k)
    rows.append((lr, sm))
    if sm < best:
        best, best_lr = sm, lr
    if sm > 4 * best and k > 20:
        break
    lr *= grow
print(f"range test: {len(rows)} probes, lowest smoothed loss {best:.3f} at lr {best_lr:.2e}")
for lr_k, sm in rows[::max(1, len(rows) // 14)] + ([rows[-1]] if (len(rows) - 1) % max(1, len(rows) // 14) else []):
    bar = "#" * min(60, int(sm * 20))
    print(f"  lr {lr_k:9.2e}  loss {sm:7.3f}  {bar}")
peak = min(best_lr / 10, 1e-2)
print(f"chosen peak lr {peak:.2e} (a tenth of the minimum's lr)")

# ---- real run: same initial weights, one-cycle schedule
model.update(tree_map(lambda a: mx.array(a), init_params))
steps, bs = 2100, 64
warm = int(0.3 * steps)


def one_cycle(step):
    s = step.astype(mx.float32) if isinstance(step, mx.array) else mx.array(float(step))
    up = peak / 25 + (peak - peak / 25) * s / warm
    t = mx.minimum((s - warm) / (steps - warm), 1.0)
    down = peak / 1e4 + 0.5 * (peak - peak / 1e4) * (1 + mx.cos(np.pi * t))
    return mx.where(s < warm, up, down)


opt = optim.Adam(learning_rate=one_cycle)
vg = nn.value_and_grad(model, loss_fn)
print(f"one-cycle: {steps} steps, batch {bs}, start rmse {val_rmse(model):.3f} L")
t0, run, perm, cur = time.time(), [], rng.permutation(N), 0
for step in range(1, steps + 1):
    if cur + bs > N:
        perm, cur = rng.permutation(N), 0
    idx = mx.array(perm[cur:cur + bs]); cur += bs
    lr_used = opt.learning_rate.item() if step > 1 else float(one_cycle(0))
    loss, g = vg(model, Xtr[idx], ytr[idx])
    opt.update(model, g)
    mx.eval(model.parameters(), opt.state, loss)
    run.append(loss.item())
    if step % 150 == 0:
        print(f"  step {step:5d}  lr {lr_used:.2e}  train mse(z) {np.mean(run):.4f}  "
              f"val rmse {val_rmse(model):.3f} L  {time.time() - t0:5.1f}s")
        run = []
print(f"done: val rmse {val_rmse(model):.3f} L (noise sd 0.25 L)")
