"""Bell foundry: predict the hum-note deviation (cents) of a cast bell from its
alloy and profile. First an LR range test (exponential sweep, stops once the
loss blows up), then a real fit from fresh weights at a tenth of the blow-up lr."""
import math, time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

rng = np.random.default_rng(11)
N_TRAIN, N_VAL = 12000, 2000


def make_bells(n):
    tin = rng.uniform(0.20, 0.24, n)            # tin fraction of bronze
    waist = rng.uniform(0.07, 0.11, n)          # waist thickness / diameter
    lip = rng.uniform(0.11, 0.15, n)            # soundbow thickness / diameter
    diam = rng.uniform(0.4, 1.6, n)             # metres
    mould_t = rng.uniform(15, 35, n)            # mould temperature at pour
    cool_h = rng.uniform(12, 72, n)             # hours left in the pit
    cents = (900 * (lip - 0.13) + 400 * (waist - 0.09) - 300 * (tin - 0.22)
             + 25 * np.log(diam) + 0.15 * (mould_t - 25) - 4 * np.tanh((cool_h - 36) / 20)
             + 30 * (lip - 0.13) * (diam - 1.0) * 10)
    cents = cents + rng.normal(0, 2.0, n)
    X = np.stack([tin, waist, lip, np.log(diam), mould_t, cool_h], 1).astype(np.float32)
    return X, cents.astype(np.float32)


Xtr, ytr = make_bells(N_TRAIN)
Xva, yva = make_bells(N_VAL)
mu, sd = Xtr.mean(0), Xtr.std(0)
Xtr, Xva = (Xtr - mu) / sd, (Xva - mu) / sd
ysd = float(ytr.std())
Xtr_m, ytr_m = mx.array(Xtr), mx.array(ytr / ysd)
Xva_m, yva_m = mx.array(Xva), mx.array(yva / ysd)


class BellNet(nn.Module):
    def __init__(self, width=64):
        super().__init__()
        self.l1 = nn.Linear(6, width)
        self.l2 = nn.Linear(width, width)
        self.out = nn.Linear(width, 1)

    def __call__(self, x):
        h = nn.gelu(self.l1(x))
        h = h + nn.gelu(self.l2(h))
        return self.out(h).squeeze(-1)


def loss_fn(model, x, y):
    return nn.losses.mse_loss(model(x), y)


def fresh(seed):
    mx.random.seed(seed)
    m = BellNet()
    mx.eval(m.parameters())
    return m


def val_rmse_cents(model):
    pred = model(Xva_m)
    return float(mx.sqrt(mx.mean((pred - yva_m) ** 2))) * ysd


def row(*cells):
    print(*cells, sep="\t")


# ---------------- phase 1: LR range test ----------------
model = fresh(0)
lr_lo, lr_hi, sweep_steps = 1e-5, 10.0, 300
gamma = (lr_hi / lr_lo) ** (1 / sweep_steps)
opt = optim.SGD(learning_rate=lr_lo, momentum=0.9)
vg = nn.value_and_grad(model, loss_fn)
row("phase", "step", "lr", "smoothed_mse", "note")
smooth, best, blowup_lr, lr = None, float("inf"), None, lr_lo
for step in range(sweep_steps):
    idx = mx.array(rng.integers(0, N_TRAIN, 64))
    loss, g = vg(model, Xtr_m[idx], ytr_m[idx])
    opt.learning_rate = lr
    opt.update(model, g)
    mx.eval(model.parameters(), opt.state, loss)
    l = float(loss)
    smooth = l if smooth is None else 0.9 * smooth + 0.1 * l
    best = min(best, smooth)
    if step % 30 == 0:
        row("sweep", step, f"{lr:.2e}", f"{smooth:.4f}", "")
    if not math.isfinite(l) or smooth > 4 * best:
        blowup_lr = lr
        row("sweep", step, f"{lr:.2e}", f"{smooth:.4g}" if math.isfinite(smooth) else "nan", "blow-up: sweep stopped")
        break
    lr *= gamma
if blowup_lr is None:
    blowup_lr = lr
chosen = min(blowup_lr / 10, 0.1)
row("sweep", "-", f"{chosen:.2e}", "-", f"chosen lr = min(blow-up lr / 10, 0.1); sweep model discarded")
del model, opt, vg

# ---------------- phase 2: the real fit from fresh weights ----------------
model = fresh(1)
opt = optim.SGD(learning_rate=chosen, momentum=0.9)
vg = nn.value_and_grad(model, loss_fn)

# first-step gradient audit
idx = mx.array(rng.integers(0, N_TRAIN, 64))
_, g0 = vg(model, Xtr_m[idx], ytr_m[idx])
flat = tree_flatten(g0)
zero = [k for k, v in flat if float(mx.abs(v).max()) == 0.0]
row("fit", 0, f"{chosen:.2e}", "-", f"grad leaves={len(flat)} zero={zero} untrained_val_rmse_cents={val_rmse_cents(model):.2f}")

t0 = time.time()
EPOCHS, BS = 10, 64
for ep in range(1, EPOCHS + 1):
    perm = mx.array(rng.permutation(N_TRAIN))
    tot, nb = 0.0, 0
    for i in range(0, N_TRAIN - BS + 1, BS):
        b = perm[i:i + BS]
        loss, g = vg(model, Xtr_m[b], ytr_m[b])
        opt.update(model, g)
        mx.eval(model.parameters(), opt.state, loss)
        tot += float(loss)
        nb += 1
    row("fit", ep, f"{chosen:.2e}", f"{tot / nb:.4f}",
        f"val_rmse_cents={val_rmse_cents(model):.2f} t={time.time() - t0:.1f}s")
row("done", "-", "-", "-", "noise floor is 2.00 cents rmse; predict-mean baseline "
    f"{float(np.sqrt(np.mean((yva - ytr.mean()) ** 2))):.2f} cents")
