# Fisheries lab: estimate fish age (years) from an otolith density transect.
# Stage "young" uses fish aged 1-6 with clear annuli; stage "full" adds old fish
# (up to 14 y) whose outer rings crowd together, plus more reader noise.
# Each stage restarts its own epoch counter and warms the LR up from 0.
import math
import sys
import time
from functools import partial

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten

L = 64
rng = np.random.default_rng(2024)


def transects(n, max_age, noise):
    age = rng.integers(1, max_age + 1, size=n)
    pos = np.arange(L)[None, :].astype(np.float64)
    prof = np.zeros((n, L))
    k = rng.uniform(0.18, 0.28, size=n)          # von Bertalanffy growth rate
    core = rng.uniform(4, 8, size=n)
    for i in range(n):
        a = np.arange(1, age[i] + 1)
        radius = core[i] + (L - 6 - core[i]) * (1 - np.exp(-k[i] * a)) / (1 - np.exp(-k[i] * max(age[i], 6)))
        width = 0.9 + 0.6 * np.exp(-0.15 * a)
        prof[i] = (np.exp(-0.5 * ((pos[0][None, :] - radius[:, None]) / width[:, None]) ** 2)).sum(0)
    prof += 0.3 * np.exp(-pos / 5.0)                 # opaque nucleus
    prof += noise * rng.standard_normal((n, L))
    prof += rng.uniform(-0.2, 0.2, size=(n, 1))      # section thickness offset
    return mx.array(prof[..., None].astype(np.float32)), mx.array(age.astype(np.float32))


class AgeNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv1d(1, 12, 5, padding=2)
        self.c2 = nn.Conv1d(12, 24, 5, padding=2, stride=2)
        self.c3 = nn.Conv1d(24, 24, 3, padding=1, stride=2)
        self.head = nn.Sequential(nn.Linear(24 * 16, 64), nn.SiLU(), nn.Linear(64, 1))

    def __call__(self, x):
        h = nn.silu(self.c1(x))
        h = nn.silu(self.c2(h))
        h = nn.silu(self.c3(h))
        return self.head(h.reshape(h.shape[0], -1)).squeeze(-1) * 4.0 + 5.0


def loss_fn(model, x, y):
    return nn.losses.huber_loss(model(x), y, delta=1.0, reduction="mean")


def metrics(model, x, y):
    p = model(x)
    ape = (mx.abs(mx.round(p) - y) / y).mean() * 100
    within = (mx.abs(mx.round(p) - y) <= 1).mean() * 100
    return ape.item(), within.item()


def bar(done, total, width=20):
    k = int(width * done / total)
    return "#" * k + "." * (width - k)


mx.random.seed(11)
model = AgeNet()
mx.eval(model.parameters())

STAGES = [
    dict(name="young", max_age=6, noise=0.25, epochs=4, peak=2e-3, warm=30),
    dict(name="full", max_age=14, noise=0.4, epochs=6, peak=1e-3, warm=40),
]
BS = 64
# second-reader agreement from the lab's double-read exchange (reference only)
REF = {"young": (9.0, 97.0), "full": (11.5, 88.0)}

t0 = time.perf_counter()
prev_flat = None
for si, st in enumerate(STAGES, 1):
    xtr, ytr = transects(1600, st["max_age"], st["noise"])
    xva, yva = transects(400, st["max_age"], st["noise"])
    steps_per_epoch = xtr.shape[0] // BS
    total = steps_per_epoch * st["epochs"]
    sched = optim.join_schedules(
        [optim.linear_schedule(0.0, st["peak"], st["warm"]),
         optim.cosine_decay(st["peak"], total - st["warm"], 1e-5)],
        [st["warm"]])
    opt = optim.Adam(learning_rate=sched)
    state = [model.state, opt.state]

    @partial(mx.compile, inputs=state, outputs=state)
    def step(x, y):
        loss, grads = nn.value_and_grad(model, loss_fn)(model, x, y)
        opt.update(model, grads)
        return loss

    ape0, w0 = metrics(model, xva, yva)
    print(f"== stage {si}/{len(STAGES)} '{st['name']}' ages 1-{st['max_age']}  "
          f"start: APE {ape0:.1f}%  +/-1y {w0:.1f}%  lr {opt.learning_rate.item():.1e}")
    for ep in range(1, st["epochs"] + 1):
        perm = mx.array(rng.permutation(xtr.shape[0]))
        run = 0.0
        for b in range(steps_per_epoch):
            idx = perm[b * BS:(b + 1) * BS]
            loss = step(xtr[idx], ytr[idx])
            mx.eval(state, loss)
            run += loss.item()
            if (b + 1) % 12 == 0 or b + 1 == steps_per_epoch:
                sys.stdout.write(f"\r  ep {ep}/{st['epochs']} |{bar(b + 1, steps_per_epoch)}| "
                                 f"{b + 1}/{steps_per_epoch} huber={run / (b + 1):.3f}")
                sys.stdout.flush()
        ape, within = metrics(model, xva, yva)
        ref_ape, ref_w = REF[st["name"]]
        sys.stdout.write(f"\r  ep {ep}/{st['epochs']} |{bar(1, 1)}| huber={run / steps_per_epoch:.3f} "
                         f"val APE {ape:5.1f}% (2nd reader {ref_ape:.1f}%)  "
                         f"+/-1y {within:5.1f}% (2nd reader {ref_w:.0f}%)  "
                         f"lr {opt.learning_rate.item():.2e}\n")
    flat = np.concatenate([np.array(v).ravel() for _, v in tree_flatten(model.parameters())])
    drift = 0.0 if prev_flat is None else float(np.linalg.norm(flat - prev_flat))
    print(f"   audit: |theta|={np.linalg.norm(flat):.3f}  moved since last stage {drift:.3f}")
    prev_flat = flat

print(f"finished {len(STAGES)} stages in {time.perf_counter() - t0:.1f}s")
