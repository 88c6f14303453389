"""Encaustic floor tiles: a small PixelCNN learns 8x8 two-colour inlay patterns.

Synthetic tiles come from four workshop motifs (border frame, diagonal cross,
centre diamond, checker quarter) with mirrored placement and a few chipped
cells. The model is trained in two sessions: session 1 saves a checkpoint,
session 2 reloads weights and optimiser state into fresh objects and continues.
"""
import math
import os
import tempfile
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

H = W = 8
rng = np.random.default_rng(11)


def motif(kind):
    t = np.zeros((H, W), dtype=np.float32)
    if kind == 0:  # border frame, width 1 or 2
        w = rng.integers(1, 3)
        t[:w, :] = 1; t[-w:, :] = 1; t[:, :w] = 1; t[:, -w:] = 1
    elif kind == 1:  # diagonal cross
        for i in range(H):
            t[i, i] = 1; t[i, W - 1 - i] = 1
    elif kind == 2:  # centre diamond of radius 2 or 3
        r = rng.integers(2, 4)
        for i in range(H):
            for j in range(W):
                if abs(i - 3.5) + abs(j - 3.5) <= r:
                    t[i, j] = 1
    else:  # checker quarter
        q = rng.integers(0, 4)
        for i in range(4):
            for j in range(4):
                t[i + 4 * (q // 2), j + 4 * (q % 2)] = (i + j) % 2
    if rng.random() < 0.5:
        t = t[:, ::-1]
    chips = rng.random((H, W)) < 0.03
    t = np.where(chips, 1 - t, t)
    return t


def make_set(n):
    kinds = rng.integers(0, 4, size=n)
    return np.stack([motif(k) for k in kinds])[..., None], kinds


train_np, _ = make_set(3000)
test_np, _ = make_set(600)
train = mx.array(train_np)
test = mx.array(test_np)

# independent-pixel baseline: per-position Bernoulli fitted on the training set
p_pix = np.clip(train_np.mean(axis=0), 1e-3, 1 - 1e-3)
base_bits = -(test_np * np.log2(p_pix) + (1 - test_np) * np.log2(1 - p_pix)).mean()


def causal_offsets(k, first):
    c = k // 2
    offs = [(di, dj) for di in range(-c, 1) for dj in range(-c, c + 1)
            if di < 0 or dj < 0 or (dj == 0 and not first)]
    return offs


def shift(x, di, dj):
    # out[:, i, j] = x[:, i + di, j + dj], zero outside the tile (di, dj <= 0 rows above / cols left)
    p = max(abs(di), abs(dj))
    xp = mx.pad(x, [(0, 0), (p, p), (p, p), (0, 0)])
    return xp[:, p + di:p + di + H, p + dj:p + dj + W, :]


class CausalConv(nn.Module):
    """Convolution that only reads pixels above, or left on the same row
    (and the centre pixel itself when first=False); built from stacked shifts."""

    def __init__(self, cin, cout, k, first):
        super().__init__()
        self._offsets = causal_offsets(k, first)
        self.proj = nn.Linear(cin * len(self._offsets), cout)

    def __call__(self, x):
        stacked = mx.concatenate([shift(x, di, dj) for di, dj in self._offsets], axis=-1)
        return self.proj(stacked)


class PixelCNN(nn.Module):
    def __init__(self, ch=16, layers=3):
        super().__init__()
        self.inp = CausalConv(1, ch, 5, first=True)
        self.body = [CausalConv(ch, ch, 3, first=False) for _ in range(layers)]
        self.out = nn.Linear(ch, 1)

    def __call__(self, x):
        h = nn.relu(self.inp(x))
        for layer in self.body:
            h = h + nn.relu(layer(h))
        return self.out(h)


def nll_bits(model, x):
    logits = model(x)
    return nn.losses.binary_cross_entropy(logits, x, reduction="mean") / math.log(2)


BATCH = 32
STEPS_PER_SESSION = 200
WARMUP = 60
PEAK = 3e-3
TOTAL = 2 * STEPS_PER_SESSION


def lr_at(step):
    if step < WARMUP:
        return PEAK * step / WARMUP  # exactly 0 at step 0
    prog = (step - WARMUP) / (TOTAL - WARMUP)
    return 0.5 * PEAK * (1 + math.cos(math.pi * prog))


def run_session(model, opt, start, stop):
    loss_and_grad = nn.value_and_grad(model, nll_bits)
    perm = np.random.default_rng(start).permutation
    order = perm(train.shape[0])
    ptr = 0
    run = 0.0
    for step in range(start, stop):
        if ptr + BATCH > len(order):
            order = perm(train.shape[0]); ptr = 0
        idx = mx.array(order[ptr:ptr + BATCH]); ptr += BATCH
        opt.learning_rate = lr_at(step)
        loss, grads = loss_and_grad(model, train[idx])
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        run += loss.item()
        if (step + 1) % 50 == 0:
            print(f"step {step + 1:4d}  lr {lr_at(step):.5f}  train bits/pixel {run / 50:.4f}")
            run = 0.0
        if (step + 1) % 100 == 0:
            tb = nll_bits(model, test).item()
            print(f"           held-out bits/pixel {tb:.4f}  (independent-pixel baseline {base_bits:.4f})")


def sample(model, n):
    x = mx.zeros((n, H, W, 1))
    for i in range(H):
        for j in range(W):
            p = mx.sigmoid(model(x)[:, i, j, 0])
            v = (mx.random.uniform(shape=p.shape) < p).astype(mx.float32)
            x[:, i, j, 0] = v
    return x


t0 = time.time()
mx.random.seed(5)
model = PixelCNN()
n_params = sum(v.size for _, v in tree_flatten(model.trainable_parameters()))
print(f"tiles train {train.shape[0]}  test {test.shape[0]}  params {n_params}")
print(f"held-out bits/pixel at init {nll_bits(model, test).item():.4f}")
opt = optim.Adam(learning_rate=0.0)
print("session 1")
run_session(model, opt, 0, STEPS_PER_SESSION)

ckdir = tempfile.mkdtemp()
wpath = os.path.join(ckdir, "tile_pcnn.safetensors")
opath = os.path.join(ckdir, "tile_opt.safetensors")
model.save_weights(wpath)
mx.save_safetensors(opath, dict(tree_flatten(opt.state)))
print(f"checkpoint written at step {STEPS_PER_SESSION}")

model2 = PixelCNN()
model2.load_weights(wpath)
opt2 = optim.Adam(learning_rate=0.0)
opt2.state = tree_unflatten(list(mx.load(opath).items()))
mx.eval(model2.parameters())
print(f"session 2 (resumed)  held-out bits/pixel {nll_bits(model2, test).item():.4f}")
run_session(model2, opt2, STEPS_PER_SESSION, TOTAL)

final = nll_bits(model2, test).item()
mx.random.seed(9)
s = np.array(sample(model2, 120))[..., 0]
print(f"final held-out bits/pixel {final:.4f}  baseline {base_bits:.4f}")
print(f"ink fraction samples {s.mean():.3f}  data {test_np.mean():.3f}")
print(f"done in {time.time() - t0:.1f}s")
