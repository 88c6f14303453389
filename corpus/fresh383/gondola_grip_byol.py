"""Ropeway gondola grips: condition (sound / worn jaw / loose spring) from 32-bin
vibration spectra recorded as cabins pass the station.  BYOL pretraining on
unlabelled passes (online net + predictor, target net as a momentum average whose
momentum follows a cosine ramp from 0.99 up to exactly 1.0), then a logistic probe
on the encoder outputs, held constant.
"""
import math
import time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map

rng = np.random.default_rng(23)
BINS = 32
f = np.arange(BINS)


def passes(n):
    cls = rng.integers(0, 3, n)
    speed = rng.uniform(0.7, 1.3, n)[:, None]
    base = np.exp(-((f - 6 * speed) ** 2) / 8.0) + 0.5 * np.exp(-((f - 12 * speed) ** 2) / 10.0)
    worn = 0.6 * np.exp(-((f - 20 * speed) ** 2) / 6.0)
    loose = 0.35 * (np.sin(f * 0.9 * speed) + 1.0) * (f > 14)
    s = base + (cls == 1)[:, None] * worn + (cls == 2)[:, None] * loose
    s = s * rng.uniform(0.6, 1.6, (n, 1)) + rng.gamma(2.0, 0.06, (n, BINS))
    return np.log1p(s).astype(np.float32), cls


x_un, _ = passes(4000)
x_lab, y_lab = passes(300)
x_te, y_te = passes(1500)
mu, sd = x_un.mean(0), x_un.std(0) + 1e-6
norm = lambda a: mx.array((a - mu) / sd)
Xun, Xlab, Xte = norm(x_un), norm(x_lab), norm(x_te)
Ylab, Yte = mx.array(y_lab), mx.array(y_te)


def view(xb, key):
    k1, k2 = mx.random.split(key)
    gain = mx.random.uniform(-0.4, 0.4, (xb.shape[0], 1), key=k1)
    noise = 0.3 * mx.random.normal(xb.shape, key=k2)
    return xb + gain + noise


class Encoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(BINS, 96)
        self.n1 = nn.LayerNorm(96)
        self.l2 = nn.Linear(96, 32)

    def __call__(self, x):
        return self.l2(nn.gelu(self.n1(self.l1(x))))


class Online(nn.Module):
    def __init__(self):
        super().__init__()
        self.enc = Encoder()
        self.proj = nn.Sequential(nn.Linear(32, 64), nn.GELU(), nn.Linear(64, 16))
        self.pred = nn.Sequential(nn.Linear(16, 64), nn.GELU(), nn.Linear(64, 16))


class Target(nn.Module):
    def __init__(self):
        super().__init__()
        self.enc = Encoder()
        self.proj = nn.Sequential(nn.Linear(32, 64), nn.GELU(), nn.Linear(64, 16))


def cos(a, b):
    a = a / mx.linalg.norm(a, axis=-1, keepdims=True)
    b = b / mx.linalg.norm(b, axis=-1, keepdims=True)
    return mx.sum(a * b, axis=-1)


def byol_loss(on, z1t, z2t, v1, v2):
    p1 = on.pred(on.proj(on.enc(v1)))
    p2 = on.pred(on.proj(on.enc(v2)))
    return -0.5 * mx.mean(cos(p1, mx.stop_gradient(z2t)) + cos(p2, mx.stop_gradient(z1t)))


def probe(encoder, tag):
    fe_lab = mx.stop_gradient(encoder(Xlab))
    fe_te = mx.stop_gradient(encoder(Xte))
    m, s = mx.mean(fe_lab, axis=0), mx.std(fe_lab, axis=0) + 1e-5
    fe_lab, fe_te = (fe_lab - m) / s, (fe_te - m) / s
    head = nn.Linear(fe_lab.shape[1], 3)
    popt = optim.SGD(learning_rate=0.1, momentum=0.9)
    lg = nn.value_and_grad(head, lambda h, a, y: nn.losses.cross_entropy(h(a), y, reduction="mean")
                           + 1e-3 * mx.sum(h.weight ** 2))
    for _ in range(300):
        l, g = lg(head, fe_lab, Ylab)
        popt.update(head, g)
        mx.eval(head.parameters(), popt.state)
    acc = mx.mean(mx.argmax(head(fe_te), axis=1) == Yte).item()
    return acc


mx.random.seed(3)
online, target = Online(), Target()
target.update({"enc": online.enc.parameters(), "proj": online.proj.parameters()})
target.freeze()
mx.eval(online.parameters(), target.parameters())
init_enc = Encoder()
init_enc.update(tree_map(lambda a: mx.array(a), online.enc.parameters()))
init_enc.freeze()

print("# gondola grip BYOL; loss = -mean cosine (ideal -1.0); probe on 300 labelled passes")
print(f"# probe accuracy, raw spectra: {probe(lambda x: x, 'raw'):.3f}")
print(f"# probe accuracy, encoder at init: {probe(init_enc, 'init'):.3f}")

STEPS, BS = 800, 128
opt = optim.AdamW(learning_rate=optim.join_schedules(
    [optim.linear_schedule(0.0, 2e-3, 80), optim.cosine_decay(2e-3, STEPS - 80, 1e-4)], [80]),
    weight_decay=1e-4)
lg = nn.value_and_grad(online, byol_loss)
key = mx.random.key(9)
print("step;tau;lr;loss;online_target_gap;probe_acc;secs")
t0 = time.time()
win = []
for step in range(1, STEPS + 1):
    tau = 1.0 - 0.01 * (math.cos(math.pi * (step - 1) / (STEPS - 1)) + 1) / 2
    key, kb, k1, k2 = mx.random.split(key, 4)
    idx = mx.random.randint(0, Xun.shape[0], (BS,), key=kb)
    xb = Xun[idx]
    v1, v2 = view(xb, k1), view(xb, k2)
    z1t = target.proj(target.enc(v1))
    z2t = target.proj(target.enc(v2))
    lr_used = opt.learning_rate.item()
    loss, g = lg(online, z1t, z2t, v1, v2)
    if step == 1:
        leaves = tree_flatten(g)
        print(f"# first step: {len(leaves)} grad arrays, "
              f"{sum(int(mx.any(v != 0).item()) for _, v in leaves)} non-zero; lr used {lr_used}")
    if step == STEPS:
        before = tree_map(lambda a: mx.array(a), target.parameters())
    opt.update(online, g)
    new_t = tree_map(lambda t, o: tau * t + (1 - tau) * o,
                     target.parameters(),
                     {"enc": online.enc.parameters(), "proj": online.proj.parameters()})
    target.update(new_t)
    mx.eval(online.parameters(), target.parameters(), opt.state, loss)
    win.append(loss.item())
    if step in (1, 50, 100) or step % 100 == 0:
        gap = max(mx.max(mx.abs(a - b)).item() for (_, a), (_, b) in
                  zip(tree_flatten(target.enc.parameters()), tree_flatten(online.enc.parameters())))
        acc = probe(target.enc, "t") if step % 200 == 0 or step == 1 else float("nan")
        print(f"{step};{tau:.5f};{lr_used:.2e};{np.mean(win):.4f};{gap:.4f};{acc:.3f};{time.time() - t0:.1f}")
        win = []

print(f"# final tau {tau:.6f}; target encoder probe {probe(target.enc, 't'):.3f}; "
      f"online encoder probe {probe(online.enc, 'o'):.3f}")
last = max(mx.max(mx.abs(a - b)).item() for (_, a), (_, b) in zip(tree_flatten(before), tree_flatten(target.parameters())))
print(f"# target change on the last step (tau = 1): {last}")
