# Wax-seal archive: a tiny token-conditioned denoising diffusion model over 8x8
# seal impressions. Stage 1 trains the denoiser on six catalogued sigils.
# Stage 2 keeps the denoiser frozen and learns one new token vector for a
# seventh sigil (a guild mark seen on only 24 letters).
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

SEED = 7
np.random.seed(SEED)
mx.random.seed(SEED)

SIDE = 8
DIM = SIDE * SIDE
T = 100
EMB = 16


def sigil_templates():
    g = np.zeros((7, SIDE, SIDE), dtype=np.float32)
    g[0, :, 3:5] = 1  # pale
    g[1, 3:5, :] = 1  # fess
    for i in range(SIDE):
        g[2, i, i] = 1  # bend
        g[3, i, i] = 1
        g[3, i, SIDE - 1 - i] = 1  # saltire
    g[4, :, 3:5] = 1
    g[4, 3:5, :] = 1  # cross
    g[5, 0, :] = g[5, -1, :] = g[5, :, 0] = g[5, :, -1] = 1  # bordure
    for i in range(4):
        g[6, 6 - i, 3 - i] = 1
        g[6, 6 - i, 4 + i] = 1
        g[6, 7 - i, 3 - i] = 1
        g[6, 7 - i, 4 + i] = 1  # chevron (new guild mark)
    return g


TEMPL = sigil_templates()


def impressions(kind, n, rng):
    out = np.empty((n, DIM), dtype=np.float32)
    for j in range(n):
        img = TEMPL[kind].copy()
        if rng.random() < 0.5:
            img = np.roll(img, rng.integers(-1, 2), axis=1)
        img = img * rng.uniform(0.8, 1.0) + rng.normal(0, 0.05, img.shape)
        out[j] = (img * 2 - 1).reshape(-1)
    return out


rng = np.random.default_rng(SEED)
known_x = np.concatenate([impressions(k, 400, rng) for k in range(6)])
known_y = np.repeat(np.arange(6), 400).astype(np.int32)
new_x = impressions(6, 24, rng)
known_x, known_y, new_x = mx.array(known_x), mx.array(known_y), mx.array(new_x)

s = np.arange(T + 1) / T
abar = np.cos((s + 0.008) / 1.008 * math.pi / 2) ** 2
abar = np.clip(abar[1:] / abar[0], 1e-4, 0.9999).astype(np.float32)
ABAR = mx.array(abar)


def time_features(t):
    half = 8
    freqs = mx.exp(-math.log(1000.0) * mx.arange(half) / half)
    ang = t.astype(mx.float32)[:, None] * freqs[None, :]
    return mx.concatenate([mx.sin(ang), mx.cos(ang)], axis=1)


class Denoiser(nn.Module):
    def __init__(self):
        super().__init__()
        self.tokens = nn.Embedding(6, EMB)
        self.l1 = nn.Linear(DIM + 16 + EMB, 96)
        self.l2 = nn.Linear(96, 96)
        self.l3 = nn.Linear(96, DIM)

    def body(self, x, t, e):
        h = mx.concatenate([x, time_features(t), e], axis=1)
        h = nn.silu(self.l1(h))
        h = nn.silu(self.l2(h))
        return self.l3(h)

    def __call__(self, x, t, y):
        return self.body(x, t, self.tokens(y))


def noisy(x0, t, eps):
    a = ABAR[t][:, None]
    return mx.sqrt(a) * x0 + mx.sqrt(1 - a) * eps


model = Denoiser()
mx.eval(model.parameters())


def stage1_loss(m, x0, y, t, eps):
    return mx.mean((m(noisy(x0, t, eps), t, y) - eps) ** 2)


opt1 = optim.AdamW(learning_rate=2e-3, weight_decay=1e-4)
step1 = nn.value_and_grad(model, stage1_loss)

t0 = time.time()
print("stage 1: denoiser on 6 catalogued sigils, 2400 impressions")
N = known_x.shape[0]
run = 0.0
for it in range(1, 901):
    idx = mx.array(np.random.randint(0, N, 64))
    t = mx.random.randint(0, T, (64,))
    eps = mx.random.normal((64, DIM))
    loss, g = step1(model, known_x[idx], known_y[idx], t, eps)
    opt1.update(model, g)
    mx.eval(model.parameters(), opt1.state, loss)
    run = 0.98 * run + 0.02 * loss.item() if it > 1 else loss.item()
    if it % 150 == 0:
        print(f"  step {it:5d}  eps-mse {run:.4f}")

