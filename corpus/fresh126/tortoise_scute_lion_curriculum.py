# Tortoise rescue centre: monthly carapace growth (mm) from husbandry records.
# Stage A trains on juveniles only (clean calliper readings); stage B adds the
# adults, whose growth is slower and whose readings are noisier, so the loss
# jumps when the stage changes and then settles again.
import json
import math
import time
from functools import partial

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

mx.random.seed(7)

FEATURES = ["age_yr", "uvb_hours", "calcium_mg", "fibre_pct", "basking_c", "water_ml"]


def make_records(n, adult):
    k = mx.random.split(mx.random.key(11 if adult else 3), 3)
    x = mx.random.normal((n, len(FEATURES)), key=k[0])
    age = 8.0 + 3.0 * x[:, 0] if adult else 1.5 + 0.6 * x[:, 0]
    age = mx.maximum(age, 0.3)
    # growth slows with age, helped by UVB, calcium and warm basking spots
    growth = (
        4.0 * mx.exp(-age / 6.0)
        + 0.6 * mx.tanh(x[:, 1])
        + 0.4 * x[:, 2]
        - 0.25 * x[:, 3] ** 2
        + 0.3 * x[:, 4] * x[:, 1]
        + 0.15 * x[:, 5]
    )
    noise = (0.35 if adult else 0.08) * mx.random.normal((n,), key=k[1])
    feats = mx.concatenate([(age[:, None] - 4.0) / 4.0, x[:, 1:]], axis=1)
    return feats, growth + noise


juv_x, juv_y = make_records(1200, adult=False)
adu_x, adu_y = make_records(1200, adult=True)
val_x = mx.concatenate([juv_x[1000:], adu_x[1000:]])
val_y = mx.concatenate([juv_y[1000:], adu_y[1000:]])
juv_x, juv_y, adu_x, adu_y = juv_x[:1000], juv_y[:1000], adu_x[:1000], adu_y[:1000]


class GrowthNet(nn.Module):
    def __init__(self, d_in, width=48):
        super().__init__()
        self.inp = nn.Linear(d_in, width)
        self.mid = nn.Linear(width, width)
        self.out = nn.Linear(width, 1)

    def __call__(self, x):
        h = nn.silu(self.inp(x))
        h = h + nn.silu(self.mid(h))
        return self.out(h).squeeze(-1)


model = GrowthNet(len(FEATURES))
mx.eval(model.parameters())

TOTAL = 600
WARM = 60
PEAK = 2e-3


def lr_at(step):
    # linear warmup from exactly 0.0, then cosine down to 10 % of peak
    step = mx.array(step, mx.float32)
    warm = PEAK * step / WARM
    prog = (step - WARM) / (TOTAL - WARM)
    cos = PEAK * (0.1 + 0.9 * 0.5 * (1 + mx.cos(math.pi * mx.clip(prog, 0, 1))))
    return mx.where(step < WARM, warm, cos)


opt = optim.Lion(learning_rate=lr_at, weight_decay=1e-3)


def huber(model, x, y):
    return nn.losses.huber_loss(model(x), y, delta=1.0, reduction="mean")


state = [model.state, opt.state]


@partial(mx.compile, inputs=state, outputs=state)
def train_step(x, y):
    loss, grads = nn.value_and_grad(model, huber)(model, x, y)
    opt.update(model, grads)
    return loss


# one-off audit: every trainable tensor gets a gradient
_, g0 = nn.value_and_grad(model, huber)(model, juv_x[:64], juv_y[:64])
from mlx.utils import tree_flatten

for name, g in tree_flatten(g0):
    n = mx.linalg.norm(g).item()
    print(json.dumps({"audit": name, "grad_l2": round(n, 6), "nonzero": n > 0}))

base_pred = mx.mean(mx.concatenate([juv_y, adu_y]))
base_mae = mx.mean(mx.abs(val_y - base_pred)).item()

t0 = time.time()
BATCH = 64
for step in range(TOTAL):
    stage = "A" if step < 250 else "B"
    if stage == "A":
        xs, ys = juv_x, juv_y
    else:
        xs = mx.concatenate([juv_x, adu_x])
        ys = mx.concatenate([juv_y, adu_y])
    idx = mx.random.randint(0, xs.shape[0], (BATCH,))
    loss = train_step(xs[idx], ys[idx])
    mx.eval(loss, model.state, opt.state)
    if step % 25 == 0 or step == TOTAL - 1:
        pred = model(val_x)
        mae = mx.mean(mx.abs(pred - val_y)).item()
        ss_res = mx.sum((pred - val_y) ** 2).item()
        ss_tot = mx.sum((val_y - mx.mean(val_y)) ** 2).item()
        print(json.dumps({
            "step": step,
            "stage": stage,
            "lr": float(f"{lr_at(step).item():.3e}"),
            "train_huber": round(loss.item(), 4),
            "val_mae_mm": round(mae, 3),
            "mean_guess_mae_mm": round(base_mae, 3),
            "r2_pct": round(100 * (1 - ss_res / ss_tot), 1),
        }))

print(json.dumps({"done": True, "seconds": round(time.time() - t0, 2)}))
