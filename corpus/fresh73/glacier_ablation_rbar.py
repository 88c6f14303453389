"""Daily glacier ablation (mm w.e.) from weather-station data; compiled Lion step, '\r' progress bar."""
import sys, time
from functools import partial
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

rng = np.random.default_rng(5)

def make(n):
    t = rng.normal(3, 4, n)              # air temperature C
    sw = rng.uniform(50, 350, n)         # incoming shortwave W/m2
    alb = rng.uniform(0.2, 0.85, n)      # surface albedo
    snow = rng.exponential(2, n)         # fresh snow cm
    elev = rng.uniform(2600, 3400, n)    # station elevation m
    melt = (4.5 * np.clip(t - (elev - 3000) * 0.0065, 0, None)
            + 0.035 * sw * (1 - alb) - 1.2 * snow + rng.normal(0, 1.5, n))
    melt = np.clip(melt, 0, None)
    X = np.stack([(t - 3) / 4, (sw - 200) / 87, (alb - 0.5) / 0.19,
                  (snow - 2) / 2, (elev - 3000) / 230], 1).astype(np.float32)
    return X, melt.astype(np.float32)[:, None]

Xtr, ytr = make(12000); Xte, yte = make(2000)
ysc = float(ytr.std())
Xtr, ytr, Xte, yte = map(mx.array, (Xtr, ytr, Xte, yte))

model = nn.Sequential(nn.Linear(5, 48), nn.SiLU(), nn.Linear(48, 48), nn.SiLU(), nn.Linear(48, 1))
mx.eval(model.parameters())
opt = optim.Lion(learning_rate=3e-4, weight_decay=1e-3)

def loss_fn(m, x, y):
    return nn.losses.huber_loss(m(x), y / ysc, delta=1.0, reduction="mean")

vg = nn.value_and_grad(model, loss_fn)
state = [model.state, opt.state]

@partial(mx.compile, inputs=state, outputs=state)
def step(x, y):
    loss, g = vg(model, x, y)
    opt.update(model, g)
    return loss

# gradient check on the first batch (outside the compiled step)
_, g0 = vg(model, Xtr[:64], ytr[:64])
zero = [k for k, v in tree_flatten(g0) if mx.abs(v).max().item() == 0]
print(f"grad check: {len(tree_flatten(g0))} leaves, zero leaves: {zero or 'none'}")

def test_mae():
    return mx.mean(mx.abs(model(Xte) * ysc - yte)).item()

print(f"mean-predictor MAE {mx.mean(mx.abs(yte - ytr.mean())).item():.2f} mm w.e. | untrained MAE {test_mae():.2f}")
B, epochs = 64, 8
nb = Xtr.shape[0] // B
ema, beta, k = 0.0, 0.98, 0
t0 = time.time()
for ep in range(1, epochs + 1):
    perm = mx.array(rng.permutation(Xtr.shape[0]))
    for b in range(nb):
        idx = perm[b * B:(b + 1) * B]
        loss = step(Xtr[idx], ytr[idx])
        mx.eval(state, loss)
        k += 1
        ema = beta * ema + (1 - beta) * loss.item()
        if b % 15 == 0 or b == nb - 1:
            done = int(30 * (b + 1) / nb)
            sys.stdout.write(f"\repoch {ep}/{epochs} [{'#' * done}{'.' * (30 - done)}] "
                             f"huber~{ema / (1 - beta ** k):.4f}")
            sys.stdout.flush()
    sys.stdout.write(f"  test MAE {test_mae():.2f} mm w.e.  {time.time() - t0:.1f}s\n")
print("done")
