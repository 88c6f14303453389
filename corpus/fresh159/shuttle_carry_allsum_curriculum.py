"""Badminton shuttlecock carry distance (m) from launch readings.

Stage "hall": indoor shots only (no drift).  Stage "outdoor": garden shots with
gusty cross/head wind are mixed in, so the loss jumps up before it settles.
Gradients are averaged with mx.distributed (one process here, same code on more).
"""
import math
import time
from functools import partial

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

rng = np.random.default_rng(159)
FEATS = ["speed", "angle", "feather", "altitude", "humid", "spin", "wind"]


def make_shots(n, outdoor):
    speed = rng.uniform(25, 95, n)            # m/s off the racket
    angle = rng.uniform(5, 60, n)             # degrees
    feather = rng.integers(0, 2, n)           # 0 nylon, 1 goose
    altitude = rng.uniform(0, 1500, n)        # m above sea level
    humid = rng.uniform(20, 90, n)            # % RH
    spin = rng.normal(0, 1, n)
    wind = rng.normal(0, 3.0, n) if outdoor else np.zeros(n)
    # made-up drag-limited carry law
    term = 6.8 * (1 + 0.05 * feather) * (1 + altitude / 9000.0)
    carry = term * np.log1p(speed / term) * np.sin(np.radians(2 * angle)) ** 0.6 * 1.9
    carry = carry * (1 - 0.0015 * (humid - 50)) + 0.25 * spin + 0.55 * wind
    noise = rng.normal(0, 0.9 if outdoor else 0.25, n)
    x = np.stack([speed, angle, feather, altitude, humid, spin, wind], 1)
    return x.astype(np.float32), (carry + noise).astype(np.float32)


hall_x, hall_y = make_shots(3000, False)
out_x, out_y = make_shots(3000, True)
mu, sd = hall_x.mean(0), hall_x.std(0) + 1e-6
mu[-1], sd[-1] = 0.0, 3.0                     # wind is zero indoors: fix its scale
ym, ys = hall_y.mean(), hall_y.std()


def prep(x, y):
    return mx.array((x - mu) / sd), mx.array((y - ym) / ys)


hx, hy = prep(hall_x[:2500], hall_y[:2500])
ox, oy = prep(out_x[:2500], out_y[:2500])
vhx, vhy = prep(hall_x[2500:], hall_y[2500:])
vox, voy = prep(out_x[2500:], out_y[2500:])


class CarryNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(7, 64)
        self.l2 = nn.Linear(64, 64)
        self.out = nn.Linear(64, 1)

    def __call__(self, x):
        h = nn.silu(self.l1(x))
        h = nn.silu(self.l2(h)) + h
        return self.out(h).squeeze(-1)


world = mx.distributed.init()
mx.random.seed(159)
model = CarryNet()
opt = optim.AdamW(learning_rate=2e-3, weight_decay=1e-4)


def loss_fn(m, x, y):
    return nn.losses.huber_loss(m(x), y, delta=1.0).mean()


grad_fn = nn.value_and_grad(model, loss_fn)
state = [model.state, opt.state]



@partial(mx.compile, inputs=state, outputs=state)
def step(x, y):
    loss, grads = grad_fn(model, x, y)
    grads = nn.utils.tree_map(lambda g: mx.distributed.all_sum(g, group=world) / world.size(), grads)
    opt.update(model, grads)
    return loss


def mae_m(x, y):
    return (mx.abs(model(x) - y).mean() * ys).item()


def bar(i, n, w=20):
    k = int(w * i / n)
    return "#" * k + "." * (w - k)


t0 = time.time()
print(f"ranks={world.size()} rank={world.rank()}  hall={hx.shape[0]} outdoor={ox.shape[0]}  "
      f"mean-predictor MAE hall {np.abs(hall_y[2500:] - ym).mean():.2f} m / outdoor {np.abs(out_y[2500:] - ym).mean():.2f} m")

stages = [("hall", hx, hy, 16, 5), ("outdoor", mx.concatenate([hx, ox]), mx.concatenate([hy, oy]), 24, 4)]
bs = 50
for name, X, Y, epochs, patience in stages:
    n = X.shape[0]
    steps_per = n // bs
    total = epochs * steps_per
    best, best_params, bad = math.inf, None, 0
    it = 0
    for ep in range(1, epochs + 1):
        perm = mx.array(rng.permutation(n))
        run = 0.0
        for b in range(steps_per):
            idx = perm[b * bs:(b + 1) * bs]
            loss = step(X[idx], Y[idx])
            mx.eval(loss, model.parameters(), opt.state)
            run += loss.item()
            it += 1
        v_h, v_o = mae_m(vhx, vhy), mae_m(vox, voy)
        score = v_h if name == "hall" else 0.5 * (v_h + v_o)
        el = time.time() - t0
        print(f"{name:>7} |{bar(it, total)}| {it}/{total} [{el:4.1f}s, loss={run / steps_per:.4f}, "
              f"mae hall={v_h:.2f}m out={v_o:.2f}m]")
        if score < best - 1e-3:
            best, bad = score, 0
            best_params = nn.utils.tree_map(lambda p: mx.array(p), model.parameters())
        else:
            bad += 1
            if bad >= patience:
                print(f"{name:>7} early stop at epoch {ep}, best {best:.3f} m")
                break
    model.update(best_params)
    mx.eval(model.parameters())
    print(f"{name:>7} restored best: mae hall={mae_m(vhx, vhy):.2f}m out={mae_m(vox, voy):.2f}m")

print(f"done in {time.time() - t0:.1f}s")
