# Quilt batting lab: predict loft (mm) and warmth (tog) of a batting sample
# from its fibre blend and processing.  Two-output MLP, SGD+Nesterov with
# warm restarts; each cycle ramps the learning rate up from exactly 0.
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

rng = np.random.default_rng(2024)


def make_batts(n):
    cotton = rng.uniform(0, 1, n)
    wool = rng.uniform(0, 1 - cotton)
    poly = 1 - cotton - wool
    needle = rng.uniform(100, 400, n)        # punches / cm2
    scrim = rng.integers(0, 2, n).astype(np.float64)
    washes = rng.integers(0, 6, n).astype(np.float64)
    gsm = rng.uniform(80, 300, n)            # grams / m2
    loft = (2.0 + 9.0 * poly + 6.0 * wool + 2.5 * cotton) * (gsm / 180) ** 0.7
    loft *= np.exp(-0.0018 * (needle - 100)) * (1 - 0.06 * washes * cotton)
    loft -= 0.8 * scrim
    loft += rng.normal(0, 0.35, n)
    tog = 0.35 * loft + 1.2 * wool * (gsm / 180) + 0.15 * np.sin(needle / 40)
    tog += rng.normal(0, 0.12, n)
    X = np.stack([cotton, wool, poly, needle, scrim, washes, gsm], 1)
    Y = np.stack([loft, tog], 1)
    return X.astype(np.float32), Y.astype(np.float32)


Xtr, Ytr = make_batts(8000)
Xva, Yva = make_batts(600)
xm, xs = Xtr.mean(0), Xtr.std(0)
ym, ys = Ytr.mean(0), Ytr.std(0)
Xtr_n, Xva_n = (Xtr - xm) / xs, (Xva - xm) / xs
Ytr_n = (Ytr - ym) / ys
Xtr_m, Ytr_m, Xva_m = mx.array(Xtr_n), mx.array(Ytr_n), mx.array(Xva_n)

# reference: predict the training mean for every batt
base_mae = np.abs(Yva - ym).mean(0)


class BattNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(7, 48)
        self.l2 = nn.Linear(48, 48)
        self.out = nn.Linear(48, 2)

    def __call__(self, x):
        return self.out(nn.silu(self.l2(nn.silu(self.l1(x)))))


mx.random.seed(7)
model = BattNet()
mx.eval(model.parameters())


def loss_fn(m, x, y):
    return nn.losses.huber_loss(m(x), y, delta=1.0, reduction="mean")


vg = nn.value_and_grad(model, loss_fn)
opt = optim.SGD(learning_rate=0.0, momentum=0.9, nesterov=True)

# warm restarts: (epochs, peak lr); every cycle starts at lr = 0 exactly
cycles = [(8, 0.03), (8, 0.25), (10, 0.05)]
warm_steps = 12
bs = 60
steps_per_epoch = len(Xtr) // bs

print(f"{'cyc':>3} {'ep':>3} {'lr_end':>8} {'huber':>8} "
      f"{'loft_mae_mm':>12} {'tog_mae':>8} | {'ref_loft':>8} {'ref_tog':>8}")
print("-" * 74)
t0 = time.time()
for c, (n_ep, peak) in enumerate(cycles, start=1):
    total = n_ep * steps_per_epoch
    step = 0
    for ep in range(1, n_ep + 1):
        perm = mx.array(rng.permutation(len(Xtr)))
        run = 0.0
        for b in range(steps_per_epoch):
            if step < warm_steps:
                lr = peak * step / warm_steps
            else:
                frac = (step - warm_steps) / max(1, total - warm_steps)
                lr = 0.5 * peak * (1 + math.cos(math.pi * frac))
            opt.learning_rate = lr
            idx = perm[b * bs:(b + 1) * bs]
            loss, grads = vg(model, Xtr_m[idx], Ytr_m[idx])
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
            run += loss.item()
            step += 1
        pred = np.array(model(Xva_m)) * ys + ym
        mae = np.abs(pred - Yva).mean(0)
        print(f"{c:>3} {ep:>3} {lr:>8.5f} {run / steps_per_epoch:>8.4f} "
              f"{mae[0]:>12.3f} {mae[1]:>8.3f} | {base_mae[0]:>8.3f} {base_mae[1]:>8.3f}")
    print("-" * 74)

print(f"done in {time.time() - t0:.1f}s; final loft MAE {mae[0]:.3f} mm "
      f"({100 * mae[0] / base_mae[0]:.1f}% of reference), tog MAE {mae[1]:.3f}")
