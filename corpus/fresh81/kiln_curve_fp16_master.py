# Pottery kiln logger: which firing schedule produced a thermocouple trace?
# 4 classes: bisque, glaze cone 6, glaze cone 10 reduction, crystalline hold.
# Traces are 96 readings (every 10 min) of temperature / 100 C, with a
# second channel of the controller's duty cycle.
#
# Mixed precision by hand: the master weights stay float32, every forward /
# backward runs on a float16 copy, the loss is scaled by 512 before the
# backward pass and the float16 gradients are unscaled in float32. Steps
# whose gradients overflow are skipped and the scale is halved.
import logging
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map

logging.basicConfig(format="kiln | %(message)s", level=logging.INFO)
log = logging.getLogger("kiln")

T = 96
KINDS = ["bisque", "cone6", "cone10_red", "crystal"]


def schedule(kind, r):
    t = np.arange(T) / 6.0                       # hours
    if kind == 0:
        peak, rate, hold, cool = 10.0, 1.0 + 0.2 * r.normal(), 0.2, 1.2
    elif kind == 1:
        peak, rate, hold, cool = 12.2, 1.5 + 0.2 * r.normal(), 0.3, 1.4
    elif kind == 2:
        peak, rate, hold, cool = 13.0, 1.5 + 0.2 * r.normal(), 0.5, 1.4
    else:
        peak, rate, hold, cool = 12.4, 1.5 + 0.2 * r.normal(), 0.3, 2.5
    peak += 0.25 * r.normal()
    t_up = peak / rate
    temp = np.minimum(0.2 + rate * t, peak)
    after = t - t_up - hold
    temp = np.where(after > 0, peak - cool * after, temp)
    if kind == 3:   # drop to ~10.5 and hold for crystal growth
        temp = np.where(after > 0, np.maximum(temp, 10.5 + 0.2 * r.normal()), temp)
        temp = np.where(after > 3.0, 10.5 - cool * (after - 3.0), temp)
    temp = np.maximum(temp, 0.2) + 0.15 * r.normal(size=T)
    duty = np.clip(np.gradient(temp) * 3 + 0.3 + 0.1 * r.normal(size=T), 0, 1)
    if kind == 2:
        duty = duty + 0.25 * ((temp > 10.0) & (temp < 12.5))
    return np.stack([temp, duty], -1)


def make(n, seed):
    r = np.random.default_rng(seed)
    y = r.integers(0, 4, n)
    X = np.stack([schedule(k, r) for k in y]).astype(np.float32)
    return X, y.astype(np.int32)


t0 = time.time()
Xtr, ytr = make(5000, 1)
Xte, yte = make(1500, 2)
Xtr, Xte = mx.array(Xtr), mx.array(Xte)      # (N, L, C): MLX Conv1d layout
ytr, yte = mx.array(ytr), mx.array(yte)
log.info(f"data: {Xtr.shape[0]} train / {Xte.shape[0]} test traces, "
         f"shape (N, L, C) = {tuple(Xtr.shape)}, {time.time() - t0:.1f}s")


class TraceNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv1d(2, 16, kernel_size=5, padding=2)
        self.c2 = nn.Conv1d(16, 32, kernel_size=5, stride=2, padding=2)
        self.c3 = nn.Conv1d(32, 32, kernel_size=3, stride=2, padding=1)
        self.out = nn.Linear(64, 4)

    def __call__(self, x):
        h = nn.relu(self.c1(x))
        h = nn.relu(self.c2(h))
        h = nn.relu(self.c3(h))
        h = mx.concatenate([h.mean(1), h.max(1)], -1)
        return self.out(h)


mx.random.seed(0)
net = TraceNet()               # float32 master weights
mx.eval(net.parameters())
half = TraceNet()              # float16 working copy, same structure


def to_half():
    half.update(tree_map(lambda p: p.astype(mx.float16), net.parameters()))


def scaled_loss(model, x, y, scale):
    logits = model(x.astype(mx.float16)).astype(mx.float32)
    return nn.losses.cross_entropy(logits, y, reduction="mean") * scale


vg = nn.value_and_grad(half, scaled_loss)
opt = optim.Adam(learning_rate=2e-3)


def evaluate():
    to_half()
    logits = half(Xte.astype(mx.float16)).astype(mx.float32)
    ce = nn.losses.cross_entropy(logits, yte, reduction="mean")
    acc = mx.mean(mx.argmax(logits, -1) == yte)
    return ce.item(), 100.0 * acc.item()


ce0, acc0 = evaluate()
log.info(f"untrained: test_ce={ce0:.3f} nats test_acc={acc0:.1f}% "
         f"(chance 25.0%, ln4={math.log(4):.3f})")

scale, good, skipped = 512.0, 0, 0
bs, n = 64, Xtr.shape[0]
for epoch in range(1, 6):
    perm = mx.random.permutation(n)
    tot, cnt = 0.0, 0
    for i in range(0, n - bs + 1, bs):
        idx = perm[i:i + bs]
        to_half()
        loss, g16 = vg(half, Xtr[idx], ytr[idx], mx.array(scale))
        g = tree_map(lambda t: t.astype(mx.float32) / scale, g16)
        finite = all(bool(mx.all(mx.isfinite(t)).item()) for _, t in tree_flatten(g))
        if epoch == 1 and i == 0:
            flat = tree_flatten(g)
            zero = [k for k, t in flat if float(mx.abs(t).max().item()) == 0.0]
            log.info(f"grad check: {len(flat)} leaves (fp32 after unscale), "
                     f"zero leaves: {zero}, loss scale {scale:.0f}")
        if not finite:
            scale, good, skipped = scale / 2, 0, skipped + 1
            continue
        opt.update(net, g)
        mx.eval(net.parameters(), opt.state)
        tot += loss.item() / scale
        cnt += 1
        good += 1
        if good == 300:
            scale, good = min(scale * 2, 2.0 ** 15), 0
    ce, acc = evaluate()
    log.info(f"epoch={epoch} train_ce={tot / max(cnt, 1):.4f} test_ce={ce:.4f} "
             f"test_acc={acc:.1f}% loss_scale={scale:.0f} "
             f"skipped_steps={skipped} t={time.time() - t0:.1f}s")

dtypes = sorted({str(p.dtype) for _, p in tree_flatten(net.parameters())})
log.info(f"done: master weights dtype {dtypes}, final test_acc={acc:.1f}%")
