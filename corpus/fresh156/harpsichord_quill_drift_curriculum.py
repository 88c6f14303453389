# Harpsichord string drift: predict how many cents a string has drifted after a day,
# from the room log (humidity change, temperature change, hours since last tuning),
# the string's register and its gauge. Two-stage curriculum: stage 1 sees only the
# 8' register in a mild season; stage 2 adds the 4' register and winter heating swings.
import math
import random
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

rng = random.Random(1731)
mx.random.seed(1731)


def one_string(hard):
    register = rng.choice([0, 1]) if hard else 0          # 0 = 8', 1 = 4'
    d_rh = rng.gauss(0.0, 14.0 if hard else 5.0)            # % relative humidity change
    d_temp = rng.gauss(0.0, 4.0 if hard else 1.5)           # degC
    hours = rng.uniform(2.0, 48.0)
    gauge = rng.uniform(0.18, 0.45)                          # mm
    note = rng.randint(0, 55) / 55.0
    # made-up physics: humidity swells the soundboard (pitch goes up), heat slackens wire
    cents = (0.9 + 0.6 * register) * d_rh * (1.0 - 0.5 * note) \
        - 1.3 * d_temp * (0.4 / gauge) ** 0.5 \
        + 0.08 * hours * (1 if d_rh > 0 else -1) \
        + 0.02 * d_rh * d_temp * register
    cents += rng.gauss(0.0, 0.8)
    feats = [register, d_rh / 10.0, d_temp / 3.0, hours / 24.0, (gauge - 0.3) * 10.0, note]
    return feats, cents


def make(n, hard):
    xs, ys = zip(*(one_string(hard) for _ in range(n)))
    return mx.array(xs), mx.array(ys)


class DriftNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.inp = nn.Linear(6, 64)
        self.mid = nn.Linear(64, 64)
        self.out = nn.Linear(64, 1)

    def __call__(self, x):
        h = nn.gelu(self.inp(x))
        h = h + nn.gelu(self.mid(h))
        return self.out(h).squeeze(-1)


model = DriftNet()
mx.eval(model.parameters())


def loss_fn(m, x, y):
    return nn.losses.huber_loss(m(x), y, delta=2.0, reduction="mean")


STAGES = [("mild 8'", False, 250), ("winter 8'+4'", True, 400)]
BATCH = 96


def bar(i, n, width=20):
    k = int(width * i / n)
    return "#" * k + " " * (width - k)


val_hard = make(1500, True)
grad_audit_done = False
t_all = time.time()
summary = []
for s_idx, (s_name, hard, steps) in enumerate(STAGES, 1):
    xtr, ytr = make(6000, hard)
    xva, yva = make(1000, hard)
    warm = 50
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, 0.02, warm), optim.cosine_decay(0.02, steps - warm, 1e-4)], [warm])
    opt = optim.SGD(learning_rate=sched, momentum=0.9, nesterov=True)
    opt.init(model.trainable_parameters())
    state = [model.state, opt.state]

    if not grad_audit_done:
        _, g0 = nn.value_and_grad(model, loss_fn)(model, xtr[:BATCH], ytr[:BATCH])
        norms = [(k, mx.linalg.norm(v).item()) for k, v in tree_flatten(g0)]
        nz = sum(1 for _, v in norms if v > 0)
        print(f"[audit] grad tensors non-zero: {nz}/{len(norms)}  min |g| = {min(v for _, v in norms):.3e}")
        grad_audit_done = True

    def step(x, y):
        loss, grads = nn.value_and_grad(model, loss_fn)(model, x, y)
        opt.update(model, grads)
        return loss

    step_c = mx.compile(step, inputs=state, outputs=state)

    base_mae = mx.mean(mx.abs(yva - mx.mean(ytr))).item()
    perm = mx.random.permutation(xtr.shape[0])
    ptr = 0
    t0 = time.time()
    for it in range(1, steps + 1):
        if ptr + BATCH > xtr.shape[0]:
            perm = mx.random.permutation(xtr.shape[0])
            ptr = 0
        idx = perm[ptr:ptr + BATCH]
        ptr += BATCH
        lr_now = opt.learning_rate.item()
        loss = step_c(xtr[idx], ytr[idx])
        mx.eval(state, loss)
        if it == 1 or it % 50 == 0 or it == steps:
            mae = mx.mean(mx.abs(model(xva) - yva)).item()
            rate = it / max(time.time() - t0, 1e-6)
            print(f"stage {s_idx}/{len(STAGES)} {s_name:>13} |{bar(it, steps)}| {it:>3}/{steps} "
                  f"[{rate:5.0f}it/s, huber={loss.item():.3f}, mae={mae:.2f}c, mean-guess={base_mae:.2f}c, lr={lr_now:.4f}]")
    mae_stage = mx.mean(mx.abs(model(xva) - yva)).item()
    mae_hard = mx.mean(mx.abs(model(val_hard[0]) - val_hard[1])).item()
    summary.append((s_name, steps, base_mae, mae_stage, mae_hard))

print()
print(f"{'stage':<14}{'steps':>6}{'mean-guess':>12}{'model':>9}{'winter-val':>12}   (cents, MAE)")
for row in summary:
    print(f"{row[0]:<14}{row[1]:>6}{row[2]:>12.2f}{row[3]:>9.2f}{row[4]:>12.2f}")
print(f"done in {time.time() - t_all:.1f}s")
