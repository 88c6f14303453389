"""Industrial sewing line: classify the stitch fault from a 48-sample
needle-bar vibration trace (synthetic).  Two stages: clean workshop traces,
then the noisy factory floor (motor hum + jitter), which is harder, so the
loss goes back up when stage 2 starts.  Gradients are averaged with
mx.distributed (one process here, same code runs on several hosts)."""
import logging
import math
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s | %(message)s")
log = logging.getLogger("stitchnet")

group = mx.distributed.init()
RANK, WORLD = group.rank(), group.size()
rng = np.random.default_rng(1729 + RANK)
mx.random.seed(1729)
T = 48
FAULTS = ["good", "skipped", "thread_break", "bent_needle", "birdnest"]


def traces(n, hum, jitter):
    y = rng.integers(0, len(FAULTS), size=n)
    t = np.arange(T, dtype=np.float32)
    X = np.zeros((n, T), np.float32)
    for i, c in enumerate(y):
        period = 8 + rng.normal(0, jitter)
        phase = rng.uniform(0, period)
        pulses = np.exp(-0.5 * ((t[None] - (phase + period * np.arange(6)[:, None])) / 1.0) ** 2)
        amp = np.ones(6)
        if c == 1:
            amp[rng.integers(1, 5)] = 0.0                      # one strike missing
        if c == 2:
            amp[rng.integers(2, 5):] = 0.35                    # tension drops after a break
        x = (amp[:, None] * pulses).sum(0)
        if c == 3:
            x += 0.5 * np.roll(pulses.sum(0), 2)               # double knock
        if c == 4:
            x += 0.4 * np.abs(np.sin(t / 1.3)) * (t > T / 2)    # tangled thread rattle
        x += hum * np.sin(2 * np.pi * t / rng.uniform(3, 5) + rng.uniform(0, 6))
        X[i] = x + rng.normal(0, 0.08 + hum / 3, size=T)
    return X[..., None], y.astype(np.int32)


class StitchNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv1d(1, 16, kernel_size=5, padding=2)
        self.c2 = nn.Conv1d(16, 32, kernel_size=5, padding=2)
        self.fc = nn.Linear(64, len(FAULTS))

    def __call__(self, x):
        h = nn.gelu(self.c1(x))
        h = nn.gelu(self.c2(h))
        return self.fc(mx.concatenate([h.mean(axis=1), h.max(axis=1)], axis=-1))


def loss_fn(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")


model = StitchNet()
mx.eval(model.parameters())
loss_and_grad = nn.value_and_grad(model, loss_fn)


def all_avg(grads):
    if WORLD == 1:
        return grads
    return __import__("mlx.utils").utils.tree_map(lambda g: mx.distributed.all_sum(g) / WORLD, grads)


STAGES = [("workshop", 0.0, 0.3, 300), ("factory_floor", 0.6, 1.2, 400)]
for sname, hum, jitter, steps in STAGES:
    Xtr, ytr = traces(3000, hum, jitter)
    Xte, yte = traces(800, hum, jitter)
    Xte, yte = mx.array(Xte), mx.array(yte)
    warm = 60
    sched = optim.join_schedules([optim.linear_schedule(0.0, 4e-3, warm),
                                  optim.cosine_decay(4e-3, steps - warm, 2e-4)], [warm])
    opt = optim.AdamW(learning_rate=sched, weight_decay=1e-4)   # fresh optimiser per stage
    log.info("stage=%s rank=%d/%d hum=%.1f jitter=%.1f steps=%d", sname, RANK, WORLD, hum, jitter, steps)
    ema = None
    for step in range(steps):
        b = rng.integers(0, len(ytr), size=64)
        x, y = mx.array(Xtr[b]), mx.array(ytr[b])
        loss, grads = loss_and_grad(model, x, y)
        grads = all_avg(grads)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        lv = loss.item()
        ema = lv if ema is None else 0.9 * ema + 0.1 * lv
        if step % 50 == 0 or step == steps - 1:
            lr_now = sched(step).item()
            log.info("stage=%s step=%03d lr=%.2e xent=%.4f xent_ema=%.4f", sname, step, lr_now, lv, ema)
    logits = model(Xte)
    acc = (mx.argmax(logits, axis=-1) == yte).astype(mx.float32).mean().item()
    te = nn.losses.cross_entropy(logits, yte, reduction="mean").item()
    per = []
    for k in range(len(FAULTS)):
        m = yte == k
        per.append(((mx.argmax(logits, -1) == yte) * m).sum().item() / max(m.sum().item(), 1))
    log.info("stage=%s held-out xent=%.4f acc=%.1f%% (chance %.1f%%) per-fault=%s", sname, te, 100 * acc,
             100 / len(FAULTS), " ".join(f"{f}:{100 * p:.0f}" for f, p in zip(FAULTS, per)))
