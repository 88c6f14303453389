"""Parchment workshop: predict moisture loss (%) of a limed calfskin stretched on a herse after
14 h of drying, plus a 3-way drying grade (under / good / over-dried and cockled).  Stage 1 trains
on winter skins; stage 2 adds humid-summer skins (damper air, noisier fans) so the loss jumps up
before it settles again.
Each stage restarts its step counter and warms the learning rate up from exactly 0."""
import math
import sys
from functools import partial

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

rng = np.random.default_rng(7)
mx.random.seed(7)


def make_skins(n, summer):
    # features: workshop temp C, RH %, fan airflow m3/min, skin thickness x10 mm, scraping passes (scaled), chalk rubs
    temp = rng.uniform(22, 30, n) - (3 if summer else 0)
    rh = rng.uniform(55, 75, n) + (18 if summer else 0)
    air = rng.uniform(15, 30, n)
    thick = rng.uniform(18, 30, n)
    scrape = rng.uniform(0.5, 0.9, n)
    chalk = rng.integers(0, 3, n).astype(np.float64)
    loss_pct = (30 + 0.9 * (temp - 26) - 0.35 * (rh - 65) + 0.55 * (air - 22) - 0.6 * (thick - 24)
                + 8 * (scrape - 0.7) + 1.5 * chalk - (0.04 * (rh - 80).clip(0) ** 2))
    loss_pct += rng.normal(0, 2.4 if summer else 1.0, n)
    grade = np.digitize(loss_pct, [27.0, 33.0])  # 0 under, 1 good, 2 over
    X = np.stack([temp, rh, air, thick, scrape, chalk], 1)
    return X, loss_pct, grade


Xd, yd, gd = make_skins(1200, False)
Xm, ym, gm = make_skins(1200, True)
mu, sd = Xd.mean(0), Xd.std(0)
ymu, ysd = yd.mean(), yd.std()


def to_mx(X, y, g):
    return (mx.array(((X - mu) / sd).astype(np.float32)), mx.array(((y - ymu) / ysd).astype(np.float32)),
            mx.array(g.astype(np.int32)))


class HerseNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.trunk = [nn.Linear(6, 48), nn.Linear(48, 48)]
        self.reg = nn.Linear(48, 1)
        self.cls = nn.Linear(48, 3)

    def __call__(self, x):
        for l in self.trunk:
            x = nn.silu(l(x))
        return self.reg(x).squeeze(-1), self.cls(x)


def losses(model, x, y, g):
    p, logits = model(x)
    reg = nn.losses.huber_loss(p, y, delta=1.0, reduction="mean")
    ce = nn.losses.cross_entropy(logits, g, reduction="mean")
    return reg + 0.3 * ce, (reg, ce)


model = HerseNet()
mx.eval(model.parameters())
opt = optim.SGD(learning_rate=0.0, momentum=0.9, nesterov=True, weight_decay=1e-4)
state = [model.state, opt.state]


@partial(mx.compile, inputs=state, outputs=state)
def step(x, y, g):
    (tot, (reg, ce)), grads = nn.value_and_grad(model, losses)(model, x, y, g)
    opt.update(model, grads)
    return tot, reg, ce


def evaluate(x, y, g):
    p, logits = model(x)
    mae = (mx.abs(p - y) * ysd).mean()
    acc = (mx.argmax(logits, -1) == g).mean()
    return mae.item(), 100 * acc.item()


# check every trained array gets gradient before we start
xs, ys, gs = to_mx(Xd[:64], yd[:64], gd[:64])
_, g0 = nn.value_and_grad(model, losses)(model, xs, ys, gs)
from mlx.utils import tree_flatten
dead = [k for k, v in tree_flatten(g0) if mx.abs(v).max().item() == 0]
print("grad check:", "ok" if not dead else f"zero grads in {dead}")

test_d = to_mx(Xd[1000:], yd[1000:], gd[1000:])
test_m = to_mx(Xm[1000:], ym[1000:], gm[1000:])
naive_mae_m = float(np.abs(ym[1000:] - ymu).mean())
naive_mae_d = float(np.abs(yd[1000:] - ymu).mean())

stages = [("winter", np.arange(1000), None), ("winter+summer", np.arange(1000), np.arange(1000))]
BS, STEPS, WARM, PEAK = 50, 300, 60, 0.05
for sname, di, mi in stages:
    X = Xd[di]; y = yd[di]; g = gd[di]
    if mi is not None:
        X = np.concatenate([X, Xm[mi]]); y = np.concatenate([y, ym[mi]]); g = np.concatenate([g, gm[mi]])
    xa, ya, ga = to_mx(X, y, g)
    n = xa.shape[0]
    run_t = run_r = run_c = 0.0
    for it in range(STEPS + 1):
        lr = PEAK * it / WARM if it < WARM else PEAK * 0.5 * (1 + math.cos(math.pi * (it - WARM) / (STEPS - WARM)))
        opt.learning_rate = lr
        idx = mx.array(rng.integers(0, n, BS))
        tot, reg, ce = step(xa[idx], ya[idx], ga[idx])
        mx.eval(tot, reg, ce, model.parameters(), opt.state)
        k = 0.9 if it else 0.0
        run_t = k * run_t + (1 - k) * tot.item(); run_r = k * run_r + (1 - k) * reg.item(); run_c = k * run_c + (1 - k) * ce.item()
        if it % 50 == 0:
            done = int(20 * it / STEPS)
            sys.stdout.write(f"{sname:>12} |{'#' * done}{'.' * (20 - done)}| {it:3d}/{STEPS} "
                             f"[lr={lr:.4f}, tot={run_t:.3f}, huber={run_r:.3f}, ce={run_c:.3f}]\n")
    mae_d, acc_d = evaluate(*test_d)
    mae_m, acc_m = evaluate(*test_m)
    print(f"== stage {sname}: winter MAE {mae_d:.2f} pp (mean-guess {naive_mae_d:.2f}), grade {acc_d:.1f}% | "
          f"summer MAE {mae_m:.2f} pp (mean-guess {naive_mae_m:.2f}), grade {acc_m:.1f}%")
