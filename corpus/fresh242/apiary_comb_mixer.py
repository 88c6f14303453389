"""Brood-frame patch grading with a tiny MLP-Mixer.

Synthetic 16x16 grey patches of a honeycomb frame: each patch is a hexagon-ish
cell lattice whose look depends on the grade (0 capped, 1 open larva,
2 spotty/sunken caps).  15% of the training labels are flipped on purpose
(inspector disagreement), so the training loss settles on a floor well above 0.
"""
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_map_with_path

rng = np.random.default_rng(7)
mx.random.seed(7)

S, P = 16, 4            # image side, patch side -> 16 tokens
T, D = (S // P) ** 2, 32
N_TRAIN, N_VAL = 2400, 500
NOISE = 0.15


def make_patches(n):
    y = rng.integers(0, 3, n)
    yy, xx = np.mgrid[0:S, 0:S].astype(np.float32)
    out = np.empty((n, S, S, 1), np.float32)
    for i in range(n):
        ph = rng.uniform(0, 2 * np.pi, 2)
        per = rng.uniform(3.6, 4.4)
        lat = np.cos(2 * np.pi * xx / per + ph[0]) + np.cos(2 * np.pi * (0.5 * xx + 0.866 * yy) / per + ph[1])
        img = 0.35 * lat
        if y[i] == 0:
            img += 0.6
        elif y[i] == 1:
            cy, cx = rng.uniform(4, 12, 2)
            img += 0.9 * np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / 6.0) - 0.2
        else:
            holes = rng.random((S, S)) < 0.12
            img += 0.6 - 0.9 * holes
        img += rng.normal(0, 0.35, (S, S))
        out[i, :, :, 0] = img
    return out, y


xtr, ytr_clean = make_patches(N_TRAIN)
xva, yva = make_patches(N_VAL)
flip = rng.random(N_TRAIN) < NOISE
ytr = np.where(flip, (ytr_clean + rng.integers(1, 3, N_TRAIN)) % 3, ytr_clean)
mu, sd = xtr.mean(), xtr.std()
xtr, xva = (xtr - mu) / sd, (xva - mu) / sd


def patchify(x):
    b = x.shape[0]
    x = x.reshape(b, S // P, P, S // P, P, 1).transpose(0, 1, 3, 2, 4, 5)
    return x.reshape(b, T, P * P)


class MixerBlock(nn.Module):
    def __init__(self):
        super().__init__()
        self.norm1 = nn.LayerNorm(D)
        self.tok1 = nn.Linear(T, 32)
        self.tok2 = nn.Linear(32, T)
        self.norm2 = nn.LayerNorm(D)
        self.ch1 = nn.Linear(D, 64)
        self.ch2 = nn.Linear(64, D)

    def __call__(self, x):
        h = self.norm1(x).transpose(0, 2, 1)          # mix across tokens
        x = x + self.tok2(nn.gelu(self.tok1(h))).transpose(0, 2, 1)
        return x + self.ch2(nn.gelu(self.ch1(self.norm2(x))))


class CombMixer(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = nn.Linear(P * P, D)
        self.blocks = [MixerBlock(), MixerBlock()]
        self.norm = nn.LayerNorm(D)
        self.head = nn.Linear(D, 3)

    def __call__(self, x):
        h = self.embed(patchify(x))
        for b in self.blocks:
            h = b(h)
        return self.head(self.norm(h).mean(axis=1))


model = CombMixer()
mx.eval(model.parameters())

# layer-wise lr decay: the embedding learns at 0.5x, block k at 0.7^(1-k), head at 1x
DEPTH_SCALE = {"embed": 0.5, "blocks.0": 0.7, "blocks.1": 1.0, "norm": 1.0, "head": 1.0}


def depth_scale(path, g):
    for k, s in DEPTH_SCALE.items():
        if path.startswith(k):
            return g * s
    return g


STEPS, WARM, BS, PEAK = 200, 40, 64, 3e-3
sched = optim.join_schedules([optim.linear_schedule(0.0, PEAK, WARM), lambda s: PEAK], [WARM])
opt = optim.AdamW(learning_rate=sched, weight_decay=0.02)


def loss_fn(m, x, y):
    return nn.losses.cross_entropy(m(x), y, reduction="mean")


vg = nn.value_and_grad(model, loss_fn)


def augment(xb):
    xb = xb.copy()
    fl = rng.random(len(xb)) < 0.5
    xb[fl] = xb[fl, :, ::-1]
    sh = rng.integers(-1, 2, 2)
    return np.roll(xb, tuple(sh), axis=(1, 2))


def evaluate(tta):
    xv = mx.array(xva)
    logits = model(xv)
    if tta:
        logits = 0.5 * (mx.softmax(logits, -1) + mx.softmax(model(xv[:, :, ::-1]), -1))
        acc = (mx.argmax(logits, -1) == mx.array(yva)).mean()
        return None, acc.item()
    ce = nn.losses.cross_entropy(logits, mx.array(yva), reduction="mean")
    acc = (mx.argmax(logits, -1) == mx.array(yva)).mean()
    return ce.item(), acc.item()


# one gradient look before training: every leaf should receive signal
_, g0 = vg(model, mx.array(xtr[:BS]), mx.array(ytr[:BS]))
leaves = tree_flatten(g0)
dead = [k for k, v in leaves if mx.abs(v).max().item() == 0.0]
print(f"grad-check leaves={len(leaves)} zero={dead}")

floor = -((1 - NOISE) * math.log(1 - NOISE) + NOISE * math.log(NOISE / 2))
print(f"label-noise CE floor ~ {floor:.3f} nats; chance acc 33.3%")
ce0, acc0 = evaluate(False)
print(f"step,lr,train_ce,val_ce,val_acc_pct,val_acc_tta_pct,secs")
print(f"0,{0.0:.2e},,{ce0:.4f},{100*acc0:.1f},,0.0")

t0 = time.time()
perm, cur, run = rng.permutation(N_TRAIN), 0, []
for step in range(1, STEPS + 1):
    if cur + BS > N_TRAIN:
        perm, cur = rng.permutation(N_TRAIN), 0
    idx = perm[cur:cur + BS]
    cur += BS
    lr_now = sched(opt.step).item()
    loss, g = vg(model, mx.array(augment(xtr[idx])), mx.array(ytr[idx]))
    g = tree_map_with_path(depth_scale, g)
    opt.update(model, g)
    mx.eval(model.parameters(), opt.state, loss)
    run.append(loss.item())
    if step % 40 == 0:
        ce, acc = evaluate(False)
        _, acc_t = evaluate(True)
        print(f"{step},{lr_now:.2e},{np.mean(run):.4f},{ce:.4f},{100*acc:.1f},{100*acc_t:.1f},{time.time()-t0:.1f}")
        run = []

ce, acc = evaluate(False)
print(f"done val_ce={ce:.4f} val_acc={100*acc:.1f}% (train labels {100*NOISE:.0f}% flipped)")
