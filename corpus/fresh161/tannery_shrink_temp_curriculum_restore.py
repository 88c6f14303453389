# Tannery QA: shrinkage temperature (deg C) of chrome-tanned hides from the drum log.
# Stage "bench": the pilot-drum batches (clean, narrow ranges).
# Stage "production": every batch incl. the wide-range ones with heavier scatter
#   and the fat x pH interaction -> the loss jumps when we switch, then comes down.
# Each stage has its own patience counter and restores its best weights.
import time
from functools import partial

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np

mx.random.seed(11)
gen = np.random.default_rng(11)
COLS = ["chrome_pct", "basify_pH", "drum_h", "float_C", "thick_mm", "fat_pct", "salt_gL"]


def drum_log(n, wide):
    lo = np.array([2.0, 3.6, 4.0, 25.0, 1.2, 1.0, 40.0])
    hi = np.array([4.5, 4.2, 10.0, 38.0, 3.0, 6.0, 90.0])
    if wide:
        lo, hi = lo * 0.8, hi * 1.15
    x = gen.uniform(lo, hi, size=(n, 7))
    c, ph, h, t, th, fat, salt = x.T
    y = (62.0 + 9.0 * np.log(c) + 12.0 * (ph - 3.6) + 4.0 * np.sqrt(h) + 0.35 * (t - 25.0)
         - 2.5 * th - 0.03 * (salt - 60.0))
    if wide:
        y += -1.6 * (fat - 3.0) * (ph - 3.9) * 4.0 - 0.8 * np.maximum(fat - 5.0, 0.0) ** 2
        y += 2.2 * gen.standard_normal(n)
    else:
        y += 0.6 * gen.standard_normal(n)
    return x.astype(np.float32), y.astype(np.float32)


xb_tr, yb_tr = drum_log(1800, wide=False)
xb_va, yb_va = drum_log(200, wide=False)
xp_tr, yp_tr = drum_log(6000, wide=True)
xp_va, yp_va = drum_log(500, wide=True)
xp_tr = np.concatenate([xp_tr, xb_tr]); yp_tr = np.concatenate([yp_tr, yb_tr])

x_mu, x_sd = xp_tr.mean(0), xp_tr.std(0)
y_mu, y_sd = float(yp_tr.mean()), float(yp_tr.std())
nx = lambda a: mx.array((a - x_mu) / x_sd)
ny = lambda a: mx.array((a - y_mu) / y_sd)


class ShrinkNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(7, 48)
        self.l2 = nn.Linear(48, 48)
        self.out = nn.Linear(48, 1)

    def __call__(self, x):
        h = nn.silu(self.l1(x))
        h = h + nn.silu(self.l2(h))
        return self.out(h).squeeze(-1)


model = ShrinkNet()
mx.eval(model.parameters())
opt = optim.SGD(learning_rate=0.05, momentum=0.9, nesterov=True, weight_decay=1e-4)
state = [model.state, opt.state]


def mse(m, x, y):
    return nn.losses.mse_loss(m(x), y)


@partial(mx.compile, inputs=state, outputs=state)
def step(x, y):
    loss, g = nn.value_and_grad(model, mse)(model, x, y)
    opt.update(model, g)
    return loss


def rmse_degC(x, y):
    return float(mx.sqrt(mx.mean(mx.square(model(x) - y)))) * y_sd


stages = [("bench", xb_tr, yb_tr, xb_va, yb_va, 0.05, 60),
          ("production", xp_tr, yp_tr, xp_va, yp_va, 0.03, 80)]
BS = 64
t_start = time.time()
for sname, xtr, ytr, xva, yva, lr0, max_ep in stages:
    Xt, Yt, Xv, Yv = nx(xtr), ny(ytr), nx(xva), ny(yva)
    base = float(np.sqrt(np.mean((yva - yva.mean()) ** 2)))
    opt.learning_rate = lr0
    print(f"\n== stage {sname}: {len(ytr)} batches to learn, {len(yva)} held out, "
          f"predict-the-mean RMSE {base:.2f} degC ==")
    print(f"{'ep':>4} | {'train mse(z)':>12} | {'val RMSE degC':>13} | {'R2 %':>6} | {'mean-only':>9} | {'lr':>7} | wait")
    best, best_w, wait = float("inf"), None, 0
    for ep in range(1, max_ep + 1):
        perm = gen.permutation(len(ytr))
        tot, nb = 0.0, 0
        for i in range(0, len(perm) - BS + 1, BS):
            idx = mx.array(perm[i:i + BS])
            loss = step(Xt[idx], Yt[idx])
            mx.eval(state, loss)
            tot += loss.item(); nb += 1
        v = rmse_degC(Xv, Yv)
        r2 = 100.0 * (1.0 - (v / base) ** 2)
        if v < best - 1e-3:
            best, wait = v, 0
            best_w = [(k, mx.array(p)) for k, p in
                      __import__("mlx.utils", fromlist=["tree_flatten"]).tree_flatten(model.parameters())]
        else:
            wait += 1
        if ep == 1 or ep % 5 == 0 or wait == 0:
            print(f"{ep:>4} | {tot / nb:>12.4f} | {v:>13.3f} | {r2:>6.1f} | {base:>9.2f} | {float(opt.learning_rate):>7.4f} | {wait}")
        if wait >= 8:
            print(f"  stop: no val gain for {wait} epochs (best {best:.3f} degC)")
            break
        if wait == 4:
            opt.learning_rate = float(opt.learning_rate) * 0.5
    model.load_weights(best_w)
    mx.eval(model.parameters())
    print(f"  restored best -> val RMSE {rmse_degC(Xv, Yv):.3f} degC (was {best:.3f})")

print(f"\ndone in {time.time() - t_start:.1f}s")