# stage 2 ---------------------------------------------------------------
model.freeze()
frozen_before = {k: np.array(v) for k, v in tree_flatten(model.parameters())}
print(f"trainable after freeze: {sum(v.size for _, v in tree_flatten(model.trainable_parameters()))} values")


class Concept(nn.Module):
    def __init__(self, init):
        super().__init__()
        self.vec = init


start_vec = mx.mean(model.tokens.weight, axis=0)
concept = Concept(start_vec)

# one held evaluation draw so every line is comparable
ev_rng = np.random.default_rng(11)
EV_T = mx.array(ev_rng.integers(5, 60, 24 * 16).astype(np.int32))
EV_X = mx.repeat(new_x, 16, axis=0)
EV_EPS = mx.array(ev_rng.normal(size=(24 * 16, DIM)).astype(np.float32))


def eval_with(vec):
    e = mx.broadcast_to(vec[None, :], (EV_X.shape[0], EMB))
    pred = model.body(noisy(EV_X, EV_T, EV_EPS), EV_T, e)
    return mx.mean((pred - EV_EPS) ** 2).item()


base_old = [eval_with(model.tokens.weight[k]) for k in range(6)]
print("stage 2 baselines on guild-mark letters (eps-mse, held draw):")
print("  " + "  ".join(f"tok{k}={v:.4f}" for k, v in enumerate(base_old)))
print(f"  mean-token start vector = {eval_with(concept.vec):.4f}")


def stage2_loss(c, x0, t, eps):
    e = mx.broadcast_to(c.vec[None, :], (x0.shape[0], EMB))
    return mx.mean((model.body(noisy(x0, t, eps), t, e) - eps) ** 2)


warm = optim.linear_schedule(0.0, 5e-2, 60)
opt2 = optim.Adam(learning_rate=optim.join_schedules([warm, optim.cosine_decay(5e-2, 240, 5e-3)], [60]))
step2 = nn.value_and_grad(concept, stage2_loss)
for it in range(1, 301):
    idx = mx.array(np.random.randint(0, 24, 64))
    t = mx.random.randint(0, T, (64,))
    eps = mx.random.normal((64, DIM))
    loss, g = step2(concept, new_x[idx], t, eps)
    opt2.update(concept, g)
    mx.eval(concept.parameters(), opt2.state, loss)
    if it in (1, 30, 60) or it % 60 == 0:
        print(f"  token step {it:4d}  lr {opt2.learning_rate.item():.4f}  batch {loss.item():.4f}  held-draw {eval_with(concept.vec):.4f}")

drift = max(float(np.max(np.abs(np.array(v) - frozen_before[k]))) for k, v in tree_flatten(model.parameters()))
print(f"frozen denoiser max drift: {drift:.1e}")
print(f"token vector moved: {mx.linalg.norm(concept.vec - start_vec).item():.3f}")


# one-shot reconstruction check at a heavy noise level (t=45): which sigil does
# the predicted clean image look like?
tmpl = mx.array((TEMPL * 2 - 1).reshape(7, DIM))


def closest(xs):
    a = xs - mx.mean(xs, axis=1, keepdims=True)
    b = tmpl - mx.mean(tmpl, axis=1, keepdims=True)
    a = a / (mx.linalg.norm(a, axis=1, keepdims=True) + 1e-6)
    b = b / mx.linalg.norm(b, axis=1, keepdims=True)
    return np.array(mx.argmax(a @ b.T, axis=1))


def recon_hits(vec, kind_x, kind):
    n = kind_x.shape[0]
    tt = mx.full((n,), 45, dtype=mx.int32)
    eps = mx.random.normal(kind_x.shape, key=mx.random.key(5))
    xt = noisy(kind_x, tt, eps)
    e = mx.broadcast_to(vec[None, :], (n, EMB))
    a = ABAR[45]
    x0 = (xt - mx.sqrt(1 - a) * model.body(xt, tt, e)) / mx.sqrt(a)
    return float(np.mean(closest(x0) == kind))


print(f"t=45 reconstructions read as guild mark: learned vector {recon_hits(concept.vec, new_x, 6):.2f}"
      f"  start vector {recon_hits(start_vec, new_x, 6):.2f}  pale token {recon_hits(model.tokens.weight[0], new_x, 6):.2f}")
sal = known_x[1200:1600]  # sigil 3 block
print(f"t=45 reconstructions of saltire letters with token 3: {recon_hits(model.tokens.weight[3], sal, 3):.2f}")
print(f"done in {time.time() - t0:.1f}s")
