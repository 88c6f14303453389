# Ice-core dating: regress the age (kyr) of an ice sample from depth and
# three chemistry readings.  Curriculum over core depth (shallow -> deep),
# each stage restarts its epoch counter and warms the LR up from exactly 0.
# Early stopping per stage restores the best weights.  JSON lines out.
import json
import math
from functools import partial

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_map, tree_flatten

mx.random.seed(11)
H = 3200.0  # ice thickness (m)


def make_core(n, key):
    k1, k2 = mx.random.split(key)
    depth = mx.random.uniform(0.0, 3000.0, (n,), key=k1)
    # Nye thinning: age grows faster than depth near the bed
    age = 12.0 * -mx.log(1.0 - depth / H)  # kyr
    age = age * 10.0
    noise = mx.random.normal((n, 3), key=k2)
    d18o = -38.0 + 4.0 * mx.cos(2 * math.pi * age / 100.0) + 0.3 * noise[:, 0]
    dust = 1.5 * mx.sin(2 * math.pi * age / 41.0) + 0.01 * age + 0.2 * noise[:, 1]
    cond = 2.0 + 0.5 * mx.cos(2 * math.pi * age / 23.0) + 0.1 * noise[:, 2]
    x = mx.stack([depth / 1000.0, (d18o + 38.0) / 4.0, dust, cond - 2.0], axis=1)
    return x, age, depth


xtr, ytr, dtr = make_core(6000, mx.random.key(1))
xva, yva, dva = make_core(1500, mx.random.key(2))
AGE_SCALE = 100.0


class AgeNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(4, 64)
        self.l2 = nn.Linear(64, 64)
        self.l3 = nn.Linear(64, 1)

    def __call__(self, x):
        h = nn.silu(self.l1(x))
        h = nn.silu(self.l2(h))
        return self.l3(h).squeeze(-1)


model = AgeNet()
mx.eval(model.parameters())
opt = optim.Adamax(learning_rate=0.0)


def loss_fn(m, x, y):
    return mx.mean((m(x) - y / AGE_SCALE) ** 2)


state = [model.state, opt.state]


@partial(mx.compile, inputs=state, outputs=state)
def train_step(x, y):
    loss, grads = nn.value_and_grad(model, loss_fn)(model, x, y)
    opt.update(model, grads)
    return loss


# gradient audit once before training
_, g0 = nn.value_and_grad(model, loss_fn)(model, xtr[:256], ytr[:256])
zero = [k for k, v in tree_flatten(g0) if mx.abs(v).max().item() == 0.0]
print(json.dumps({"audit": "grad", "tensors": len(tree_flatten(g0)), "zero_grad": zero}))

stages = [("firn+shallow", 1000.0, 30), ("mid", 2200.0, 30), ("deep", 3000.0, 45)]
BATCH, PEAK, WARM = 128, 3e-3, 60
for sname, dmax, max_epochs in stages:
    tr_idx = mx.array([i for i, d in enumerate(dtr.tolist()) if d < dmax])
    va_idx = mx.array([i for i, d in enumerate(dva.tolist()) if d < dmax])
    xs, ys = xtr[tr_idx], ytr[tr_idx]
    xv, yv = xva[va_idx], yva[va_idx]
    base_mae = mx.mean(mx.abs(yv - mx.mean(ys))).item()  # predict-the-mean baseline
    n = xs.shape[0]
    best, best_params, bad, it = float("inf"), None, 0, 0
    for epoch in range(max_epochs):
        perm = mx.random.permutation(n)
        tot, cnt = 0.0, 0
        for s in range(0, n - BATCH + 1, BATCH):
            lr = PEAK * min(1.0, it / WARM)  # exactly 0 on the first step of a stage
            opt.learning_rate = lr
            idx = perm[s:s + BATCH]
            loss = train_step(xs[idx], ys[idx])
            mx.eval(loss, model.state, opt.state)
            tot += loss.item()
            cnt += 1
            it += 1
        val_mae = mx.mean(mx.abs(model(xv) * AGE_SCALE - yv)).item()
        rec = {"stage": sname, "epoch": epoch, "lr": round(lr, 6), "train_mse": round(tot / cnt, 5),
               "val_mae_kyr": round(val_mae, 3), "baseline_mae_kyr": round(base_mae, 3)}
        if val_mae < best - 1e-3:
            best, bad = val_mae, 0
            best_params = tree_map(lambda p: mx.array(p), model.parameters())
            mx.eval(best_params)
        else:
            bad += 1
        if epoch % 5 == 0 or bad >= 8:
            print(json.dumps(rec))
        if bad >= 8:
            print(json.dumps({"stage": sname, "event": "early_stop", "epoch": epoch, "best_val_mae_kyr": round(best, 3)}))
            break
    model.update(best_params)
    mx.eval(model.parameters())
    restored = mx.mean(mx.abs(model(xv) * AGE_SCALE - yv)).item()
    print(json.dumps({"stage": sname, "event": "restore", "val_mae_kyr": round(restored, 3),
                      "diff_vs_best": round(restored - best, 6)}))

full = mx.mean(mx.abs(model(xva) * AGE_SCALE - yva)).item()
print(json.dumps({"final": True, "val_mae_kyr_all_depths": round(full, 3),
                  "baseline_mae_kyr": round(mx.mean(mx.abs(yva - mx.mean(ytr))).item(), 3)}))
