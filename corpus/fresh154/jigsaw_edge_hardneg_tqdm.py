"""Jigsaw puzzle solver helper: does edge B fit edge A?

Each piece edge is a 24-point height profile along the cut: a tab (bump out)
or a blank (bump in) with its own centre, width and height, plus knife wiggle.
The partner edge is the same cut seen from the other piece: reversed and negated,
with a little scan noise.  Stage 1 trains on easy negatives (random other edges),
stage 2 adds near-miss negatives (a complementary shape with a slightly shifted
or resized knob), so the loss goes back up when stage 2 starts.
"""
import math
import sys
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

rng = np.random.default_rng(11)
P = 24
xs = np.linspace(0.0, 1.0, P)


def cut(n):
    sign = rng.choice([-1.0, 1.0], size=(n, 1))
    c = rng.uniform(0.35, 0.65, size=(n, 1))
    w = rng.uniform(0.08, 0.16, size=(n, 1))
    h = rng.uniform(0.6, 1.2, size=(n, 1))
    return sign, c, w, h


def profile(sign, c, w, h, wig):
    base = sign * h * np.exp(-0.5 * ((xs[None, :] - c) / w) ** 2)
    return base + wig


def make_pairs(n, hard_share):
    sign, c, w, h = cut(n)
    wig = 0.05 * np.sin(2 * math.pi * rng.uniform(1, 3, (n, 1)) * xs[None, :] + rng.uniform(0, 6.3, (n, 1)))
    a = profile(sign, c, w, h, wig)
    mate = -a[:, ::-1] + rng.normal(0, 0.03, a.shape)
    y = (rng.random(n) < 0.5).astype(np.float32)
    # easy negative: the mate of some other random edge
    perm = rng.permutation(n)
    easy = mate[perm]
    # hard negative: complementary shape whose knob is shifted or resized a little
    dc = rng.choice([-1, 1], (n, 1)) * rng.uniform(0.05, 0.10, (n, 1))
    dh = rng.choice([-1, 1], (n, 1)) * rng.uniform(0.15, 0.3, (n, 1))
    which = rng.random((n, 1)) < 0.5
    c2 = np.where(which, c + dc, c)
    h2 = np.where(which, h, h + dh)
    near = -profile(sign, c2, w, h2, wig)[:, ::-1] + rng.normal(0, 0.03, a.shape)
    use_hard = rng.random((n, 1)) < hard_share
    neg = np.where(use_hard, near, easy)
    b = np.where(y[:, None] > 0.5, mate, neg)
    return mx.array(a.astype(np.float32)), mx.array(b.astype(np.float32)), mx.array(y)


class EdgeMatcher(nn.Module):
    def __init__(self):
        super().__init__()
        self.enc = nn.Sequential(nn.Linear(P, 64), nn.GELU(), nn.Linear(64, 32))
        self.head = nn.Sequential(nn.Linear(96, 64), nn.GELU(), nn.Linear(64, 1))

    def __call__(self, a, b):
        ea, eb = self.enc(a), self.enc(b)
        return self.head(mx.concatenate([ea, eb, ea * eb], axis=1)).squeeze(1)


def loss_fn(model, a, b, y):
    return nn.losses.binary_cross_entropy(model(a, b), y, with_logits=True, reduction="mean")


def accuracy(model, a, b, y):
    pred = (model(a, b) > 0).astype(mx.float32)
    return (pred == y).mean().item() * 100.0


def bar(done, total, width=20):
    k = int(width * done / total)
    return "#" * k + "-" * (width - k)


mx.random.seed(11)
model = EdgeMatcher()
steps_per_stage = 300
warm = 60
lr_sched = optim.join_schedules(
    [optim.linear_schedule(0.0, 2e-3, warm), optim.cosine_decay(2e-3, 2 * steps_per_stage - warm, 1e-4)], [warm]
)
opt = optim.Adamax(learning_rate=lr_sched)
grad_fn = nn.value_and_grad(model, loss_fn)

val_easy = make_pairs(2000, 0.0)
val_hard = make_pairs(2000, 1.0)
stages = [("easy", 0.0), ("near-miss", 0.6)]
t0 = time.time()
bs = 128
for si, (sname, hard_share) in enumerate(stages, 1):
    train = make_pairs(12000, hard_share)
    n = train[0].shape[0]
    run_loss, seen = 0.0, 0
    for step in range(1, steps_per_stage + 1):
        idx = mx.array(rng.integers(0, n, bs))
        a, b, y = train[0][idx], train[1][idx], train[2][idx]
        loss, grads = grad_fn(model, a, b, y)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        run_loss += loss.item()
        seen += 1
        if step % 50 == 0 or step == 1:
            lr_now = opt.learning_rate.item()
            sys.stdout.write(
                f"stage {si}/2 {sname:<9}|{bar(step, steps_per_stage)}| {step}/{steps_per_stage} "
                f"[{time.time() - t0:5.1f}s, lr={lr_now:.2e}, loss={run_loss / seen:.4f}]\n"
            )
            run_loss, seen = 0.0, 0
    ea = accuracy(model, *val_easy)
    ha = accuracy(model, *val_hard)
    print(f"  -> end of stage {si}: fit-check easy {ea:5.1f}%  near-miss {ha:5.1f}%  (coin flip 50.0%)")

print(f"done in {time.time() - t0:.1f}s")
