# Tide-mill wheel telemetry: self-supervised contrastive pretraining of a
# small encoder on 32-sample wheel-speed windows, repeated over three seeds.
# Quality is judged by 1-nearest-neighbour regime recognition on held-out
# windows, next to the same probe run on the raw signal.
import logging
import math
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s",
                    datefmt="%H:%M:%S")
log = logging.getLogger("tidemill")

T = 32
REGIMES = ["spring-flood", "spring-ebb", "neap-flood", "neap-ebb", "slack"]


def wheel_windows(rng, n):
    y = rng.integers(0, len(REGIMES), n)
    t = np.arange(T)[None, :]
    freq = np.array([0.22, 0.29, 0.36, 0.43, 0.50])[y][:, None]
    amp = rng.uniform(0.4, 1.6, (n, 1))
    drift = rng.uniform(-0.06, 0.06, (n, 1))
    phase = rng.uniform(0, 2 * np.pi, (n, 1))
    x = amp * np.sin(freq * t + phase) + drift * (t - T / 2) + rng.normal(0, 0.35, (n, T))
    return x.astype(np.float32), y


def augment(rng, x):
    n = x.shape[0]
    shift = rng.integers(-4, 5, n)
    idx = (np.arange(T)[None, :] - shift[:, None]) % T
    v = np.take_along_axis(x, idx, axis=1)
    ramp = rng.uniform(-0.05, 0.05, (n, 1)) * (np.arange(T)[None, :] - T / 2)
    v = v * rng.uniform(0.7, 1.4, (n, 1)) + ramp + rng.normal(0, 0.2, v.shape)
    return mx.array(v.astype(np.float32))


class Encoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(T, 96), nn.GELU(), nn.Linear(96, 48), nn.GELU(),
                                  nn.Linear(48, 24))
        self.head = nn.Sequential(nn.Linear(24, 24), nn.GELU(), nn.Linear(24, 12))

    def embed(self, x):
        return self.body(x)

    def __call__(self, x):
        z = self.head(self.body(x))
        return z / mx.linalg.norm(z, axis=1, keepdims=True)


def info_nce(model, a, b, tau):
    za, zb = model(a), model(b)
    logits = (za @ zb.T) / tau
    labels = mx.arange(a.shape[0])
    return 0.5 * (nn.losses.cross_entropy(logits, labels, reduction="mean")
                  + nn.losses.cross_entropy(logits.T, labels, reduction="mean"))


def knn1(train_f, train_y, test_f, test_y):
    tr = train_f / np.linalg.norm(train_f, axis=1, keepdims=True)
    te = test_f / np.linalg.norm(test_f, axis=1, keepdims=True)
    nearest = np.argmax(te @ tr.T, axis=1)
    return float(np.mean(train_y[nearest] == test_y))


def run_seed(seed, pool, bank, query, steps=220, batch=96):
    mx.random.seed(seed)
    rng = np.random.default_rng(100 + seed)
    model = Encoder()
    mx.eval(model.parameters())
    warm = 40
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, 0.08, warm), optim.cosine_decay(0.08, steps - warm, 0.004)],
        [warm])
    opt = optim.SGD(learning_rate=sched, momentum=0.9, nesterov=True, weight_decay=1e-4)
    loss_and_grad = nn.value_and_grad(model, info_nce)
    (bx, by), (qx, qy) = bank, query

    def probe():
        return knn1(np.array(model.embed(mx.array(bx))), by, np.array(model.embed(mx.array(qx))), qy)

    log.info("seed=%d start: probe top1=%.1f%% (untrained encoder)", seed, 100 * probe())
    tau = 0.2
    t0 = time.perf_counter()
    for step in range(steps):
        lr_now = float(opt.learning_rate.item())
        sel = rng.choice(pool.shape[0], batch, replace=False)
        xb = pool[sel]
        a, b = augment(rng, xb), augment(rng, xb)
        loss, grads = loss_and_grad(model, a, b, tau)
        if step == 0:
            dead = [k for k, g in nn.utils.tree_flatten(grads) if float(mx.abs(g).sum()) == 0.0]
            log.info("seed=%d step=0 lr=%.4f grads zero in %d tensors", seed, lr_now, len(dead))
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        if step % 40 == 0 or step == steps - 1:
            log.info("seed=%d step=%d/%d nce=%.4f (log-batch %.3f) lr=%.4f",
                     seed, step, steps, loss.item(), math.log(batch), lr_now)
    acc = probe()
    log.info("seed=%d done in %.1fs: probe top1=%.1f%%", seed, time.perf_counter() - t0, 100 * acc)
    return acc


def main():
    rng = np.random.default_rng(0)
    pool, _ = wheel_windows(rng, 4000)  # unlabelled
    bx, by = wheel_windows(rng, 500)
    qx, qy = wheel_windows(rng, 500)
    raw = knn1(bx, by, qx, qy)
    log.info("raw-signal 1-NN baseline top1=%.1f%%, chance=%.1f%%", 100 * raw, 100 / len(REGIMES))
    accs = [run_seed(s, pool, (bx, by), (qx, qy)) for s in range(3)]
    log.info("summary: top1 mean=%.1f%% min=%.1f%% max=%.1f%% | raw baseline %.1f%%",
             100 * np.mean(accs), 100 * min(accs), 100 * max(accs), 100 * raw)


if __name__ == "__main__":
    main()
