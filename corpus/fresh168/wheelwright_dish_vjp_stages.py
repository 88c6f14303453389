"""Wheelwright's shop: predict wheel 'dish' error (mm) after truing, from spoke/felloe
readings. Stage A trains on the well-behaved oak wheels only; stage B adds the
ash and elm wheels (harder, noisier), so the loss jumps up before it comes back down.
Early stopping on a validation split restores the best weights at the end."""
import json
import sys

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map

mx.random.seed(5)


@mx.custom_function
def soft_knee(x):
    # x / (1 + |x|) : a cheap smooth squashing unit
    return x / (1 + mx.abs(x))


@soft_knee.vjp
def soft_knee_vjp(primals, cotangent, output):
    x = primals
    d = 1 + mx.abs(x)
    return cotangent / (d * d)


# sanity: hand-written derivative vs autodiff of the same formula
_xs = mx.linspace(-4, 4, 101)
_g_custom = mx.grad(lambda z: soft_knee(z).sum())(_xs)
_g_auto = mx.grad(lambda z: (z / (1 + mx.abs(z))).sum())(_xs)
print(json.dumps({"event": "vjp_check", "max_abs_diff": float(mx.abs(_g_custom - _g_auto).max().item())}))


def make_wheels(n, wood):
    # features: spoke count/16, spoke tension, felloe width, hub bore, tyre shrink, moisture %, wood code
    x = mx.random.normal((n, 6))
    dish = (2.0 * x[:, 1] - 1.2 * x[:, 4] + 0.8 * x[:, 0] * x[:, 5]
            + 1.5 * mx.sin(2 * x[:, 2]) + 0.5 * x[:, 3] ** 2)
    if wood == "oak":
        code, noise, extra = 0.0, 0.3, 0.0
    else:
        code, noise, extra = 1.0, 0.6, 1.0
    dish = dish + extra * (1.8 * x[:, 5] * x[:, 1] - 0.9 * mx.abs(x[:, 4]))
    dish = dish + noise * mx.random.normal((n,))
    xx = mx.concatenate([x, mx.full((n, 1), code)], axis=1)
    return xx, dish


class DishNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = nn.Linear(7, 64)
        self.b = nn.Linear(64, 64)
        self.c = nn.Linear(64, 1)

    def __call__(self, x):
        h = soft_knee(self.a(x))
        h = soft_knee(self.b(h))
        return self.c(h).squeeze(-1)


def mse(model, x, y):
    return ((model(x) - y) ** 2).mean()


oak_x, oak_y = make_wheels(3000, "oak")
soft_x, soft_y = make_wheels(3000, "ash/elm")
vo_x, vo_y = make_wheels(500, "oak")
vs_x, vs_y = make_wheels(500, "ash/elm")
val_x = mx.concatenate([vo_x, vs_x])
val_y = mx.concatenate([vo_y, vs_y])

model = DishNet()
mx.eval(model.parameters())
opt = optim.SGD(learning_rate=0.02, momentum=0.9, nesterov=True)
lg = nn.value_and_grad(model, mse)

_, g = lg(model, oak_x[:64], oak_y[:64])
dead = [k for k, v in tree_flatten(g) if mx.abs(v).sum().item() == 0]
print(json.dumps({"event": "grad_audit", "tensors": len(tree_flatten(g)), "zero_grad": dead}))

stages = [("A_oak", oak_x, oak_y, 30), ("B_all", mx.concatenate([oak_x, soft_x]), mx.concatenate([oak_y, soft_y]), 60)]
best = {"val": float("inf"), "epoch": -1, "params": None}
patience, bad = 12, 0
epoch = 0
for name, X, Y, n_ep in stages:
    n = X.shape[0]
    bad = 0
    for ep in range(n_ep):
        perm = mx.random.permutation(n)
        tot, cnt = 0.0, 0
        for i in range(0, n, 100):
            idx = perm[i:i + 100]
            loss, grads = lg(model, X[idx], Y[idx])
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
            tot += loss.item()
            cnt += 1
        v = mse(model, val_x, val_y).item()
        rec = {"stage": name, "ep": ep, "train_mse_mm2": round(tot / cnt, 4),
               "val_rmse_mm": round(v ** 0.5, 4), "best_val_rmse_mm": round(min(v, best["val"]) ** 0.5, 4)}
        if v < best["val"]:
            best = {"val": v, "epoch": epoch, "params": tree_map(lambda p: mx.array(p), model.parameters())}
            bad = 0
        else:
            bad += 1
        if ep % 5 == 0 or bad == 0 and ep == n_ep - 1:
            print(json.dumps(rec))
        epoch += 1
        if name == "B_all" and bad >= patience:
            print(json.dumps({"event": "early_stop", "stage": name, "ep": ep, "since_best": bad}))
            break

model.update(best["params"])
mx.eval(model.parameters())
final = mse(model, val_x, val_y).item()
zero = ((val_y - val_y.mean()) ** 2).mean().item()
print(json.dumps({"event": "restored", "from_epoch": best["epoch"], "val_rmse_mm": round(final ** 0.5, 4),
                  "mean_predictor_rmse_mm": round(zero ** 0.5, 4)}))
sys.exit(0)
