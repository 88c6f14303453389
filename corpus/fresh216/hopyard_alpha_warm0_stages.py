# Hop-yard harvest lab: alpha-acid content (% w/w) of dried hop cones regressed
# from 6 field readings. Curriculum in three stages (irrigated plots -> dryland
# plots -> downy-mildew season with late, kiln-delayed picks). Each stage restarts
# its step counter and warms the learning rate up from exactly 0.
import math
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

rng = np.random.default_rng(7)


def make_plots(n, stage):
    pick_day = rng.uniform(-12, 12, n)            # days from the ideal pick date
    gdd = rng.normal(1800, 150, n)                # growing degree days
    nitrogen = rng.uniform(60, 180, n)            # kg N / ha
    dryland = (rng.random(n) < (0.0 if stage == 0 else 0.6)).astype(float)
    mildew = (rng.random(n) < (0.0 if stage < 2 else 0.5)).astype(float)
    kiln_delay = (rng.random(n) < (0.0 if stage < 2 else 0.35)).astype(float)
    alpha = 11.0 + 2.2 * np.exp(-(pick_day ** 2) / 30.0) + 0.004 * (gdd - 1800) - 0.00015 * (nitrogen - 130) ** 2
    alpha -= 1.6 * dryland + 2.8 * mildew * (1 + 0.7 * kiln_delay) + 0.9 * kiln_delay * np.sin(pick_day / 4) ** 2
    alpha += rng.normal(0, 0.35, n)
    X = np.stack([pick_day / 6, (gdd - 1800) / 150, (nitrogen - 120) / 35, dryland, mildew, kiln_delay], 1)
    return X.astype(np.float32), alpha.astype(np.float32)


class AlphaNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(6, 48)
        self.l2 = nn.Linear(48, 48)
        self.out = nn.Linear(48, 1)

    def __call__(self, x):
        return self.out(nn.silu(self.l2(nn.silu(self.l1(x))))).squeeze(-1)


def huber(model, x, y):
    return nn.losses.huber_loss(model(x), (y - 10.0) / 2.0, delta=1.0, reduction="mean")


def predict(model, x):
    return model(x) * 2.0 + 10.0


model = AlphaNet()
mx.eval(model.parameters())
opt = optim.Adamax(learning_rate=0.0)
vg = nn.value_and_grad(model, huber)

stages = [("irrigated", 0), ("dryland", 1), ("mildew season", 2)]
STEPS, WARM, PEAK, BS = 240, 40, 6e-3, 64
print(f"{'stage':<15}{'step':>5}{'lr':>10}{'huber':>9}{'val MAE %aa':>13}{'baseline MAE':>14}")
print("-" * 66)
for name, sid in stages:
    Xtr, ytr = make_plots(3000, sid)
    Xva, yva = make_plots(600, sid)
    Xtr, ytr, Xva = mx.array(Xtr), mx.array(ytr), mx.array(Xva)
    base_mae = float(np.mean(np.abs(yva - float(np.mean(np.array(ytr))))))
    for step in range(STEPS + 1):
        lr = PEAK * min(1.0, step / WARM) * (0.5 + 0.5 * math.cos(math.pi * step / STEPS) if step > WARM else 1.0)
        opt.learning_rate = lr
        idx = mx.array(rng.integers(0, Xtr.shape[0], BS))
        loss, grads = vg(model, Xtr[idx], ytr[idx])
        if step == 0 and sid == 0:
            zero = [k for k, g in tree_flatten(grads) if float(mx.abs(g).sum()) == 0.0]
            print(f"# grad check: {len(tree_flatten(grads))} tensors, {len(zero)} with all-zero grad")
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        if step % 60 == 0:
            mae = float(mx.mean(mx.abs(predict(model, Xva) - mx.array(yva))).item())
            print(f"{name:<15}{step:>5}{lr:>10.2e}{loss.item():>9.4f}{mae:>13.3f}{base_mae:>14.3f}")
    print("-" * 66)

Xall, yall = make_plots(900, 2)
mae = float(mx.mean(mx.abs(predict(model, mx.array(Xall)) - mx.array(yall))).item())
print(f"final mildew-season check: MAE {mae:.3f} %aa vs mean-predictor "
      f"{float(np.mean(np.abs(yall - yall.mean()))):.3f} %aa")
