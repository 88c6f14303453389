import json, time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_map

g = np.random.default_rng(5)
S = 16
yy, xx = np.mgrid[0:S, 0:S].astype(np.float32) / (S - 1) * 2 - 1

def suit_mask(kind, cx, cy, r):
    u, v = (xx - cx) / r, (yy - cy) / r
    if kind == 0:   # diamond
        return (np.abs(u) + np.abs(v) < 1).astype(np.float32)
    if kind == 1:   # heart: two lobes over a point
        lobes = (((u + 0.45) ** 2 + (v + 0.3) ** 2) < 0.3) | (((u - 0.45) ** 2 + (v + 0.3) ** 2) < 0.3)
        return (lobes | ((np.abs(u) < 1 - (v + 0.1)) & (v > -0.1) & (v < 0.95))).astype(np.float32)
    if kind == 2:   # club: three discs and a stem
        d = lambda a, b: ((u - a) ** 2 + (v - b) ** 2) < 0.18
        return (d(0, -0.45) | d(-0.45, 0.1) | d(0.45, 0.1) | ((np.abs(u) < 0.12) & (v > 0) & (v < 0.95))).astype(np.float32)
    # spade: inverted heart and a stem
    lobes = (((u + 0.45) ** 2 + (v - 0.2) ** 2) < 0.3) | (((u - 0.45) ** 2 + (v - 0.2) ** 2) < 0.3)
    return (lobes | ((np.abs(u) < 1 + (v - 0.1)) & (v < 0.1) & (v > -0.95)) | ((np.abs(u) < 0.12) & (v > 0.2) & (v < 0.95))).astype(np.float32)

def deal(n):
    y = g.integers(0, 4, n)
    imgs = np.empty((n, S, S, 1), np.float32)
    for k in range(n):
        m = suit_mask(y[k], g.uniform(-0.2, 0.2), g.uniform(-0.2, 0.2), g.uniform(0.45, 0.7))
        imgs[k, ..., 0] = m * g.uniform(0.6, 1.0) + g.normal(0, 0.3, (S, S))
    return imgs, y.astype(np.int32)

xtr, ytr = deal(1200)
xva, yva = deal(400)

def shrink(x):  # 16x16 -> 8x8 by 2x2 average pooling
    return x.reshape(x.shape[0], S // 2, 2, S // 2, 2, 1).mean(axis=(2, 4))

class SuitNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv2d(1, 8, 3, padding=1)
        self.c2 = nn.Conv2d(8, 12, 3, padding=1)
        self.c3 = nn.Conv2d(12, 16, 3, padding=1)
        self.out = nn.Linear(16, 4)
    def __call__(self, x):
        x = nn.gelu(self.c1(x))
        x = nn.gelu(self.c2(x))
        x = nn.gelu(self.c3(x))
        return self.out(x.max(axis=(1, 2)))

def loss_fn(m, x, y):
    return nn.losses.cross_entropy(m(x), y, reduction="mean")

def err_pct(params, x, y):
    probe.update(params)
    return 100 * (1 - (mx.argmax(probe(mx.array(x)), axis=-1) == mx.array(y)).mean().item())

mx.random.seed(1)
model, probe = SuitNet(), SuitNet()
ema = tree_map(lambda p: p, model.parameters())
vg = nn.value_and_grad(model, loss_fn)
print(json.dumps({"event": "data", "train": len(xtr), "val": len(xva), "classes": ["diamond", "heart", "club", "spade"], "chance_err_pct": 75.0}))

t0 = time.time()
for stage, res, epochs, lr in (("low-res 8x8", 8, 5, 0.05), ("full-res 16x16", 16, 4, 0.02)):
    opt = optim.SGD(learning_rate=lr, momentum=0.9, nesterov=True)
    xs = shrink(xtr) if res == 8 else xtr
    xv = shrink(xva) if res == 8 else xva
    for ep in range(1, epochs + 1):
        perm = g.permutation(len(xs))
        run = []
        for i in range(0, len(xs) - 39, 40):
            idx = perm[i:i + 40]
            loss, grads = vg(model, mx.array(xs[idx]), mx.array(ytr[idx]))
            opt.update(model, grads)
            ema = tree_map(lambda e, p: 0.95 * e + 0.05 * p, ema, model.parameters())
            mx.eval(loss, model.parameters(), opt.state, ema)
            run.append(loss.item())
        print(json.dumps({"stage": stage, "epoch": ep, "train_ce": round(float(np.mean(run)), 4),
                          "val_err_pct": round(err_pct(model.parameters(), xv, yva), 2),
                          "val_err_pct_ema": round(err_pct(ema, xv, yva), 2),
                          "full_res_err_pct_ema": round(err_pct(ema, xva, yva), 2),
                          "secs": round(time.time() - t0, 1)}))
print(json.dumps({"event": "done", "final_val_err_pct_ema": round(err_pct(ema, xva, yva), 2), "chance_err_pct": 75.0}))
