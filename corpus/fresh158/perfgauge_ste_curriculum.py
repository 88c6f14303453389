"""Philatelic perforation gauge reader: classify the perf gauge of a stamp edge
(teeth per 2 cm: 10, 11, 11.5, 12, 12.5, 13, 14) from a 1-D edge scan.
Scans pass a 4-level ADC emulation (straight-through estimator, custom VJP).
Stage 1 trains on clean mint edges, stage 2 switches to worn, torn, off-centre
scans (loss jumps at the switch, then recovers).  Compiled train step."""
import logging
import math
import sys
from functools import partial

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

logging.basicConfig(stream=sys.stdout, level=logging.INFO,
                    format="%(asctime)s %(levelname)s %(message)s", datefmt="%H:%M:%S")
log = logging.getLogger("perfgauge")

GAUGES = [10.0, 11.0, 11.5, 12.0, 12.5, 13.0, 14.0]
L = 64  # samples across a 2 cm strip
rng = np.random.default_rng(7)


def make_scans(n, worn):
    cls = rng.integers(0, len(GAUGES), n)
    t = np.linspace(0, 1, L)[None, :]
    teeth = np.array(GAUGES)[cls][:, None]
    phase = rng.uniform(0, 2 * np.pi, (n, 1))
    # scale error of the scanner: +-1% clean, +-2.5% worn
    scale = 1 + rng.normal(0, 0.025 if worn else 0.01, (n, 1))
    sig = np.cos(2 * np.pi * teeth * scale * t + phase)
    sig = np.tanh(2.5 * sig)  # flat-topped teeth
    if worn:
        sig *= rng.uniform(0.4, 1.0, (n, 1))
        tear = rng.uniform(size=(n, 1)) < 0.3
        start = rng.integers(0, L - 20, (n, 1))
        idx = np.arange(L)[None, :]
        sig = np.where(tear & (idx >= start) & (idx < start + 16), -1.0, sig)
        sig += rng.normal(0, 0.35, sig.shape)
        sig += rng.normal(0, 0.3, (n, 1))  # paper tone offset
    else:
        sig += rng.normal(0, 0.08, sig.shape)
    return mx.array(sig[:, :, None].astype(np.float32)), mx.array(cls)


@mx.custom_function
def adc4(x):
    return mx.clip(mx.round((x + 1.5) * 1.0), 0, 3) / 1.0 - 1.5


@adc4.vjp
def adc4_vjp(primals, cotangent, output):
    x = primals
    return cotangent * (mx.abs(x) <= 2.0).astype(cotangent.dtype)


class GaugeNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.pre = nn.Conv1d(1, 6, kernel_size=5, padding=2)
        self.c1 = nn.Conv1d(6, 16, kernel_size=7, padding=3)
        self.c2 = nn.Conv1d(16, 24, kernel_size=7, padding=3, stride=2)
        self.fc = nn.Linear(24 * 2, 48)
        self.out = nn.Linear(48, len(GAUGES))

    def __call__(self, x):
        h = adc4(self.pre(x))
        h = nn.gelu(self.c1(h))
        h = nn.gelu(self.c2(h))
        pooled = mx.concatenate([h.mean(axis=1), h.max(axis=1)], axis=-1)
        return self.out(nn.gelu(self.fc(pooled)))


def xent(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")


mx.random.seed(3)
model = GaugeNet()
opt = optim.Lion(learning_rate=5e-4, weight_decay=0.01)
state = [model.state, opt.state]


@partial(mx.compile, inputs=state, outputs=state)
def train_step(x, y):
    loss, grads = nn.value_and_grad(model, xent)(model, x, y)
    grads, gnorm = optim.clip_grad_norm(grads, 5.0)
    opt.update(model, grads)
    return loss, gnorm


def accuracy(x, y):
    return mx.mean(mx.argmax(model(x), axis=-1) == y).item()


def bar(frac, width=20):
    k = int(round(frac * width))
    return "|" + "#" * k + "-" * (width - k) + "|"


chance = 100.0 / len(GAUGES)
xv_clean, yv_clean = make_scans(400, worn=False)
xv_worn, yv_worn = make_scans(400, worn=True)
STAGES = [("mint", False, 200), ("worn", True, 300)]
BATCH = 48
for s_i, (name, worn, n_steps) in enumerate(STAGES):
    log.info("stage %d/%d %s: %d steps, chance %.1f%%", s_i + 1, len(STAGES), name, n_steps, chance)
    ema = None
    for step in range(1, n_steps + 1):
        x, y = make_scans(BATCH, worn)
        loss, gnorm = train_step(x, y)
        mx.eval(state, loss, gnorm)
        ema = loss.item() if ema is None else 0.9 * ema + 0.1 * loss.item()
        if step % 50 == 0 or step == n_steps:
            a_c, a_w = accuracy(xv_clean, yv_clean), accuracy(xv_worn, yv_worn)
            log.info("%s %3d%% %d/%d  xent %.3f  |g| %.2f  mint %.1f%%  worn %.1f%%  (chance %.1f%%)",
                     bar(step / n_steps), int(100 * step / n_steps), step, n_steps,
                     ema, gnorm.item(), 100 * a_c, 100 * a_w, chance)

# audit: every weight tensor received gradient in the final regime
_, g = nn.value_and_grad(model, xent)(model, *make_scans(256, True))
from mlx.utils import tree_flatten
norms = {k: float(mx.linalg.norm(v.reshape(-1))) for k, v in tree_flatten(g)}
log.info("grad audit: %d tensors, min |g| %.2e (%s)", len(norms), min(norms.values()),
         min(norms, key=norms.get))
log.info("final: mint %.1f%%  worn %.1f%%  ln(7)=%.3f", 100 * accuracy(xv_clean, yv_clean),
         100 * accuracy(xv_worn, yv_worn), math.log(7))
