"""Fountain-pen nib QC: learn an embedding of ink-line width traces so that two
strokes written with the same nib land close together (InfoNCE, two views per nib).
Retrieval on unseen nibs is the quality check."""
import logging
import math
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)-5s nibclr | %(message)s",
                    datefmt="%H:%M:%S")
log = logging.getLogger("nibclr")

rng = np.random.default_rng(7)
T = 48
t = np.linspace(0.0, 1.0, T, dtype=np.float32)


def make_nibs(n):
    # width (mm), flow wobble freq, wobble depth, skip rate, railroad split
    return np.stack([rng.uniform(0.3, 1.1, n), rng.uniform(1.0, 6.0, n), rng.uniform(0.02, 0.25, n),
                     rng.uniform(0.0, 0.12, n), rng.uniform(0.0, 0.4, n)], 1).astype(np.float32)


def stroke(nibs):
    n = len(nibs)
    w, f, d, skip, rail = [nibs[:, i:i + 1] for i in range(5)]
    phase = rng.uniform(0, 2 * np.pi, (n, 1))
    pressure = rng.uniform(0.85, 1.15, (n, 1))
    trace = w * pressure * (1 + d * np.sin(2 * np.pi * f * t[None] + phase))
    trace = trace * (1 - rail * (np.sin(2 * np.pi * 3.3 * t[None] + 2 * phase) > 0.6))
    gaps = rng.random((n, T)) < skip
    trace = np.where(gaps, 0.05, trace) + rng.normal(0, 0.03, (n, T))
    trace = (trace - 0.6) / 0.35
    spec = np.abs(np.fft.rfft(trace, axis=1)) / 6.0  # phase-free view of the wobble
    return np.concatenate([trace, spec], 1).astype(np.float32)


train_nibs = make_nibs(600)
test_nibs = make_nibs(20)


class NibEncoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(T + T // 2 + 1, 96)
        self.l2 = nn.Linear(96, 64)
        self.proj = nn.Linear(64, 24)

    def __call__(self, x):
        h = nn.gelu(self.l1(x))
        h = nn.gelu(self.l2(h))
        z = self.proj(h)
        return z / mx.sqrt((z * z).sum(-1, keepdims=True) + 1e-8)


TAU = 0.2
B = 64


def info_nce(model, a, b):
    za, zb = model(a), model(b)
    logits = (za @ zb.T) / TAU
    labels = mx.arange(a.shape[0])
    return 0.5 * (nn.losses.cross_entropy(logits, labels, reduction="mean")
                  + nn.losses.cross_entropy(logits.T, labels, reduction="mean"))


mx.random.seed(7)
model = NibEncoder()
STEPS, WARM = 900, 60
sched = optim.join_schedules([optim.linear_schedule(0.0, 2e-3, WARM),
                              optim.cosine_decay(2e-3, STEPS - WARM, 2e-4)], [WARM])
opt = optim.AdamW(learning_rate=sched, weight_decay=1e-4)

vg = nn.value_and_grad(model, info_nce)

# one-off audit: every tensor must receive gradient
idx = rng.choice(len(train_nibs), B, replace=False)
_, g0 = vg(model, mx.array(stroke(train_nibs[idx])), mx.array(stroke(train_nibs[idx])))
norms = {k: float(mx.sqrt((v * v).sum()).item()) for k, v in tree_flatten(g0)}
log.info("grad audit: %d tensors, smallest |g| = %.3e (%s)", len(norms), min(norms.values()),
         min(norms, key=norms.get))

state = [model.state, opt.state]




from functools import partial


@partial(mx.compile, inputs=state, outputs=state)
def train_step(a, b):
    loss, grads = vg(model, a, b)
    opt.update(model, grads)
    return loss


def retrieval_at1():
    q = model(mx.array(stroke(test_nibs)))
    g = model(mx.array(stroke(test_nibs)))
    hits = 0
    for rep in range(10):
        q = model(mx.array(stroke(test_nibs)))
        sims = q @ g.T
        hits += int((mx.argmax(sims, axis=1) == mx.arange(len(test_nibs))).sum().item())
    return 100.0 * hits / (10 * len(test_nibs))


log.info("chance retrieval %.1f%%, uniform InfoNCE ln(%d) = %.3f", 100 / len(test_nibs), B, math.log(B))
log.info("before training: retrieval@1 %.1f%%", retrieval_at1())
run = 0.0
for step in range(1, STEPS + 1):
    idx = rng.choice(len(train_nibs), B, replace=False)
    a, b = mx.array(stroke(train_nibs[idx])), mx.array(stroke(train_nibs[idx]))
    lr_now = float(sched(opt.step).item())
    loss = train_step(a, b)
    mx.eval(loss, model.parameters(), opt.state)
    run = 0.9 * run + 0.1 * loss.item() if step > 1 else loss.item()
    if step <= 3 or step % 100 == 0:
        log.info("step %3d/%d lr=%.2e infonce=%.4f ema=%.4f", step, STEPS, lr_now, loss.item(), run)
    if step % 300 == 0:
        log.info("eval @%d: retrieval@1 on %d unseen nibs = %.1f%%", step, len(test_nibs), retrieval_at1())
log.info("done: final retrieval@1 %.1f%% (chance %.1f%%), final infonce ema %.4f",
         retrieval_at1(), 100 / len(test_nibs), run)
