# 78-rpm shellac record digitising: self-supervised contrastive pretraining of
# a 1-D conv encoder on short pickup-signal windows, then a frozen-encoder
# linear probe for the defect type (clean / crackle / wow / rumble).
import json
import sys
import time
from functools import partial

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

rs = np.random.default_rng(7)
L = 96                        # window length in samples (decimated pickup signal)
t = np.arange(L + 32) / 96.0  # seconds-ish time axis of the longer take


def pickup(n, defect):
    f = rs.uniform(9, 16, (n, 1))
    ph = rs.uniform(0, 2 * np.pi, (n, 1))
    amp = rs.uniform(0.6, 1.1, (n, 1))
    if defect == 2:     # wow: slow speed wobble of the turntable bends the pitch
        ph = ph + rs.uniform(2.0, 3.5, (n, 1)) * np.sin(2 * np.pi * rs.uniform(0.8, 1.5, (n, 1)) * t)
    sig = amp * np.sin(2 * np.pi * f * t + ph) + 0.3 * amp * np.sin(4 * np.pi * f * t + 2 * ph)
    if defect == 1:     # crackle: sparse clicks from dust in the groove
        sig = sig + (rs.random(sig.shape) < 0.04) * rs.choice([-1.0, 1.0], sig.shape) * rs.uniform(1.0, 2.0, sig.shape)
    elif defect == 3:   # rumble: low-frequency motor noise
        sig = sig + rs.uniform(0.5, 0.9, (n, 1)) * np.sin(2 * np.pi * rs.uniform(1.0, 2.0, (n, 1)) * t + ph)
    return (sig + rs.normal(0, 0.04, sig.shape)).astype(np.float32)


labels = np.repeat(np.arange(4), 300)
raw = np.concatenate([pickup(300, r) for r in range(4)])
order = rs.permutation(len(labels))
raw, labels = raw[order], labels[order]


def two_views(batch, noise):
    """Random crops of the take with playback gain and hiss."""
    n = batch.shape[0]
    views = []
    for _ in range(2):
        off = rs.integers(0, 32, n)
        crop = np.stack([batch[i, o:o + L] for i, o in enumerate(off)])
        crop = crop * rs.uniform(0.8, 1.2, (n, 1)) + rs.normal(0, noise, crop.shape)
        views.append(mx.array(crop[..., None].astype(np.float32)))
    return views


class GrooveEncoder(nn.Module):
    def __init__(self, d=32):
        super().__init__()
        self.c1 = nn.Conv1d(1, 16, 7, stride=2, padding=3)
        self.c2 = nn.Conv1d(16, 32, 5, stride=2, padding=2)
        self.c3 = nn.Conv1d(32, d, 3, stride=2, padding=1)
        self.head = nn.Sequential(nn.Linear(2 * d, 32), nn.ReLU(), nn.Linear(32, 16))

    def embed(self, x):
        h = nn.gelu(self.c1(x))
        h = nn.gelu(self.c2(h))
        h = nn.gelu(self.c3(h))
        return mx.concatenate([h.mean(axis=1), h.max(axis=1)], axis=-1)

    def __call__(self, x):
        z = self.head(self.embed(x))
        return z / mx.linalg.norm(z, axis=-1, keepdims=True)


def nt_xent(model, a, b, tau):
    za, zb = model(a), model(b)
    z = mx.concatenate([za, zb], axis=0)
    n = za.shape[0]
    sim = (z @ z.T) / tau
    sim = sim - 1e9 * mx.eye(2 * n)
    target = mx.concatenate([mx.arange(n, 2 * n), mx.arange(0, n)])
    return mx.mean(nn.losses.cross_entropy(sim, target))


mx.random.seed(3)
enc = GrooveEncoder()
mx.eval(enc.parameters())
opt = optim.SGD(learning_rate=0.08, momentum=0.9, nesterov=True, weight_decay=1e-4)
state = [enc.state, opt.state]
loss_and_grad = nn.value_and_grad(enc, nt_xent)


@partial(mx.compile, inputs=state, outputs=state)
def train_step(a, b, tau):
    loss, grads = loss_and_grad(enc, a, b, tau)
    opt.update(enc, grads)
    return loss


t0 = time.time()
B = 48
step = 0
# stage 2 is harder on purpose: much noisier views, so the NCE goes up first
for stage, (tau, noise, n_steps) in enumerate([(0.2, 0.03, 120), (0.2, 0.25, 120)], start=1):
    tau_arr = mx.array(tau)
    run = 0.0
    for i in range(n_steps):
        idx = rs.integers(0, len(raw), B)
        va, vb = two_views(raw[idx], noise)
        loss = train_step(va, vb, tau_arr)
        mx.eval(state, loss)
        run += loss.item()
        step += 1
        if (i + 1) % 20 == 0:
            za, zb = enc(va), enc(vb)
            pos = mx.mean(mx.sum(za * zb, axis=-1)).item()
            neg = mx.mean(za @ zb.T).item()
            print(json.dumps({"stage": stage, "it": i + 1, "tau": tau, "aug_noise": noise, "nce": round(run / 20, 4),
                              "pos_cos": round(pos, 3), "all_cos": round(neg, 3),
                              "chance_nce": round(float(np.log(2 * B - 1)), 3)}))
            run = 0.0

# ---- linear probe on frozen features -------------------------------------
enc.freeze()
feats = enc.embed(mx.array(raw[:, 16:16 + L, None]))
feats = (feats - feats.mean(axis=0)) / (feats.std(axis=0) + 1e-5)
mx.eval(feats)
ytr, yte = mx.array(labels[:900]), mx.array(labels[900:])
ftr, fte = feats[:900], feats[900:]
probe = nn.Linear(feats.shape[1], 4)
mx.eval(probe.parameters())
popt = optim.Adam(learning_rate=0.02)
pg = nn.value_and_grad(probe, lambda m, x, y: mx.mean(nn.losses.cross_entropy(m(x), y)))
for ep in range(1, 151):
    ploss, g = pg(probe, ftr, ytr)
    popt.update(probe, g)
    mx.eval(probe.parameters(), popt.state, ploss)
    if ep % 50 == 0:
        acc = mx.mean(mx.argmax(probe(fte), axis=-1) == yte).item()
        print(json.dumps({"probe_epoch": ep, "ce": round(ploss.item(), 4), "test_acc_pct": round(100 * acc, 1),
                          "chance_pct": 25.0}))
print(f"done in {time.time() - t0:.1f}s", file=sys.stderr)
