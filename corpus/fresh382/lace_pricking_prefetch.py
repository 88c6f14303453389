"""Bobbin-lace pricking survey: classify the ground of a lace sample
(torchon / rose ground / honeycomb) from 10 measurements of its pricking.
A background thread prepares shuffled minibatches while the main thread trains."""
import queue
import threading
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

rng = np.random.default_rng(382)
N_TRAIN, N_TEST, D, K = 6000, 1500, 10, 3


def make_split(n):
    x = rng.normal(size=(n, D)).astype(np.float32)
    # pin spacing, grid angle, pair count, twist count, ... (standardised)
    s0 = 1.3 * x[:, 0] - 0.8 * x[:, 1] * x[:, 2] + 0.6 * np.sin(2.0 * x[:, 3])
    s1 = -0.9 * x[:, 0] + 1.1 * np.tanh(x[:, 4] + x[:, 5]) + 0.5 * x[:, 6] ** 2 - 0.5
    s2 = 0.7 * x[:, 7] - 0.6 * x[:, 8] + 0.4 * x[:, 9] * x[:, 1]
    y = np.argmax(np.stack([s0, s1, s2], 1), 1).astype(np.int32)
    flip = rng.random(n) < 0.04
    y[flip] = rng.integers(0, K, flip.sum())
    return x, y


xtr, ytr = make_split(N_TRAIN)
xte, yte = make_split(N_TEST)
majority = np.bincount(yte, minlength=K).max() / N_TEST


class Prefetcher:
    def __init__(self, x, y, batch, epochs, seed, depth=6):
        self.q = queue.Queue(maxsize=depth)
        self.args = (x, y, batch, epochs, seed)
        self.t = threading.Thread(target=self._run, daemon=True)
        self.t.start()

    def _run(self):
        x, y, batch, epochs, seed = self.args
        r = np.random.default_rng(seed)
        for ep in range(epochs):
            perm = r.permutation(len(x))
            for i, s in enumerate(range(0, len(x) - batch + 1, batch)):
                if i % 40 == 39:
                    time.sleep(0.35)  # the archive disk is slow now and then
                idx = perm[s:s + batch]
                self.q.put((ep, x[idx], y[idx]))
            self.q.put((ep, None, None))
        self.q.put(None)

    def __iter__(self):
        while True:
            item = self.q.get()
            if item is None:
                return
            yield item


class GroundNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(D, 64)
        self.l2 = nn.Linear(64, 64)
        self.out = nn.Linear(64, K)

    def __call__(self, x):
        h = nn.gelu(self.l1(x))
        h = nn.gelu(self.l2(h)) + h
        return self.out(h)


mx.random.seed(7)
model = GroundNet()
EPOCHS, BATCH = 8, 64
steps_per_epoch = N_TRAIN // BATCH
total = EPOCHS * steps_per_epoch
warm = 80
sched = optim.join_schedules(
    [optim.linear_schedule(0.0, 3e-3, warm), optim.cosine_decay(3e-3, total - warm, 1e-4)], [warm])
opt = optim.Adam(learning_rate=sched)


def loss_fn(m, x, y):
    return nn.losses.cross_entropy(m(x), y, reduction="mean")


step_fn = nn.value_and_grad(model, loss_fn)
xte_m, yte_m = mx.array(xte), mx.array(yte)
print(f"train {N_TRAIN}  test {N_TEST}  majority-class baseline acc {majority:.3f}")

step, t0, run = 0, time.time(), []
for ep, xb, yb in Prefetcher(xtr, ytr, BATCH, EPOCHS, seed=11):
    if xb is None:
        acc = (mx.argmax(model(xte_m), 1) == yte_m).mean().item()
        print(f"epoch {ep + 1}/{EPOCHS}  step {step}  test acc {acc:.3f}  (baseline {majority:.3f})  {time.time() - t0:.1f}s")
        continue
    loss, grads = step_fn(model, mx.array(xb), mx.array(yb))
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state, loss)
    run.append(loss.item())
    step += 1
    if step % 25 == 0 or step == 1:
        print(f"step {step:4d}  lr {opt.learning_rate.item():.2e}  loss {np.mean(run):.4f}")
        run = []

final = (mx.argmax(model(xte_m), 1) == yte_m).mean().item()
print(f"finished {step} steps, test acc {final:.3f} vs majority {majority:.3f}")
