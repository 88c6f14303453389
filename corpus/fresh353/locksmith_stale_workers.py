"""Locksmith bench log: outcome of a picking attempt (open / false set / seized).

Trained the way an asynchronous parameter server trains: three workers each
hold their own shard of bench logs and their own seed, pull the shared
weights, compute a gradient and push it back. Workers are slow by different
amounts, so a gradient that arrives at the server was computed on weights
that are 0, 1 or 2 server versions old (bounded staleness). The server
applies every arriving gradient with SGD + momentum. Simulated on one host.
"""
import time
from collections import deque

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

N_WORKERS = 3
DELAY = [0, 1, 2]          # versions behind the server for each worker
LOCAL_BATCH = 64
TICKS_PER_EPOCH = 150
EPOCHS = 16
REPORT_EPOCHS = {1, 2, 4, 8, 16}
CLASSES = ["open", "false_set", "seized"]


def make_logs(rng, n):
    torque = rng.uniform(0.1, 2.0, n)           # N*cm of tension
    pins = rng.integers(4, 8, n).astype(np.float64)
    spools = rng.integers(0, 4, n).astype(np.float64)
    tol = rng.uniform(0.01, 0.08, n)            # keyway tolerance mm
    angle = rng.uniform(0, 30, n)               # pick angle deg
    passes = rng.poisson(6, n).astype(np.float64)
    lube = (rng.uniform(0, 1, n) < 0.4).astype(np.float64)
    age = rng.gamma(2.0, 6.0, n)                # years
    ease = 2.2 - 0.35 * pins - 0.5 * spools + 25.0 * tol + 0.6 * lube - 0.8 * (torque - 0.8) ** 2
    fset = 0.9 * spools + 0.6 * (torque - 0.6) - 0.02 * angle
    seize = 1.3 * (torque - 1.2) + 0.05 * age - 0.9 * lube + 0.05 * passes
    logits = np.stack([ease, fset, seize], 1)
    p = np.exp(logits - logits.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    y = np.array([rng.choice(3, p=pi) for pi in p])
    X = np.stack([torque, pins, spools, tol, angle, passes, lube, age], 1)
    return X.astype(np.float32), y.astype(np.int32), p


class PickNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.layers = [nn.Linear(8, 48), nn.Linear(48, 48), nn.Linear(48, 3)]

    def __call__(self, x):
        for l in self.layers[:-1]:
            x = nn.gelu(l(x))
        return self.layers[-1](x)


def loss_fn(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")


def main():
    rng = np.random.default_rng(11)
    X, y, p_true = make_logs(rng, 9000)
    mu, sd = X[:7200].mean(0), X[:7200].std(0)
    Xs = (X - mu) / sd
    tr_x, tr_y = Xs[:7200], y[:7200]
    va_x, va_y, va_p = mx.array(Xs[7200:]), mx.array(y[7200:]), p_true[7200:]
    shards = [(tr_x[w::N_WORKERS], tr_y[w::N_WORKERS]) for w in range(N_WORKERS)]
    worker_rngs = [np.random.default_rng(500 + w) for w in range(N_WORKERS)]

    counts = np.bincount(y[7200:], minlength=3)
    majority = counts.max() / counts.sum()
    floor = float(-np.mean(np.log(va_p[np.arange(len(va_p)), y[7200:]])))
    print("class mix (val): " + ", ".join(f"{c}={n / counts.sum():.1%}" for c, n in zip(CLASSES, counts)))
    print(f"majority-class accuracy {majority:.1%}; cross-entropy of the true probabilities {floor:.4f} nats")

    mx.random.seed(3)
    server = PickNet()
    shadow = PickNet()          # a worker's local copy of whatever version it pulled
    mx.eval(server.parameters(), shadow.parameters())
    opt = optim.SGD(learning_rate=0.08, momentum=0.8)
    grad_fn = nn.value_and_grad(shadow, loss_fn)

    history = deque(maxlen=max(DELAY) + 1)   # recent server versions, newest last
    history.append(server.parameters())
    staleness_seen = np.zeros(max(DELAY) + 1, dtype=int)

    def val_metrics():
        logits = server(va_x)
        ce = nn.losses.cross_entropy(logits, va_y, reduction="mean").item()
        acc = mx.mean(mx.argmax(logits, 1) == va_y).item()
        return ce, acc

    ce0, acc0 = val_metrics()
    print(f"workers={N_WORKERS} delays={DELAY} local_batch={LOCAL_BATCH} ticks/epoch={TICKS_PER_EPOCH}")
    print(f"epoch=0 tick=0 val_ce={ce0:.4f} val_acc={acc0:.1%}")

    t0 = time.time()
    tick = 0
    ema = None
    for epoch in range(1, EPOCHS + 1):
        for _ in range(TICKS_PER_EPOCH):
            w = tick % N_WORKERS
            lag = min(DELAY[w], len(history) - 1)
            stale = history[-1 - lag]
            shadow.update(stale)
            xs, ys = shards[w]
            idx = worker_rngs[w].integers(0, len(ys), LOCAL_BATCH)
            loss, grads = grad_fn(shadow, mx.array(xs[idx]), mx.array(ys[idx]))
            opt.update(server, grads)
            mx.eval(server.parameters(), opt.state, loss)
            history.append(server.parameters())
            staleness_seen[lag] += 1
            tick += 1
            l = loss.item()
            ema = l if ema is None else 0.98 * ema + 0.02 * l
        if epoch in REPORT_EPOCHS:
            ce, acc = val_metrics()
            print(f"epoch={epoch} tick={tick} worker_ce_ema={ema:.4f} val_ce={ce:.4f} "
                  f"val_acc={acc:.1%} gap_to_floor={ce - floor:+.4f} secs={time.time() - t0:.1f}")

    ce, acc = val_metrics()
    print("arrivals by staleness: " + " ".join(f"lag{k}={n}" for k, n in enumerate(staleness_seen)))
    pred = np.array(mx.argmax(server(va_x), 1))
    recall = [float(np.mean(pred[y[7200:] == k] == k)) for k in range(3)]
    print("val recall: " + ", ".join(f"{c}={r:.1%}" for c, r in zip(CLASSES, recall)))
    print(f"finished: {tick} server updates, val_ce {ce:.4f} (floor {floor:.4f}), val_acc {acc:.1%} "
          f"vs majority {majority:.1%}")


if __name__ == "__main__":
    main()
