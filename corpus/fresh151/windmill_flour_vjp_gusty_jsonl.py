# Tower windmill flour output (kg/h) from a miller's log.
# Stage "calm" trains on steady-wind days only; stage "gusty" adds the gusty
# days, which are harder, so the loss jumps when it starts.  Each stage warms
# its learning rate up from exactly 0 again.  The hidden activation is a
# "soft-knee" with a hand-written VJP.
import json
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

rng = np.random.default_rng(151)


def make_log(n, gusty_share):
    wind = rng.uniform(3.0, 14.0, n)            # m/s at the cap
    cloth = rng.uniform(0.0, 1.0, n)            # sail cloth spread (0 = bare)
    gap = rng.uniform(0.2, 1.2, n)              # stone gap, mm
    moist = rng.uniform(11.0, 17.0, n)          # grain moisture %
    yaw = rng.uniform(-25.0, 25.0, n)           # cap misalignment, degrees
    gusty = (rng.uniform(size=n) < gusty_share).astype(np.float64)
    # made-up mill law: power ~ wind^3 with cloth, capped by the stones
    power = (wind / 10.0) ** 3 * (0.35 + 0.65 * cloth) * np.cos(np.radians(yaw)) ** 2
    stones = 120.0 * np.tanh(power / 0.9) * (0.6 + 0.5 * gap) * (1.0 - 0.04 * (moist - 14.0))
    stones = stones - gusty * (18.0 * np.abs(np.sin(wind * 0.9)) + 6.0 * cloth)
    kg_h = stones + rng.normal(0.0, 3.0, n) * (1.0 + gusty)
    X = np.stack([wind, cloth, gap, moist, yaw, gusty], 1)
    return X, kg_h


Xc, yc = make_log(3000, 0.0)
Xg, yg = make_log(3000, 0.6)
Xv, yv = make_log(800, 0.6)
mu, sd = np.concatenate([Xc, Xg]).mean(0), np.concatenate([Xc, Xg]).std(0) + 1e-6
ym, ys = yg.mean(), yg.std()


def prep(X, y):
    return (mx.array(((X - mu) / sd).astype(np.float32)),
            mx.array(((y - ym) / ys).astype(np.float32)))


train_calm = prep(Xc, yc)
train_all = prep(np.concatenate([Xc, Xg]), np.concatenate([yc, yg]))
Xval, yval = prep(Xv, yv)


@mx.custom_function
def soft_knee(x):
    # x for x >= 0, x / (1 - x) for x < 0  (smooth, bounded below by -1)
    return mx.where(x >= 0, x, x / (1.0 - x))


@soft_knee.vjp
def soft_knee_vjp(primals, cotangent, output):
    x = primals  # single input: the array itself
    d = mx.where(x >= 0, mx.ones_like(x), 1.0 / mx.square(1.0 - x))
    return cotangent * d


class MillNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(6, 48)
        self.l2 = nn.Linear(48, 48)
        self.out = nn.Linear(48, 1)

    def __call__(self, x):
        h = soft_knee(self.l1(x))
        h = soft_knee(self.l2(h))
        return self.out(h).squeeze(-1)


# check the custom VJP against finite differences once
xt = mx.array([-1.5, -0.2, 0.3, 2.0])
g_custom = mx.grad(lambda z: soft_knee(z).sum())(xt)
eps = 1e-3
g_fd = (soft_knee(xt + eps) - soft_knee(xt - eps)) / (2 * eps)
print(json.dumps({"event": "vjp_check", "max_abs_diff": round(float(mx.abs(g_custom - g_fd).max()), 6)}))

mx.random.seed(151)
model = MillNet()
opt = optim.Adam(learning_rate=0.0)


def loss_fn(m, x, y):
    return nn.losses.mse_loss(m(x), y)


loss_and_grad = nn.value_and_grad(model, loss_fn)

_, g0 = loss_and_grad(model, *train_all)
zero = [k for k, v in nn.utils.tree_flatten(g0) if float(mx.abs(v).max()) == 0.0]
print(json.dumps({"event": "grad_audit", "tensors": len(nn.utils.tree_flatten(g0)), "all_zero": zero}))

ref_rmse = float(np.sqrt(np.mean((yv - ym) ** 2)))  # predict the mean
stages = [("calm", train_calm, 900), ("gusty", train_all, 1500)]
batch = 128
t0 = time.time()
for stage, (Xs, ys_), steps in stages:
    warm = 120
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, 3e-3, warm), optim.cosine_decay(3e-3, steps - warm, 1e-4)], [warm])
    opt = optim.Adam(learning_rate=sched)  # fresh moments and step counter per stage
    n = Xs.shape[0]
    for step in range(steps):
        idx = mx.array(rng.integers(0, n, batch))
        loss, grads = loss_and_grad(model, Xs[idx], ys_[idx])
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        if step % 150 == 0 or step == steps - 1:
            vpred = model(Xval)
            vr = float(mx.sqrt(mx.mean(mx.square(vpred - yval)))) * ys
            rec = {"stage": stage, "step": step, "lr": round(float(opt.learning_rate), 6),
                   "mse_z": round(float(loss), 4), "val_rmse_kg_h": round(vr, 2),
                   "ref_rmse_kg_h": round(ref_rmse, 2)}
            print(json.dumps(rec))

vpred = np.array(model(Xval)) * ys + ym
r2 = 1.0 - np.mean((vpred - yv) ** 2) / np.var(yv)
print(json.dumps({"event": "done", "val_r2": round(float(r2), 4), "seconds": round(time.time() - t0, 1)}))
