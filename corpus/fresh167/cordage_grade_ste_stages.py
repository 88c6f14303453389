# Ropewalk QC: grade hemp/manila cordage lots (A/B/C/reject) from 10 lab readings.
# Stage 1 trains in float; stage 2 turns on 4-bit fake-quantised activations
# (straight-through estimator via mx.custom_function) for the embedded tester.
import logging
import sys
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from functools import partial

logging.basicConfig(stream=sys.stdout, level=logging.INFO,
                    format="%(asctime)s %(levelname)s %(name)s: %(message)s", datefmt="%H:%M:%S")
log = logging.getLogger("ropewalk")

rng = np.random.default_rng(42)
N = 5000
F = rng.normal(size=(N, 10)).astype(np.float32)
# columns: fibre length, twist/m, moisture %, tar %, lay angle, strand count,
# density, breaking-load z, elongation, visual-defect score (all standardised)
score = (0.9 * F[:, 0] + 0.6 * F[:, 1] - 0.8 * np.abs(F[:, 2]) + 0.4 * F[:, 3] * F[:, 4]
         + 1.1 * F[:, 7] - 0.7 * np.maximum(F[:, 9], 0) + 0.3 * np.sin(2 * F[:, 6])
         + rng.normal(0, 0.35, N))
cuts = np.quantile(score, [0.25, 0.55, 0.85])
labels = (3 - np.searchsorted(cuts, score)).astype(np.int32)  # 0=A (best) .. 3=reject
Xtr, ytr = mx.array(F[:4000]), mx.array(labels[:4000])
Xte, yte = mx.array(F[4000:]), mx.array(labels[4000:])


@mx.custom_function
def fake_quant(x):
    # clip to [0, 4] and round to 16 levels
    return mx.round(mx.clip(x, 0.0, 4.0) * 3.75) / 3.75


@fake_quant.vjp
def fake_quant_vjp(primals, cotangent, output):
    x = primals[0]
    # straight-through inside the clipping range, zero outside
    return (cotangent * ((x >= 0.0) & (x <= 4.0)).astype(cotangent.dtype),)


class GradeNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(10, 64)
        self.fc2 = nn.Linear(64, 64)
        self.head = nn.Linear(64, 4)

    def __call__(self, x, qmix):
        h = nn.relu(self.fc1(x))
        h = h + qmix * (fake_quant(h) - h)
        h = nn.relu(self.fc2(h))
        h = h + qmix * (fake_quant(h) - h)
        return self.head(h)


mx.random.seed(3)
model = GradeNet()
opt = optim.RMSprop(learning_rate=2e-3, alpha=0.95)
mx.eval(model.parameters())


def loss_fn(xb, yb, qmix):
    return nn.losses.cross_entropy(model(xb, qmix), yb, reduction="mean")


state = [model.state, opt.state]


@partial(mx.compile, inputs=state, outputs=state)
def train_step(xb, yb, qmix):
    loss, grads = nn.value_and_grad(model, loss_fn)(xb, yb, qmix)
    opt.update(model, grads)
    return loss


def accuracy(qmix):
    pred = mx.argmax(model(Xte, mx.array(qmix)), axis=1)
    return float((pred == yte).astype(mx.float32).mean()) * 100


# gradient check under quantisation: both hidden layers must still get gradient
g = nn.value_and_grad(model, loss_fn)(Xtr[:512], ytr[:512], mx.array(1.0))[1]
log.info("grad check (quantised): |fc1.W|=%.4f |fc2.W|=%.4f |head.W|=%.4f",
         float(mx.linalg.norm(g["fc1"]["weight"])), float(mx.linalg.norm(g["fc2"]["weight"])),
         float(mx.linalg.norm(g["head"]["weight"])))

BS = 80
STAGES = [("float", 0.0, 350, 2e-3), ("qat-4bit", 1.0, 250, 6e-4)]
t0 = time.time()
for name, qmix, steps, lr in STAGES:
    opt.learning_rate = lr
    q = mx.array(qmix)
    log.info("stage %s begins: lr=%g, test acc before=%.1f%%", name, lr, accuracy(qmix))
    run = 0.0
    for s in range(1, steps + 1):
        idx = mx.array(np.random.default_rng(s + 1000 * int(qmix)).integers(0, 4000, BS))
        loss = train_step(Xtr[idx], ytr[idx], q)
        mx.eval(state, loss)
        run = 0.9 * run + 0.1 * loss.item() if s > 1 else loss.item()
        if s % 50 == 0 or s == 1:
            done = int(20 * s / steps)
            bar = "#" * done + "." * (20 - done)
            log.info("%s %3d%%|%s| %d/%d [%.1fs] ce=%.4f", name, int(100 * s / steps), bar, s,
                     steps, time.time() - t0, run)
    acc = accuracy(qmix)
    log.info("stage %s done: test acc %.1f%%  error %.1f%%  (chance 25.0%%)", name, acc, 100 - acc)

log.info("summary: float acc %.1f%% | deployed 4-bit acc %.1f%% | gap %.1f pts",
         accuracy(0.0), accuracy(1.0), accuracy(0.0) - accuracy(1.0))
