# Smart toothbrush: learn an embedding of 6-axis IMU windows without labels
# (two random augmentations of the same window must match, NT-Xent), then
# read off the brushing zone (6 mouth zones) with a linear probe.
# Every 25 steps one JSON record goes to stdout.
import json
import sys
import time
from functools import partial

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

rs = np.random.default_rng(1207)
ZONES = 6
T = 32
# each zone = a characteristic wrist orientation (gravity vector) + a stroke frequency/axis
grav = np.array([0.0, 0.0, 1.0]) + 0.25 * rs.normal(0, 1, (ZONES, 3))
grav /= np.linalg.norm(grav, axis=1, keepdims=True)
freq = rs.uniform(2.0, 5.0, ZONES)
axis = rs.normal(0, 1, (ZONES, 3))
axis /= np.linalg.norm(axis, axis=1, keepdims=True)


def make_windows(n):
    z = rs.integers(0, ZONES, n)
    t = np.arange(T) / 25.0
    phase = rs.uniform(0, 2 * np.pi, (n, 1))
    amp = rs.uniform(0.5, 1.5, (n, 1))
    stroke = amp * np.sin(2 * np.pi * freq[z][:, None] * t[None] + phase)
    acc = grav[z][:, None, :] + stroke[..., None] * axis[z][:, None, :] * 0.6
    gyr = np.gradient(stroke, axis=1)[..., None] * np.roll(axis[z], 1, axis=1)[:, None, :] * 3.0
    w = np.concatenate([acc, gyr], -1) + rs.normal(0, 0.9, (n, T, 6))
    return w.astype(np.float32), z


Xu, _ = make_windows(6000)          # unlabelled pool
Xp, zp = make_windows(150)          # small labelled set for the probe
Xt, zt = make_windows(1200)


class Encoder(nn.Module):
    def __init__(self, d=24, e=16):
        super().__init__()
        self.conv1 = nn.Conv1d(6, 16, 5, stride=2, padding=2)
        self.conv2 = nn.Conv1d(16, d, 5, stride=2, padding=2)
        self.proj = nn.Sequential(nn.Linear(d, d), nn.ReLU(), nn.Linear(d, e))

    def features(self, x):
        h = nn.relu(self.conv1(x))
        h = nn.relu(self.conv2(h))
        return h.mean(axis=1)

    def __call__(self, x):
        return self.proj(self.features(x))


def augment(x):
    n = x.shape[0]
    scale = mx.random.uniform(0.8, 1.2, (n, 1, 6))
    jitter = 0.15 * mx.random.normal(x.shape)
    shift = int(np.random.randint(-4, 5))
    return mx.roll(x, shift, axis=1) * scale + jitter


def nt_xent(model, a, b, tau=0.2):
    za = model(a)
    zb = model(b)
    za = za / mx.linalg.norm(za, axis=1, keepdims=True)
    zb = zb / mx.linalg.norm(zb, axis=1, keepdims=True)
    z = mx.concatenate([za, zb], 0)
    n = za.shape[0]
    sim = (z @ z.T) / tau
    sim = sim - 1e9 * mx.eye(2 * n)
    target = mx.concatenate([mx.arange(n, 2 * n), mx.arange(0, n)])
    return mx.mean(nn.losses.cross_entropy(sim, target))


def probe_accuracy(enc):
    # closed-form ridge probe on frozen features -> accuracy on held-out windows
    fp = np.array(enc.features(mx.array(Xp)))
    ft = np.array(enc.features(mx.array(Xt)))
    mu, sd = fp.mean(0), fp.std(0) + 1e-6
    fp, ft = (fp - mu) / sd, (ft - mu) / sd
    fp = np.hstack([fp, np.ones((len(fp), 1))])
    ft = np.hstack([ft, np.ones((len(ft), 1))])
    Y = np.eye(ZONES)[zp]
    W = np.linalg.solve(fp.T @ fp + 3.0 * np.eye(fp.shape[1]), fp.T @ Y)
    return 100.0 * float(np.mean((ft @ W).argmax(1) == zt))


mx.random.seed(12)
np.random.seed(12)
enc = Encoder()
sched = optim.cosine_decay(3e-3, 400, 1e-4)
opt = optim.AdamW(learning_rate=sched, weight_decay=1e-4)
state = [enc.state, opt.state, mx.random.state]


@partial(mx.compile, inputs=state, outputs=state)
def train_step(a, b):
    loss, grads = nn.value_and_grad(enc, nt_xent)(enc, a, b)
    opt.update(enc, grads)
    return loss


# gradient audit before the first update
_, g = nn.value_and_grad(enc, nt_xent)(enc, augment(mx.array(Xu[:64])), augment(mx.array(Xu[:64])))
zero = [k for k, v in tree_flatten(g) if float(mx.abs(v).max().item()) == 0.0]
print(json.dumps({"event": "grad_audit", "tensors": len(tree_flatten(g)), "all_zero": zero}))
print(json.dumps({"event": "probe", "step": 0, "acc_pct": round(probe_accuracy(enc), 2),
                  "chance_pct": round(100.0 / ZONES, 2)}))
sys.stdout.flush()

BATCH = 64
t0 = time.time()
window = []
for step in range(1, 401):
    b = rs.integers(0, len(Xu), BATCH)
    xb = mx.array(Xu[b])
    loss = train_step(augment(xb), augment(xb))
    mx.eval(loss, enc.state, opt.state)
    window.append(loss.item())
    if step % 25 == 0:
        rec = {"event": "train", "step": step, "nt_xent": round(float(np.mean(window)), 4),
               "nt_xent_floor": 0.0, "log_2n_minus_1": round(float(np.log(2 * BATCH - 1)), 4),
               "lr": float(f"{float(sched(step)):.3e}")}
        if step % 100 == 0:
            rec["probe_acc_pct"] = round(probe_accuracy(enc), 2)
        print(json.dumps(rec))
        sys.stdout.flush()
        window = []

print(json.dumps({"event": "summary", "seconds": round(time.time() - t0, 1),
                  "probe_acc_pct": round(probe_accuracy(enc), 2), "chance_pct": round(100.0 / ZONES, 2)}))
