# Archery workshop: match each arrow's spine-deflection sweep to its
# fletching wind-tunnel trace (same arrow, two instruments) with a dual
# encoder trained by a symmetric InfoNCE loss.  3-fold cross-validation
# over arrows; the first layer of the deflection encoder is a fixed random
# projection (frozen on purpose, as in the lab's older rig).
import logging
import sys

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten

logging.basicConfig(stream=sys.stdout, level=logging.INFO,
                    format="%(levelname)s %(name)s | %(message)s")
log = logging.getLogger("fletchlab")

rs = np.random.default_rng(2026)
N = 600
z = rs.normal(size=(N, 5)).astype(np.float32)    # hidden arrow properties
pos = np.linspace(0, 1, 20, dtype=np.float32)
speed = np.linspace(0.2, 1.4, 14, dtype=np.float32)
# spine sweep: 20 deflection readings along the shaft
stiff = 1.0 + 0.3 * np.tanh(z[:, :1])
sweep = (pos[None] ** 2 * (3 - pos[None])) / stiff + 0.3 * z[:, 1:2] * np.sin(np.pi * pos)[None] \
    + 0.3 * z[:, 2:3] * pos[None] + 0.2 * np.tanh(z[:, 3:4]) * np.cos(2 * np.pi * pos)[None] \
    + 0.2 * z[:, 4:5] * np.sin(3 * np.pi * pos)[None] + 0.03 * rs.normal(size=(N, 20))
# wind-tunnel trace: 14 drag/spin readings vs airspeed
trace = (0.5 + 0.1 * z[:, 3:4]) * speed[None] ** 2 + 0.3 * np.tanh(z[:, 0:1]) * speed[None] \
    + 0.2 * z[:, 1:2] * np.cos(3 * speed)[None] + 0.2 * z[:, 2:3] * np.sin(2 * speed)[None] \
    + 0.15 * z[:, 4:5] * np.sqrt(speed)[None] + 0.03 * rs.normal(size=(N, 14))
sweep = ((sweep - sweep.mean(0)) / sweep.std(0)).astype(np.float32)
trace = ((trace - trace.mean(0)) / trace.std(0)).astype(np.float32)


class DualEncoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.sweep_in = nn.Linear(20, 64)
        self.sweep_out = nn.Linear(64, 16)
        self.trace_in = nn.Linear(14, 64)
        self.trace_out = nn.Linear(64, 16)
        self.log_temp = mx.array(np.log(1 / 0.3), dtype=mx.float32)

    def embed(self, a, b):
        ea = self.sweep_out(nn.gelu(self.sweep_in(a)))
        eb = self.trace_out(nn.gelu(self.trace_in(b)))
        ea = ea / mx.linalg.norm(ea, axis=1, keepdims=True)
        eb = eb / mx.linalg.norm(eb, axis=1, keepdims=True)
        return ea, eb

    def __call__(self, a, b):
        ea, eb = self.embed(a, b)
        return mx.exp(self.log_temp) * ea @ eb.T


def nce(model, a, b):
    logits = model(a, b)
    tgt = mx.arange(a.shape[0])
    return 0.5 * (nn.losses.cross_entropy(logits, tgt, reduction="mean")
                  + nn.losses.cross_entropy(logits.T, tgt, reduction="mean"))


def retrieval_top1(model, a, b):
    ea, eb = model.embed(a, b)
    hit = mx.argmax(ea @ eb.T, axis=1) == mx.arange(a.shape[0])
    return 100.0 * mx.mean(hit).item()


folds = np.array_split(rs.permutation(N), 3)
B, STEPS = 64, 400
summary = []
for k in range(3):
    va = folds[k]
    tr = np.concatenate([folds[j] for j in range(3) if j != k])
    A_tr, B_tr = mx.array(sweep[tr]), mx.array(trace[tr])
    A_va, B_va = mx.array(sweep[va]), mx.array(trace[va])
    mx.random.seed(100 + k)
    model = DualEncoder()
    model.sweep_in.freeze()
    frozen_before = mx.array(model.sweep_in.weight)
    opt = optim.Lion(learning_rate=1e-3, weight_decay=1e-3)
    grad_fn = nn.value_and_grad(model, nce)

    if k == 0:
        _, g = grad_fn(model, A_tr[:B], B_tr[:B])
        flat = tree_flatten(g)
        log.info("grad audit: %d trainable tensors, norms min %.2e max %.2e",
                 len(flat), min(float(mx.linalg.norm(v.reshape(-1)).item()) for _, v in flat),
                 max(float(mx.linalg.norm(v.reshape(-1)).item()) for _, v in flat))
    chance_nce = float(np.log(B))
    log.info("fold %d/3 start: train %d arrows, held out %d, chance top1 %.2f%%",
             k + 1, len(tr), len(va), 100.0 / len(va))
    for step in range(1, STEPS + 1):
        sel = mx.array(rs.choice(len(tr), B, replace=False))
        loss, grads = grad_fn(model, A_tr[sel], B_tr[sel])
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        if step % 100 == 0:
            log.info("fold %d step %3d  nce %.3f (uniform %.3f)  temp %.3f  val top1 %.1f%%",
                     k + 1, step, loss.item(), chance_nce,
                     float(mx.exp(-model.log_temp).item()), retrieval_top1(model, A_va, B_va))
    drift = float(mx.abs(model.sweep_in.weight - frozen_before).max().item())
    top1 = retrieval_top1(model, A_va, B_va)
    log.info("fold %d done: val top1 %.1f%%  frozen sweep_in drift %.1e", k + 1, top1, drift)
    summary.append(top1)

print("fold | val top1 % | chance %")
for k, t in enumerate(summary):
    print(f"{k + 1:>4} | {t:>9.1f} | {100.0 / len(folds[k]):>8.2f}")
print(f"mean | {np.mean(summary):>9.1f} | sd {np.std(summary):.1f}")
