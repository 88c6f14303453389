"""78 rpm shellac transfer desk: a residual MLP denoiser for 64-sample snippets of
the disc signal.  It is taught in three stages of RISING surface noise
(hiss sd 0.10 -> 0.25 -> 0.50, more clicks each stage); every stage gets a
fresh Adam whose learning rate warms up from 0.  Training is silent inside a
stage; rows are printed at the stage end."""

import csv
import io
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten

rng = np.random.default_rng(78)
mx.random.seed(78)
L = 64


def clean_snippets(n):
    t = np.arange(L)[None, :]
    out = np.zeros((n, L), np.float32)
    for _ in range(3):
        f = rng.uniform(0.02, 0.18, (n, 1))
        ph = rng.uniform(0, 2 * np.pi, (n, 1))
        a = rng.uniform(0.2, 0.6, (n, 1))
        out += a * np.sin(2 * np.pi * f * t + ph)
    env = np.exp(-t / rng.uniform(40, 200, (n, 1)))
    return (out * env).astype(np.float32)


def surface(n, hiss, click_rate):
    noise = hiss * rng.standard_normal((n, L))
    clicks = (rng.random((n, L)) < click_rate) * rng.choice([-1.0, 1.0], (n, L)) \
        * rng.uniform(0.8, 1.6, (n, L))
    return (noise + clicks).astype(np.float32)


STAGES = [(0.10, 0.005), (0.25, 0.010), (0.50, 0.020)]
N_TRAIN, BATCH, STEPS, WARM = 12000, 64, 700, 60
train_clean = clean_snippets(N_TRAIN)
val_clean = clean_snippets(800)
val_sets = {h: val_clean + surface(800, h, c) for h, c in STAGES}


class Desk(nn.Module):
    def __init__(self):
        super().__init__()
        self.inp = nn.Linear(L, 192)
        self.mid = nn.Linear(192, 192)
        self.out = nn.Linear(192, L)

    def __call__(self, x):
        h = nn.silu(self.inp(x))
        h = h + nn.silu(self.mid(h))
        return x - self.out(h)


def loss_fn(model, noisy, clean):
    return mx.mean((model(noisy) - clean) ** 2)


def snr_gain_db(model, hiss):
    noisy = mx.array(val_sets[hiss])
    clean = mx.array(val_clean)
    before = mx.mean((noisy - clean) ** 2).item()
    after = mx.mean((model(noisy) - clean) ** 2).item()
    return 10 * np.log10(before / after)


def smooth_gain_db(hiss):
    k = np.ones(5) / 5
    noisy = val_sets[hiss]
    sm = np.stack([np.convolve(r, k, mode="same") for r in noisy])
    return 10 * np.log10(np.mean((noisy - val_clean) ** 2) / np.mean((sm - val_clean) ** 2))


model = Desk()
mx.eval(model.parameters())
grad_fn = nn.value_and_grad(model, loss_fn)
print("desk: %d train snippets, %d params, %d stages x %d steps" % (
    N_TRAIN, sum(v.size for _, v in tree_flatten(model.parameters())),
    len(STAGES), STEPS))
print("reference 5-tap smoothing gain dB: " + ", ".join(
    f"hiss {h:.2f} {smooth_gain_db(h):+.2f}" for h, _ in STAGES))

t0 = time.perf_counter()
for s, (hiss, crate) in enumerate(STAGES, 1):
    opt = optim.Adam(learning_rate=optim.join_schedules(
        [optim.linear_schedule(0.0, 2e-3, WARM), optim.cosine_decay(2e-3, STEPS - WARM, 1e-4)],
        [WARM]))
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["stage", "step", "hiss", "train_mse", "gain_db@0.10", "gain_db@0.25",
                "gain_db@0.50", "secs"])
    win = []
    for step in range(1, STEPS + 1):
        idx = rng.integers(0, N_TRAIN, BATCH)
        cl = train_clean[idx]
        noisy = cl + surface(BATCH, hiss, crate)
        loss, grads = grad_fn(model, mx.array(noisy), mx.array(cl))
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        win.append(loss.item())
        if step == 1 or step % 100 == 0:
            w.writerow([s, step, f"{hiss:.2f}", f"{np.mean(win):.5f}",
                        *(f"{snr_gain_db(model, h):+.2f}" for h, _ in STAGES),
                        f"{time.perf_counter() - t0:.1f}"])
            win = []
    print(f"--- stage {s}/3 hiss {hiss:.2f} clicks {crate:.3f} ---")
    print(buf.getvalue().rstrip())

print("final gain dB (higher is better): " + ", ".join(
    f"hiss {h:.2f} {snr_gain_db(model, h):+.2f} (smoothing {smooth_gain_db(h):+.2f})"
    for h, _ in STAGES))
