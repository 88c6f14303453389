"""Regress the resonant frequency of a Helmholtz resonator (bottle/port) from
neck radius, neck length, cavity volume and air temperature, with a small MLP
trained by hand-written SGD with momentum (no mlx.optimizers).  The training
report is sent as an SMTP session transcript (S:/C: lines)."""
import math, time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
from mlx.utils import tree_flatten, tree_map

rng = np.random.default_rng(23)
mx.random.seed(23)

def make(n):
    r = rng.uniform(0.005, 0.03, n)          # neck radius, m
    L = rng.uniform(0.01, 0.12, n)           # neck length, m
    V = rng.uniform(2e-4, 5e-3, n)           # cavity volume, m^3
    T = rng.uniform(-10.0, 35.0, n)          # air temperature, C
    c = 331.3 * np.sqrt(1 + T / 273.15)
    Leff = L + 1.7 * r                        # flanged end corrections
    f = c / (2 * np.pi) * np.sqrt(np.pi * r ** 2 / (V * Leff))
    f = f * (1 + 0.01 * rng.standard_normal(n))  # 1% measurement noise
    X = np.stack([np.log(r), np.log(L), np.log(V), T], 1).astype(np.float32)
    return X, np.log(f).astype(np.float32), f.astype(np.float32)

Xtr, Ytr, _ = make(4000)
Xva, Yva, Fva = make(800)
mu, sd = Xtr.mean(0), Xtr.std(0)
ym, ys = float(Ytr.mean()), float(Ytr.std())
Xtr_m = mx.array((Xtr - mu) / sd); Ytr_m = mx.array((Ytr - ym) / ys)
Xva_m = mx.array((Xva - mu) / sd)

model = nn.Sequential(nn.Linear(4, 48), nn.GELU(), nn.Linear(48, 48), nn.GELU(), nn.Linear(48, 1))
def loss_fn(m, x, y):
    return nn.losses.mse_loss(m(x).squeeze(-1), y)
vg = nn.value_and_grad(model, loss_fn)

def val_metrics():
    pred = np.exp(np.array(model(Xva_m).squeeze(-1)) * ys + ym)
    rel = np.abs(pred - Fva) / Fva
    cents = 1200 * np.abs(np.log2(pred / Fva))
    return float(rel.mean()), float(np.median(cents))

print("S: 220 acoustics-lab.example ESMTP ready")
print("C: EHLO trainer.local")
print("S: 250-acoustics-lab.example greets trainer.local")
print("S: 250 SIZE 1048576")
print("C: MAIL FROM:<trainer@trainer.local>")
print("S: 250 2.1.0 Ok")
print("C: RCPT TO:<lab@acoustics-lab.example>")
print("S: 250 2.1.5 Ok")
print("C: DATA")
print("S: 354 End data with <CR><LF>.<CR><LF>")
print("C: Subject: helmholtz resonator regressor, hand SGD+momentum")
_, g0 = vg(model, Xtr_m[:100], Ytr_m[:100])
flat = tree_flatten(g0)
zero = [k for k, v in flat if float(mx.abs(v).max()) == 0.0]
print(f"C: X-Gradcheck: leaves={len(flat)} zero={len(zero)} {zero}")
print(f"C: X-Data: train={len(Xtr)} val={len(Xva)} f_range={Fva.min():.0f}-{Fva.max():.0f}Hz noise=1%")
base = float(np.mean(np.abs(np.exp(ym) - Fva) / Fva))
print(f"C: X-Baseline: constant-frequency mean rel err={base:.3f}")
print("C:")

lr0, beta, B, E = 0.03, 0.9, 40, 25
vel = tree_map(mx.zeros_like, model.parameters())
t0, step = time.time(), 0
total = E * (len(Xtr) // B)
for ep in range(1, E + 1):
    perm = mx.array(rng.permutation(len(Xtr)))
    run, nb = 0.0, 0
    for i in range(0, len(Xtr) - B + 1, B):
        idx = perm[i:i + B]
        loss, g = vg(model, Xtr_m[idx], Ytr_m[idx])
        lr = lr0 * 0.5 * (1 + math.cos(math.pi * step / total))
        vel = tree_map(lambda v, gg: beta * v + gg, vel, g)
        model.update(tree_map(lambda p, v: p - lr * v, model.parameters(), vel))
        mx.eval(model.parameters(), vel, loss)
        run += loss.item(); nb += 1; step += 1
    rel, cents = val_metrics()
    if ep in (1, 2, 3) or ep % 5 == 0:
        print(f"C: epoch {ep:2d}  train_mse(std log f)={run/nb:.5f}  val_rel_err={rel:.4f}  "
              f"val_median_cents={cents:6.1f}  lr={lr:.4f}  {time.time()-t0:5.1f}s")
print("C:")
print(f"C: final: val mean relative error {rel:.4f} (noise floor ~0.008), median {cents:.1f} cents")
print("C: .")
print("S: 250 2.0.0 Ok: queued as 4F2A1C3D")
print("C: QUIT")
print("S: 221 2.0.0 Bye")
