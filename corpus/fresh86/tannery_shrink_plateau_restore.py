"""Tannery QC: predict shrinkage temperature (C) of tanned hides.

Early stopping on a validation split that restores the best checkpoint
(save_weights / load_weights), plus a hand-rolled reduce-on-plateau lr.
"""
import os, tempfile, time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

rng = np.random.default_rng(86)

def make_hides(n):
    chrome = rng.uniform(2.0, 5.0, n)        # % Cr2O3
    ph = rng.uniform(3.2, 4.4, n)             # basification end pH
    days = rng.uniform(0.5, 4.0, n)           # days in drum
    thick = rng.uniform(1.0, 3.5, n)          # mm
    temp = rng.uniform(20, 40, n)             # drum temperature
    veg = rng.integers(0, 2, n).astype(float) # vegetable retan flag
    ts = (70 + 9 * np.tanh(chrome - 3) + 14 * (ph - 3.2) * (1 - np.exp(-days))
          - 1.8 * thick + 0.15 * (temp - 30) + 6 * veg - 2.5 * veg * (ph - 3.8) ** 2)
    ts = ts + rng.normal(0, 0.8, n)
    X = np.stack([chrome, ph, days, thick, temp, veg], 1).astype(np.float32)
    return X, ts.astype(np.float32)

X, y = make_hides(9000)
Xtr, ytr = X[:6000], y[:6000]
Xva, yva = X[6000:7500], y[6000:7500]
Xte, yte = X[7500:], y[7500:]
mu, sd = Xtr.mean(0), Xtr.std(0)
ym, ys = ytr.mean(), ytr.std()
norm = lambda a: (a - mu) / sd
Xtr_m, Xva_m, Xte_m = (mx.array(norm(a)) for a in (Xtr, Xva, Xte))
ytr_m = mx.array((ytr - ym) / ys)

class ShrinkNet(nn.Module):
    def __init__(self, d=6, h=64):
        super().__init__()
        self.inp = nn.Linear(d, h)
        self.mid = nn.Linear(h, h)
        self.out = nn.Linear(h, 1)
    def __call__(self, x):
        h = nn.silu(self.inp(x))
        h = h + nn.silu(self.mid(h))
        return self.out(h).squeeze(-1)

def loss_fn(model, xb, yb):
    return nn.losses.mse_loss(model(xb), yb)

def predict_c(model, xm):
    return np.array(model(xm)) * ys + ym

def report(model, xm, yt):
    err = predict_c(model, xm) - yt
    return float(np.sqrt(np.mean(err ** 2))), 100.0 * float(np.mean(np.abs(err) <= 1.0))

mx.random.seed(86)
model = ShrinkNet()
mx.eval(model.parameters())
opt = optim.RMSprop(learning_rate=3e-3)
vg = nn.value_and_grad(model, loss_fn)

ckdir = tempfile.mkdtemp(prefix="tannery_")
best_path = os.path.join(ckdir, "best.safetensors")
patience, bad, best_val, best_epoch = 6, 0, float("inf"), -1
plateau_wait, lr_floor = 0, 1e-5
B = 64
steps_per_epoch = len(Xtr) // B

r0, w0 = report(model, Xva_m, yva)
print(f"hides: train={len(Xtr)} val={len(Xva)} test={len(Xte)}  predict-mean val RMSE={np.std(yva - ym):.2f} C")
print(f"untrained: val RMSE {r0:.2f} C, within 1 C {w0:.1f}%")
print(f"{'epoch':>5} {'lr':>9} {'train mse(std)':>15} {'val RMSE C':>11} {'<=1C %':>7} {'secs':>6}  note")
t0 = time.time()
for epoch in range(1, 61):
    perm = rng.permutation(len(Xtr))
    tot = 0.0
    for i in range(steps_per_epoch):
        idx = mx.array(perm[i * B:(i + 1) * B])
        loss, grads = vg(model, Xtr_m[idx], ytr_m[idx])
        if epoch == 1 and i == 0:
            leaves = tree_flatten(grads)
            zero = [k for k, g in leaves if float(mx.abs(g).max()) == 0.0]
            print(f"  first-step gradients: {len(leaves)} leaves, zero={zero}")
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        tot += loss.item()
    vr, vw = report(model, Xva_m, yva)
    note = ""
    if vr < best_val - 1e-3:
        best_val, best_epoch, bad, plateau_wait = vr, epoch, 0, 0
        model.save_weights(best_path)
        note = "* saved"
    else:
        bad += 1
        plateau_wait += 1
        if plateau_wait >= 3 and opt.learning_rate.item() > lr_floor:
            opt.learning_rate = max(opt.learning_rate.item() * 0.5, lr_floor)
            plateau_wait = 0
            note = "lr halved"
    print(f"{epoch:>5} {opt.learning_rate.item():>9.2e} {tot / steps_per_epoch:>15.4f} {vr:>11.3f} {vw:>7.1f} {time.time() - t0:>6.1f}  {note}")
    if bad >= patience:
        print(f"early stop: no val gain for {patience} epochs")
        break

last_val = report(model, Xva_m, yva)[0]
model.load_weights(best_path)
mx.eval(model.parameters())
rv = report(model, Xva_m, yva)[0]
rt, wt = report(model, Xte_m, yte)
print(f"restored epoch {best_epoch}: val RMSE {rv:.3f} C (last epoch {last_val:.3f} C)")
print(f"test: RMSE {rt:.3f} C, within 1 C {wt:.1f}%  (noise sd 0.8 C)")
