# Cultured-pearl nacre thickness (mm) from farm readings.
# Stage A: encoder frozen on purpose, head fitted on the calm-lagoon lots only.
# Stage B: encoder unfrozen, storm-season lots (wider range, heavier noise) added.
# Compiled SGD-momentum step, early stopping on val MAE with best-weight restore.
import time
from functools import partial

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten, tree_map

rs = np.random.RandomState(11)
mx.random.seed(11)


def farm_lots(n, storm):
    temp = rs.uniform(24, 30, n) + (rs.uniform(-3, 3, n) if storm else 0)
    sal = rs.normal(34, 0.6 if not storm else 1.8, n)
    chl = rs.gamma(2.0, 0.4 if not storm else 0.8, n)
    months = rs.uniform(10, 24, n)
    shell = rs.normal(190, 15, n)
    nucleus = rs.uniform(6.0, 8.5, n)
    nacre = (0.018 * months * np.exp(-0.5 * ((temp - 27.5) / 2.2) ** 2)
             * (1 + 0.25 * np.tanh(chl - 0.8)) * (1 - 0.04 * np.abs(sal - 34))
             + 0.0008 * (shell - 190) - 0.015 * (nucleus - 7))
    nacre = nacre + rs.normal(0, 0.015 if not storm else 0.04, n)
    return np.stack([temp, sal, chl, months, shell, nucleus], 1).astype(np.float32), nacre.astype(np.float32)


Xa, ya = farm_lots(1500, storm=False)
Xs, ys = farm_lots(1500, storm=True)
Xv1, yv1 = farm_lots(150, False)
Xv2, yv2 = farm_lots(150, True)
Xv, yv = np.concatenate([Xv1, Xv2]), np.concatenate([yv1, yv2])
mu, sd = Xa.mean(0), Xa.std(0)
ym, ys_ = ya.mean(), ya.std()
norm = lambda X: mx.array((X - mu) / sd)
Xa_m, Xs_m, Xv_m = norm(Xa), norm(Xs), norm(Xv)
ya_m, ys_m = mx.array((ya - ym) / ys_), mx.array((ys - ym) / ys_)
yv_mm = mx.array(yv)


class NacreNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.encoder = nn.Sequential(nn.Linear(6, 64), nn.GELU(), nn.Linear(64, 64), nn.GELU())
        self.head = nn.Sequential(nn.Linear(64, 32), nn.Tanh(), nn.Linear(32, 1))

    def __call__(self, x):
        return self.head(self.encoder(x)).squeeze(-1)


def mse(model, xb, yb):
    return mx.mean((model(xb) - yb) ** 2)


def val_mae_mm(model):
    pred = model(Xv_m) * ys_ + ym
    return mx.mean(mx.abs(pred - yv_mm)).item()


def make_step(model, opt):
    vg = nn.value_and_grad(model, mse)
    state = [model.state, opt.state]

    @partial(mx.compile, inputs=state, outputs=state)
    def step(xb, yb):
        loss, g = vg(model, xb, yb)
        opt.update(model, g)
        return loss

    return step, vg


def norms(model):
    enc = sum(mx.sum(v * v) for _, v in tree_flatten(model.encoder.parameters())) ** 0.5
    head = sum(mx.sum(v * v) for _, v in tree_flatten(model.head.parameters())) ** 0.5
    return enc.item(), head.item()


def bar(i, n, w=20):
    f = int(w * i / n)
    return "|" + "#" * f + "." * (w - f) + "|"


model = NacreNet()
mx.eval(model.parameters())
t0 = time.time()
stages = [("A", Xa_m, ya_m, 25, 0.05, True), ("B", mx.concatenate([Xa_m, Xs_m]), mx.concatenate([ya_m, ys_m]), 60, 0.006, False)]
for name, Xt, yt, epochs, lr, freeze_enc in stages:
    if freeze_enc:
        model.encoder.freeze()
    else:
        model.encoder.unfreeze()
    opt = optim.SGD(learning_rate=lr, momentum=0.9, nesterov=True)
    step, vg = make_step(model, opt)
    _, g0 = vg(model, Xt[:64], yt[:64])
    gmin = min(mx.abs(v).max().item() for _, v in tree_flatten(g0))
    print(f"== stage {name}: {len(tree_flatten(g0))} trainable tensors, min max|g| {gmin:.2e}, lr {lr}, n={Xt.shape[0]} ==")
    enc0, head0 = norms(model)
    best, best_ep, wait, best_w = float("inf"), 0, 0, None
    patience = 8
    n = Xt.shape[0]
    for ep in range(1, epochs + 1):
        idx = mx.array(rs.permutation(n))
        tot = 0.0
        nb = 0
        for s in range(0, n, 50):
            b = idx[s:s + 50]
            loss = step(Xt[b], yt[b])
            mx.eval(loss, model.state, opt.state)
            tot += loss.item()
            nb += 1
        mae = val_mae_mm(model)
        if mae < best - 1e-5:
            best, best_ep, wait = mae, ep, 0
            best_w = tree_map(lambda v: mx.array(v), model.parameters())
            mx.eval(best_w)
        else:
            wait += 1
        print(f"stage {name} ep {ep:02d}/{epochs} {bar(ep, epochs)} train_mse={tot / nb:.4f} "
              f"val_mae={mae:.4f}mm best={best:.4f}mm (ep {best_ep}) pat {wait}/{patience} "
              f"[{time.time() - t0:.1f}s]", flush=True)
        if ep % 5 == 0:
            enc1, head1 = norms(model)
            print(f"  audit |enc|={enc1:.3f} d|enc|={enc1 - enc0:+.4f} |head|={head1:.3f} d|head|={head1 - head0:+.4f}")
        if not freeze_enc and wait >= patience:
            print(f"  early stop at ep {ep}; restoring ep {best_ep} weights (val_mae {best:.4f}mm)")
            break
    if best_w is not None:
        model.update(best_w)
        mx.eval(model.parameters())
print(f"final val MAE {val_mae_mm(model):.4f} mm  (predict-mean baseline {np.abs(yv - ya.mean()).mean():.4f} mm)")
