# Escape-room booking log: will the team get out inside 60 min, and how long do they take?
# Two-head MLP, Adamax, two curriculum stages (easy rooms first, then the full catalogue incl.
# the hard rooms), linear warm-up from lr 0 at the start of each stage, JSON lines out.
import json
import math
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

mx.random.seed(2031)
N = 6000


def make_bookings(n, key):
    ks = mx.random.split(key, 8)
    team = mx.random.randint(2, 8, (n,), key=ks[0]).astype(mx.float32)          # players
    played = mx.random.uniform(0, 30, (n,), key=ks[1])                          # rooms played before
    diff = mx.random.randint(1, 6, (n,), key=ks[2]).astype(mx.float32)          # room difficulty 1..5
    hints = mx.random.randint(0, 4, (n,), key=ks[3]).astype(mx.float32)         # hint budget
    late = (mx.random.uniform(shape=(n,), key=ks[4]) < 0.3).astype(mx.float32)  # after 21:00
    lang = (mx.random.uniform(shape=(n,), key=ks[5]) < 0.8).astype(mx.float32)  # language match
    skill = 0.9 * mx.log1p(played) + 0.35 * hints + 0.6 * lang - 0.25 * (team - 4.5) ** 2 / 4 - 0.4 * late
    logit = 2.2 + skill - 1.1 * diff
    escaped = (mx.random.uniform(shape=(n,), key=ks[6]) < mx.sigmoid(logit)).astype(mx.float32)
    minutes = 38 + 6.5 * diff - 5.0 * skill + 4.0 * mx.random.normal((n,), key=ks[7])
    minutes = mx.clip(minutes, 18, 60)
    x = mx.stack([(team - 4.5) / 1.7, mx.log1p(played) - 2.3, (diff - 3) / 1.4, hints - 1.5, late, lang], axis=1)
    return x, escaped, minutes, diff


x, y_esc, y_min, diff = make_bookings(N, mx.random.key(5))
split = 5000
xtr, etr, mtr, dtr = x[:split], y_esc[:split], y_min[:split], diff[:split]
xva, eva, mva = x[split:], y_esc[split:], y_min[split:]
MIN_MU, MIN_SD = mtr.mean().item(), math.sqrt(mtr.var().item())


class TwoHead(nn.Module):
    def __init__(self):
        super().__init__()
        self.trunk = nn.Sequential(nn.Linear(6, 64), nn.SiLU(), nn.Linear(64, 64), nn.SiLU())
        self.escape = nn.Linear(64, 1)
        self.clock = nn.Linear(64, 1)

    def __call__(self, x):
        h = self.trunk(x)
        return self.escape(h).squeeze(-1), self.clock(h).squeeze(-1)


def losses(model, x, e, m):
    logit, zmin = model(x)
    bce = nn.losses.binary_cross_entropy(logit, e, with_logits=True, reduction="mean")
    hub = nn.losses.huber_loss(zmin, (m - MIN_MU) / MIN_SD, delta=1.0, reduction="mean")
    return bce + hub, (bce, hub)


def report(model, x, e, m):
    logit, zmin = model(x)
    acc = mx.mean((logit > 0) == (e > 0.5)).item() * 100
    mae = mx.mean(mx.abs(zmin * MIN_SD + MIN_MU - m)).item()
    return acc, mae


model = TwoHead()
mx.eval(model.parameters())
grad_fn = nn.value_and_grad(model, losses)

# reference numbers a front-desk rule of thumb would give (majority class, mean time)
base_acc = max(eva.mean().item(), 1 - eva.mean().item()) * 100
base_mae = mx.mean(mx.abs(mva - MIN_MU)).item()

stages = [("easy_rooms", dtr <= 3, 600), ("full_catalogue", dtr >= 1, 900)]
t0 = time.perf_counter()
for s_idx, (name, sel, steps) in enumerate(stages, start=1):
    idx_pool = mx.array([i for i, ok in enumerate(sel.tolist()) if ok])
    warm = 100
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, 4e-3, warm), optim.cosine_decay(4e-3, steps - warm, 2e-4)], [warm]
    )
    opt = optim.Adamax(learning_rate=sched)
    for step in range(steps):
        pick = idx_pool[mx.random.randint(0, idx_pool.size, (128,))]
        lr_now = opt.learning_rate.item()
        (loss, (bce, hub)), grads = grad_fn(model, xtr[pick], etr[pick], mtr[pick])
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        if step % 75 == 0 or step == steps - 1:
            acc, mae = report(model, xva, eva, mva)
            print(json.dumps({
                "stage": s_idx, "room_set": name, "step": step, "lr": round(lr_now, 6),
                "bce": round(bce.item(), 4), "huber_z": round(hub.item(), 4),
                "val_escape_acc_pct": round(acc, 1), "ref_escape_acc_pct": round(base_acc, 1),
                "val_mae_min": round(mae, 2), "ref_mae_min": round(base_mae, 2),
            }))
acc, mae = report(model, xva, eva, mva)
print(json.dumps({"final": True, "val_escape_acc_pct": round(acc, 1), "val_mae_min": round(mae, 2),
                  "wall_s": round(time.perf_counter() - t0, 1)}))
