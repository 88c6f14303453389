"""Fountain-pen ink line width (mm) from nib/ink/paper readings.

Stage A: smooth coated papers only. Stage B: adds absorbent uncoated papers
(feathering makes width much larger and noisier), so the loss jumps when the
stage starts and then comes back down. Each stage warms its learning rate up
from exactly 0. The paper-texture encoder is a fixed random projection that is
frozen on purpose.
"""
import json
import math

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

mx.random.seed(11)


def make_papers(n, absorbent):
    nib = mx.random.uniform(0.3, 1.1, (n,))          # nominal nib width mm
    visc = mx.random.uniform(1.0, 4.0, (n,))         # ink viscosity mPa*s
    speed = mx.random.uniform(20.0, 120.0, (n,))     # writing speed mm/s
    rh = mx.random.uniform(30.0, 80.0, (n,))         # relative humidity %
    sizing = mx.random.uniform(0.0, 0.4, (n,)) if absorbent else mx.random.uniform(0.6, 1.0, (n,))
    rough = mx.random.uniform(0.3, 1.0, (n,)) if absorbent else mx.random.uniform(0.0, 0.3, (n,))
    wet = nib * (1.0 + 0.15 * (4.0 - visc)) * (1.0 - 0.003 * (speed - 20.0))
    feather = (1.0 - sizing) ** 2 * (0.6 + 0.01 * (rh - 30.0)) * (1.0 + rough)
    width = wet * (1.0 + feather) + 0.03 * mx.random.normal((n,)) * (1.0 + 2.0 * feather)
    raw = mx.stack([nib, visc, speed / 100.0, rh / 100.0, sizing, rough], axis=1)
    return raw, width


class InkWidthNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.texture = nn.Linear(2, 16)   # frozen random features of sizing/roughness
        self.body = nn.Sequential(nn.Linear(4 + 16, 64), nn.SiLU(), nn.Linear(64, 64), nn.SiLU())
        self.head = nn.Linear(64, 1)

    def __call__(self, raw):
        tex = mx.sin(self.texture(raw[:, 4:6]) * 3.0)
        h = self.body(mx.concatenate([raw[:, :4], tex], axis=1))
        return self.head(h).squeeze(-1)


model = InkWidthNet()
model.texture.freeze()
mx.eval(model.parameters())

xa, ya = make_papers(3000, absorbent=False)
xb, yb = make_papers(3000, absorbent=True)
xva, yva = make_papers(600, absorbent=False)
xvb, yvb = make_papers(600, absorbent=True)
mx.eval(xa, ya, xb, yb, xva, yva, xvb, yvb)


def loss_fn(m, x, y):
    return nn.losses.huber_loss(m(x), y, delta=0.25, reduction="mean")


grad_fn = nn.value_and_grad(model, loss_fn)

# one-time audit: every trainable tensor gets a gradient, the frozen one does not
_, g0 = grad_fn(model, xa[:64], ya[:64])
flat = dict(nn.utils.tree_flatten(g0))
print(json.dumps({"audit": "grad_norms", **{k: round(mx.linalg.norm(v).item(), 5) for k, v in flat.items()},
                  "frozen_in_grads": any(k.startswith("texture") for k in flat)}))


def evaluate(x, y, train_y):
    pred = model(x)
    mae = mx.mean(mx.abs(pred - y)).item()
    base = mx.mean(mx.abs(mx.mean(train_y) - y)).item()
    r2 = 1.0 - (mx.sum((pred - y) ** 2) / mx.sum((y - mx.mean(y)) ** 2)).item()
    return mae, base, r2


stages = [("A_coated", xa, ya, 400), ("B_all_papers", mx.concatenate([xa, xb]), mx.concatenate([ya, yb]), 600)]
batch = 256
for name, x, y, steps in stages:
    warm = optim.linear_schedule(0.0, 1e-3, 40)
    decay = optim.cosine_decay(1e-3, steps - 40, 5e-5)
    opt = optim.Lion(learning_rate=optim.join_schedules([warm, decay], [40]), weight_decay=1e-3)
    n = x.shape[0]
    for step in range(steps):
        idx = mx.random.randint(0, n, (batch,))
        loss, grads = grad_fn(model, x[idx], y[idx])
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        if step % 100 == 0 or step == steps - 1:
            mae_a, base_a, r2_a = evaluate(xva, yva, ya)
            mae_b, base_b, r2_b = evaluate(xvb, yvb, y)
            print(json.dumps({"stage": name, "step": step, "lr": round(opt.learning_rate.item(), 7),
                              "huber": round(loss.item(), 5),
                              "coated": {"mae_mm": round(mae_a, 4), "mean_baseline_mm": round(base_a, 4), "r2": round(r2_a, 3)},
                              "absorbent": {"mae_mm": round(mae_b, 4), "mean_baseline_mm": round(base_b, 4), "r2": round(r2_b, 3)}}))
