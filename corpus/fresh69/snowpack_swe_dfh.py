# Snow water equivalent (mm) from station features; compiled SGD step; silent, then a `df -h` style report.
import time
from functools import partial
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

rng = np.random.default_rng(11)
def stations(n):
    elev = rng.uniform(1.2, 3.6, n)          # km
    depth = rng.gamma(2.0, 45.0, n)          # snow depth cm
    doy = rng.uniform(0, 150, n)             # days since Nov 1
    temp = 4 - 6.5 * (elev - 1.2) + 8 * np.sin(doy / 150 * np.pi) * 0.5 + rng.normal(0, 2, n)
    density = 0.18 + 0.0012 * doy + 0.01 * np.clip(temp, 0, None)   # g/cm3
    swe = 10 * depth * np.clip(density, 0.1, 0.5) * (1 + rng.normal(0, 0.05, n))
    X = np.stack([elev, depth, doy / 150, temp, np.sin(doy / 365 * 2 * np.pi)], 1)
    return X.astype(np.float32), swe.astype(np.float32)[:, None]
Xtr, ytr = stations(8000); Xva, yva = stations(2000)
mx_, sx = Xtr.mean(0), Xtr.std(0); my, sy = ytr.mean(), ytr.std()
Xtr = mx.array((Xtr - mx_) / sx); Xva = mx.array((Xva - mx_) / sx)
Ytr = mx.array((ytr - my) / sy); yva_mm = yva

model = nn.Sequential(nn.Linear(5, 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 1))
mx.eval(model.parameters())
epochs, bs = 12, 80
steps_total = epochs * (8000 // bs)
opt = optim.SGD(learning_rate=optim.cosine_decay(0.03, steps_total, 1e-4), momentum=0.9, weight_decay=1e-4)

def mse(m, x, y):
    return mx.mean((m(x) - y) ** 2)
vg = nn.value_and_grad(model, mse)

@partial(mx.compile, inputs=[model.state, opt.state], outputs=[model.state, opt.state])
def step(x, y):
    loss, g = vg(model, x, y)
    opt.update(model, g)
    return loss

_, g0 = vg(model, Xtr[:bs], Ytr[:bs])
audit = [(k, mx.abs(v).max().item()) for k, v in tree_flatten(g0)]
def val_rmse_mm():
    p = np.array(model(Xva)) * sy + my
    return float(np.sqrt(np.mean((p - yva_mm) ** 2))), float(np.mean(np.abs(p - yva_mm)))
base = float(np.sqrt(np.mean((my - yva_mm) ** 2)))
rows = []; t0 = time.time()
for ep in range(1, epochs + 1):
    perm = mx.array(rng.permutation(8000))
    tot = 0.0
    for i in range(0, 8000, bs):
        idx = perm[i:i + bs]
        loss = step(Xtr[idx], Ytr[idx])
        mx.eval(loss, model.state, opt.state)
        tot += loss.item()
    r, a = val_rmse_mm()
    rows.append((ep, tot / (8000 // bs), r, a, opt.learning_rate.item(), time.time() - t0))

print("Filesystem          Size  Used Avail Use% Mounted on")
print(f"gradcheck           {len(audit):4d}  {sum(v == 0 for _, v in audit):4d}  {len(audit)-sum(v == 0 for _, v in audit):4d}   -   /leaves(total,zero,nonzero)")
print(f"baseline           {base:5.1f}     -     -   -   /val/rmse_mm(predict_mean)")
for ep, tl, r, a, lr, t in rows:
    print(f"/dev/epoch{ep:02d}     {tl:6.4f} {r:5.1f} {a:5.1f} {100*r/base:3.0f}%  /swe/train_mse_std,val_rmse_mm,val_mae_mm,rmse_vs_baseline lr={lr:.2e} t={t:.1f}s")
