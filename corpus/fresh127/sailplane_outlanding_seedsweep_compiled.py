"""Gliding club logbook: which of 4 farm fields will a sailplane out-land in?

Inputs: 9 synthetic readings at the last thermal (surface wind u/v, wind at
1000 m u/v, height left fraction, thermal strength, sink rate, hour, pilot hours).
A fixed "met office" projection of the raw wind readings is FROZEN on purpose
(it is a published calibration, not trained here); only the head trains.
A sweep over 3 seeds: the step counter starts again at 1 for every seed.
The train step is mx.compile'd with model+optimizer state captured.
"""
import logging
import time
from functools import partial

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

logging.basicConfig(format="%(asctime)s %(levelname)s glider: %(message)s", level=logging.INFO)
log = logging.getLogger()

data_rng = np.random.default_rng(2024)
N, NV = 4000, 1000


def outlandings(n):
    su, sv = data_rng.normal(0, 2, n), data_rng.normal(0, 2, n)
    hu, hv = su * 1.6 + data_rng.normal(0, 1.5, n), sv * 1.6 + data_rng.normal(0, 1.5, n)
    height = data_rng.uniform(0.2, 1.0, n)
    thermal = data_rng.normal(100, 8, n)
    sink = data_rng.normal(1.5, 0.5, n)
    hour = data_rng.uniform(5, 9, n)
    pilot = data_rng.exponential(300, n)
    drift_u = 0.4 * su + 0.6 * hu * height + 0.05 * (thermal - 100) * sink
    drift_v = 0.4 * sv + 0.6 * hv * height - 0.2 * (hour - 7)
    drift_u += data_rng.normal(0, 0.6, n)
    drift_v += data_rng.normal(0, 0.6, n)
    field = (drift_u > 0).astype(np.int32) * 2 + (drift_v > 0).astype(np.int32)
    X = np.stack([su, sv, hu, hv, height, (thermal - 100) / 8, sink, hour - 7, np.log1p(pilot) - 5], 1)
    return X.astype(np.float32), field


Xtr, ytr = outlandings(N)
Xva, yva = outlandings(NV)
Xtr, ytr, Xva, yva = map(mx.array, (Xtr, ytr, Xva, yva))
prior = np.bincount(np.array(ytr), minlength=4) / N
log.info("field shares in training outlandings: %s  (always-majority accuracy %.1f%%)",
         " ".join(f"{p:.2f}" for p in prior), 100 * prior.max())


class LandingNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.metproj = nn.Linear(9, 24)      # frozen calibration
        self.hidden = nn.Linear(24 + 9, 48)
        self.head = nn.Linear(48, 4)

    def __call__(self, x):
        m = mx.tanh(self.metproj(x))
        h = nn.relu(self.hidden(mx.concatenate([m, x], axis=-1)))
        return self.head(h)


def loss_fn(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")


summary = []
STEPS, BATCH = 300, 128
t_all = time.time()
for seed in (0, 1, 2):
    mx.random.seed(seed)
    rng = np.random.default_rng(100 + seed)
    model = LandingNet()
    model.metproj.freeze()
    mx.eval(model.parameters())
    frozen_before = np.array(model.metproj.weight)

    sched = optim.cosine_decay(0.08, STEPS, 0.004)
    opt = optim.SGD(learning_rate=sched, momentum=0.9, nesterov=True, weight_decay=5e-4)
    vg = nn.value_and_grad(model, loss_fn)

    _, g = vg(model, Xtr[:256], ytr[:256])
    names = [k for k, _ in tree_flatten(g)]
    zero = [k for k, v in tree_flatten(g) if float(mx.abs(v).sum()) == 0.0]
    log.info("seed %d: trainable tensors %s, zero-grad %s", seed, names, zero or "none")

    state = [model.state, opt.state]

    @partial(mx.compile, inputs=state, outputs=state)
    def train_step(x, y):
        loss, grads = vg(model, x, y)
        opt.update(model, grads)
        return loss

    for step in range(1, STEPS + 1):
        idx = mx.array(rng.integers(0, N, BATCH))
        loss = train_step(Xtr[idx], ytr[idx])
        mx.eval(state, loss)
        if step == 1 or step % 60 == 0:
            logits = model(Xva)
            acc = float(mx.mean(mx.argmax(logits, -1) == yva)) * 100
            nll = float(loss_fn(model, Xva, yva))
            log.info("seed %d step %3d/%d  train_xent %.4f  val_xent %.4f  val_acc %.1f%%  lr %.4f",
                     seed, step, STEPS, float(loss), nll, acc, float(opt.learning_rate))

    drift = float(np.abs(np.array(model.metproj.weight) - frozen_before).max())
    acc = float(mx.mean(mx.argmax(model(Xva), -1) == yva)) * 100
    summary.append((seed, float(loss_fn(model, Xva, yva)), acc, drift))
    log.info("seed %d done; frozen metproj max|dW| = %.2e", seed, drift)

print("\n seed | val xent | val acc | frozen dW")
print("------+----------+---------+----------")
for seed, nll, acc, drift in summary:
    print(f"  {seed:3d} | {nll:8.4f} | {acc:6.1f}% | {drift:.1e}")
accs = [a for _, _, a, _ in summary]
print(f" mean acc {np.mean(accs):.1f}% +/- {np.std(accs):.1f}  (majority baseline {100 * prior.max():.1f}%)"
      f"  wall {time.time() - t_all:.1f}s")
