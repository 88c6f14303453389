"""Beach volleyball serve outcome (ace / in play / service error) from
serve-tracking readings. MLP, AdamW, warmup from lr=0 then cosine with warm
restarts, compiled train step, stdlib logging."""
import logging
import math
import time
from functools import partial

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s",
                    datefmt="%H:%M:%S")
log = logging.getLogger("serve")

rng = np.random.default_rng(2024)


def simulate(n):
    speed = rng.normal(62, 12, n)                 # km/h
    toss = rng.gamma(4.0, 0.5, n)                 # m above reach
    wind = rng.gamma(2.0, 2.5, n)                 # m/s
    wind_ang = rng.uniform(0, 2 * np.pi, n)       # relative to serve line
    jump = (rng.random(n) < 0.45).astype(float)   # jump serve vs float
    fatigue = rng.poisson(6, n).astype(float)     # rallies since last break
    sun = rng.uniform(0, 1, n)                    # glare on receivers
    head = wind * np.cos(wind_ang)
    cross = wind * np.sin(wind_ang)
    z_ace = -2.8 + 0.1 * (speed - 62) + 1.4 * jump + 0.25 * np.abs(cross) + 1.8 * sun * (toss > 2.5)
    z_err = -2.4 + 0.09 * np.maximum(speed - 68, 0) * (1 + jump) + 0.3 * head - 0.05 * head ** 2 \
        + 0.15 * fatigue + 0.3 * (toss - 2) ** 2
    logits = np.stack([z_ace, np.zeros(n), z_err], 1)
    p = np.exp(logits - logits.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    y = (p.cumsum(1) < rng.random(n)[:, None]).sum(1).clip(0, 2)
    X = np.stack([speed, toss, wind, np.cos(wind_ang), np.sin(wind_ang), jump, fatigue, sun], 1)
    return X.astype(np.float32), y.astype(np.int32)


Xtr, ytr = simulate(9000)
Xva, yva = simulate(2000)
mu, sd = Xtr.mean(0), Xtr.std(0)
Xtr, Xva = (Xtr - mu) / sd, (Xva - mu) / sd
Xtr, ytr, Xva, yva = map(mx.array, (Xtr, ytr, Xva, yva))

counts = np.bincount(np.array(ytr), minlength=3)
prior = counts / counts.sum()
base_nll = float(-(np.bincount(np.array(yva), minlength=3) / len(yva) * np.log(prior)).sum())
base_acc = float((np.array(yva) == prior.argmax()).mean())
log.info("class shares ace/play/error = %s", " / ".join(f"{100 * c:.1f}%" for c in prior))


class ServeNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(8, 96)
        self.l2 = nn.Linear(96, 96)
        self.out = nn.Linear(96, 3)

    def __call__(self, x):
        x = nn.gelu(self.l1(x))
        x = nn.gelu(self.l2(x)) + x
        return self.out(x)


mx.random.seed(7)
model = ServeNet()
BATCH, EPOCHS = 128, 21
steps_per_epoch = Xtr.shape[0] // BATCH
warm = steps_per_epoch  # one epoch of warmup starting from exactly 0
cycle = 4 * steps_per_epoch  # SGDR-style restarts every 4 epochs after warmup


def sched(step):
    step = mx.array(step, dtype=mx.float32)
    w = 3e-3 * step / warm
    t = mx.remainder(step - warm, cycle) / cycle
    c = 1e-5 + 0.5 * (3e-3 - 1e-5) * (1 + mx.cos(math.pi * t))
    return mx.where(step < warm, w, c)


opt = optim.AdamW(learning_rate=sched, weight_decay=1e-3)
state = [model.state, opt.state]


def loss_fn(x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")


@partial(mx.compile, inputs=state, outputs=state)
def train_step(x, y):
    loss, grads = nn.value_and_grad(model, loss_fn)(x, y)
    opt.update(model, grads)
    return loss


def evaluate():
    logits = model(Xva)
    nll = nn.losses.cross_entropy(logits, yva, reduction="mean")
    acc = (logits.argmax(-1) == yva).astype(mx.float32).mean()
    return nll.item(), 100.0 * acc.item()


log.info("baseline (class prior): val_nll %.4f  val_acc %.2f%%", base_nll, base_acc * 100)
t0 = time.time()
for ep in range(EPOCHS):
    perm = mx.array(rng.permutation(Xtr.shape[0]))
    tot = 0.0
    lr_start = opt.learning_rate.item()
    for i in range(steps_per_epoch):
        idx = perm[i * BATCH:(i + 1) * BATCH]
        loss = train_step(Xtr[idx], ytr[idx])
        mx.eval(state, loss)
        tot += loss.item()
    v_nll, v_acc = evaluate()
    log.info("ep %02d lr %.2e->%.2e  train_nll %.4f  val_nll %.4f (prior %.4f)  val_acc %.2f%% (prior %.2f%%)",
             ep + 1, lr_start, opt.learning_rate.item(), tot / steps_per_epoch, v_nll, base_nll, v_acc,
             base_acc * 100)
log.info("finished %d steps in %.1fs", opt.step.item(), time.time() - t0)
