"""Hand papermaking: predict sheet grammage (g/m2) and tear index (mN*m2/g)
from vat and press settings.  Adagrad, warm restarts that each begin at lr = 0."""
import math
import random
import sys
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

random.seed(11)
mx.random.seed(11)

# ---- synthetic vat log -------------------------------------------------------
def sheet(rng):
    consistency = rng.uniform(0.4, 1.6)      # % fibre in vat
    beating = rng.uniform(10, 90)            # minutes in the Hollander beater
    fibre_mm = rng.uniform(1.0, 4.5)         # mean fibre length
    couch_kpa = rng.uniform(50, 400)         # press pressure
    sizing = rng.uniform(0.0, 3.0)           # gelatin sizing %
    dip_s = rng.uniform(1.0, 6.0)            # mould dip time
    gsm = 38 * consistency * (0.6 + 0.1 * dip_s) + 4 * math.log(beating) + rng.gauss(0, 2.5)
    tear = (4.0 + 2.2 * fibre_mm - 0.03 * beating + 0.9 * math.sin(sizing)
            + 0.004 * couch_kpa - 0.25 * fibre_mm * consistency + rng.gauss(0, 0.35))
    x = [consistency, beating / 50, fibre_mm, couch_kpa / 200, sizing, dip_s / 3]
    return x, [gsm, tear]

rng = random.Random(5)
rows = [sheet(rng) for _ in range(3000)]
X = mx.array([r[0] for r in rows])
Y = mx.array([r[1] for r in rows])
xm, xs = X[:2400].mean(0), X[:2400].std(0)
ym, ys = Y[:2400].mean(0), Y[:2400].std(0)
Xn, Yn = (X - xm) / xs, (Y - ym) / ys
Xtr, Ytr, Xva, Yva = Xn[:2400], Yn[:2400], Xn[2400:], Yn[2400:]

model = nn.Sequential(nn.Linear(6, 64), nn.Tanh(), nn.Linear(64, 64), nn.Tanh(), nn.Linear(64, 2))
mx.eval(model.parameters())

CYCLES, STEPS, WARM, PEAK = 4, 150, 15, 0.05
def restart_schedule(step):
    # every cycle starts from exactly 0, ramps to PEAK, then cosine back toward 0
    t = step % STEPS
    ramp = PEAK * mx.minimum(t, WARM) / WARM
    cos = 0.5 * PEAK * (1 + mx.cos(math.pi * mx.maximum(t - WARM, 0) / (STEPS - WARM)))
    return mx.where(t < WARM, ramp, cos)

opt = optim.Adagrad(learning_rate=restart_schedule)

def loss_fn(m, xb, yb):
    return nn.losses.mse_loss(m(xb), yb)

state = [model.state, opt.state]

def step(xb, yb):
    loss, grads = nn.value_and_grad(model, loss_fn)(model, xb, yb)
    opt.update(model, grads)
    return loss
step = mx.compile(step, inputs=state, outputs=state)

def val_mae():
    pred = model(Xva) * ys + ym
    return mx.abs(pred - (Yva * ys + ym)).mean(0)

def pnorm():
    return math.sqrt(sum(float((p * p).sum()) for _, p in nn.utils.tree_flatten(model.parameters())))

t0 = time.time()
base = mx.abs(Y[2400:] - ym).mean(0)
n0 = pnorm()
for cyc in range(CYCLES):
    losses = []
    for it in range(STEPS):
        idx = mx.array(random.sample(range(2400), 64))
        loss = step(Xtr[idx], Ytr[idx])
        mx.eval(state, loss)
        losses.append(loss.item())
        if (it + 1) % 50 == 0:
            done = (it + 1) * 10 // STEPS
            bar = "#" * done + " " * (10 - done)
            sys.stdout.write(f"cycle {cyc + 1}/{CYCLES}: {100 * (it + 1) // STEPS:3d}%|{bar}| {it + 1}/{STEPS} "
                             f"[loss={sum(losses[-50:]) / 50:.4f}, lr={float(restart_schedule(mx.array(it))):.4f}]\n")
    mae = val_mae()
    n1 = pnorm()
    print(f"  audit: |theta|={n1:.3f} d|theta|={n1 - n0:+.3f}  val MAE gsm {float(mae[0]):.2f} g/m2, tear {float(mae[1]):.3f} mN*m2/g")
    n0 = n1

mae = val_mae()
print("\ntarget        unit        mean-baseline   model")
print(f"grammage      g/m2        {float(base[0]):13.2f}   {float(mae[0]):5.2f}")
print(f"tear index    mN*m2/g     {float(base[1]):13.3f}   {float(mae[1]):5.3f}")
print(f"skill vs baseline: {100 * (1 - float(mae[0] / base[0])):.1f}% / {100 * (1 - float(mae[1] / base[1])):.1f}%  ({time.time() - t0:.1f}s)")
