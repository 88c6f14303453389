"""Tide-pool salinity (PSU) from exposure hours, pool depth, air temp, rain, wind, shade.
First an LR range test (exponential sweep, loss explodes at the end on purpose),
then a real run from FRESH weights at lr = best_sweep_lr / 10."""
import math, time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

rng = np.random.default_rng(7)
def make(n):
    expo = rng.uniform(0, 10, n); depth = rng.uniform(5, 80, n); temp = rng.uniform(8, 32, n)
    rain = rng.exponential(2.0, n); wind = rng.uniform(0, 12, n); shade = rng.uniform(0, 1, n)
    evap = expo * (0.02 * temp + 0.03 * wind) * (1 - 0.6 * shade) / np.sqrt(depth / 20)
    sal = 34 + 4.0 * evap - 1.5 * rain / (1 + depth / 30) + rng.normal(0, 0.4, n)
    return np.stack([expo, depth, temp, rain, wind, shade], 1).astype(np.float32), sal.astype(np.float32)

Xtr, ytr = make(9000); Xte, yte = make(2000)
mu, sd = Xtr.mean(0), Xtr.std(0); ym, ys = ytr.mean(), ytr.std()
Xtr = mx.array((Xtr - mu) / sd); Xte = mx.array((Xte - mu) / sd)
Ytr = mx.array((ytr - ym) / ys); yte_np = yte

class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(6, 64); self.l2 = nn.Linear(64, 64); self.out = nn.Linear(64, 1)
    def __call__(self, x):
        h = nn.silu(self.l1(x)); h = h + nn.silu(self.l2(h))
        return self.out(h).squeeze(-1)

def loss_fn(m, x, y):
    return nn.losses.mse_loss(m(x), y)

def test_rmse(m):
    p = np.array(m(Xte)) * ys + ym
    return float(np.sqrt(np.mean((p - yte_np) ** 2)))

def card(title, **fields):
    print("-" * 40); print(f"Subject: {title}")
    for k, v in fields.items():
        print(f"{k}: {v}")

N = Xtr.shape[0]; B = 64
card("data", rows_train=N, rows_test=Xte.shape[0], target_sd_psu=f"{ys:.3f}", noise_floor_psu=0.4,
     predict_mean_rmse_psu=f"{float(np.sqrt(np.mean((yte_np - ym) ** 2))):.3f}")

# ---------- phase 1: LR range test ----------
mx.random.seed(1)
m = Net(); opt = optim.Adam(learning_rate=1e-5)
vg = nn.value_and_grad(m, loss_fn)
lr_lo, lr_hi, sweep = 1e-5, 3.0, 160
hist = []; smooth = None; best = float("inf")
for i in range(sweep):
    lr = lr_lo * (lr_hi / lr_lo) ** (i / (sweep - 1))
    opt.learning_rate = lr
    idx = mx.array(rng.integers(0, N, B))
    loss, g = vg(m, Xtr[idx], Ytr[idx])
    opt.update(m, g); mx.eval(m.parameters(), opt.state, loss)
    l = loss.item()
    smooth = l if smooth is None else 0.9 * smooth + 0.1 * l
    hist.append((lr, smooth)); best = min(best, smooth)
    if not math.isfinite(l) or smooth > 4 * best:
        break
valid = [(lr, s) for lr, s in hist if math.isfinite(s)]
lr_at_min = min(valid, key=lambda t: t[1])[0]
card("lr range test", steps_run=len(hist), stopped_at_lr=f"{hist[-1][0]:.3g}",
     smoothed_loss_at_stop=f"{hist[-1][1]:.4g}", min_smoothed_loss=f"{best:.4f}",
     lr_at_min=f"{lr_at_min:.3g}", chosen_lr=f"{lr_at_min / 10:.3g}",
     note="loss blows up at the end of the sweep on purpose; these weights are discarded")
del m, opt, vg

# ---------- phase 2: real run from fresh weights ----------
mx.random.seed(2)
model = Net(); lr = lr_at_min / 10
opt = optim.Adam(learning_rate=lr)
vg = nn.value_and_grad(model, loss_fn)
card("untrained", test_rmse_psu=f"{test_rmse(model):.3f}")
t0 = time.time(); step = 0; window = []
for epoch in range(1, 9):
    perm = mx.array(rng.permutation(N))
    for s in range(0, N - B + 1, B):
        idx = perm[s:s + B]
        loss, g = vg(model, Xtr[idx], Ytr[idx])
        if step == 0:
            leaves = tree_flatten(g)
            zero = [k for k, v in leaves if float(mx.abs(v).max()) == 0.0]
            card("grad check", leaves=len(leaves), zero_leaves=zero or "none")
        opt.update(model, g); mx.eval(model.parameters(), opt.state, loss)
        window.append(loss.item()); step += 1
    card(f"epoch {epoch}", step=step, lr=f"{lr:.3g}", train_mse_std=f"{np.mean(window):.4f}",
         test_rmse_psu=f"{test_rmse(model):.3f}", secs=f"{time.time() - t0:.1f}")
    window = []
card("done", final_test_rmse_psu=f"{test_rmse(model):.3f}", noise_floor_psu=0.4)
