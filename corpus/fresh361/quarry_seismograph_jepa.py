"""Quarry blast seismograph traces: latent-prediction pre-training (I-JEPA style).

A context encoder sees a random subset of the 8 patches of each 64-sample trace;
a small predictor has to produce, at the hidden positions, the embeddings that a
momentum (EMA) copy of the encoder gives for the full trace.  The EMA copy never
gets gradients.  Afterwards a ridge probe on frozen mean-pooled features is
compared with the same probe on a freshly initialised encoder.
"""
import math
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten, tree_map

SEED = 7
N_PATCH, PATCH, DIM = 8, 8, 32
STEPS, BATCH = 400, 32
N_CTX = 4
M_START, M_END = 0.990, 1.0

rng = np.random.default_rng(SEED)
mx.random.seed(SEED)


def make_traces(n):
    """4 source types: delay-fired bench blast, single shot, ripper, truck pass."""
    t = np.linspace(0.0, 1.0, N_PATCH * PATCH, dtype=np.float32)
    y = rng.integers(0, 4, size=n)
    x = np.zeros((n, t.size), dtype=np.float32)
    for i in range(n):
        onset = rng.uniform(0.05, 0.35)
        env = np.where(t > onset, np.exp(-(t - onset) * rng.uniform(3, 6)), 0.0)
        if y[i] == 0:
            sig = sum(np.sin(2 * np.pi * 18 * (t - onset - k * 0.06)) * (t > onset + k * 0.06)
                      for k in range(3))
        elif y[i] == 1:
            sig = np.sin(2 * np.pi * 25 * t)
        elif y[i] == 2:
            sig = np.sign(np.sin(2 * np.pi * 6 * t)) * 0.7
        else:
            env = np.exp(-((t - onset - 0.3) ** 2) / 0.02)
            sig = np.sin(2 * np.pi * 9 * t)
        x[i] = rng.uniform(0.6, 1.4) * env * sig + 0.15 * rng.standard_normal(t.size)
    return x.reshape(n, N_PATCH, PATCH), y


class Encoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = nn.Linear(PATCH, DIM)
        self.pos = mx.random.normal((N_PATCH, DIM)) * 0.02
        self.blocks = nn.TransformerEncoder(1, DIM, 4, mlp_dims=64)

    def __call__(self, patches, idx):
        h = self.embed(patches) + self.pos[idx]
        return self.blocks(h, None)


class Predictor(nn.Module):
    def __init__(self):
        super().__init__()
        self.mask_token = mx.zeros((1, 1, DIM))
        self.pos = mx.random.normal((N_PATCH, DIM)) * 0.02
        self.blocks = nn.TransformerEncoder(1, DIM, 4, mlp_dims=64)
        self.out = nn.Linear(DIM, DIM)

    def __call__(self, ctx_tokens, ctx_idx, tgt_idx):
        b = ctx_tokens.shape[0]
        q = mx.broadcast_to(self.mask_token, (b, tgt_idx.size, DIM)) + self.pos[tgt_idx]
        h = mx.concatenate([ctx_tokens + self.pos[ctx_idx], q], axis=1)
        h = self.blocks(h, None)
        return self.out(h[:, ctx_idx.size:])


class Online(nn.Module):
    def __init__(self):
        super().__init__()
        self.encoder = Encoder()
        self.predictor = Predictor()


def pooled(enc, x):
    return mx.mean(enc(x, mx.arange(N_PATCH)), axis=1)


def ridge_probe(feats_tr, y_tr, feats_te, y_te, lam=1e-2):
    mu, sd = feats_tr.mean(0), feats_tr.std(0) + 1e-6
    a, b = (feats_tr - mu) / sd, (feats_te - mu) / sd
    a = np.hstack([a, np.ones((len(a), 1))])
    b = np.hstack([b, np.ones((len(b), 1))])
    w = np.linalg.solve(a.T @ a + lam * np.eye(a.shape[1]), a.T @ np.eye(4)[y_tr])
    return float(((b @ w).argmax(1) == y_te).mean())


x_tr, y_tr = make_traces(1500)
x_te, y_te = make_traces(500)
X_tr, X_te = mx.array(x_tr), mx.array(x_te)

model = Online()
target = Encoder()
target.update(tree_map(lambda p: p, model.encoder.parameters()))
target.freeze()
fresh = Encoder()  # reference: same architecture, never trained
mx.eval(model.parameters(), target.parameters(), fresh.parameters())

n_params = sum(v.size for _, v in tree_flatten(model.trainable_parameters()))
print(f"traces train={len(x_tr)} test={len(x_te)} patches={N_PATCH}x{PATCH} params={n_params}")

warm = 50
lr_sched = optim.join_schedules(
    [optim.linear_schedule(0.0, 1e-3, warm), optim.cosine_decay(1e-3, STEPS - warm, 1e-5)], [warm])
opt = optim.AdamW(learning_rate=lr_sched, weight_decay=0.04)


def loss_fn(model, xb, ctx_idx, tgt_idx, tgt_emb):
    ctx = model.encoder(xb[:, ctx_idx], ctx_idx)
    pred = model.predictor(ctx, ctx_idx, tgt_idx)
    return nn.losses.smooth_l1_loss(pred, tgt_emb, reduction="mean")


grad_fn = nn.value_and_grad(model, loss_fn)


def momentum(step):
    return M_END - (M_END - M_START) * (math.cos(math.pi * step / STEPS) + 1) / 2


def ema_update(m):
    new = tree_map(lambda t, o: m * t + (1.0 - m) * o,
                   target.parameters(), model.encoder.parameters())
    target.update(new)


t0 = time.time()
run = 0.0
for step in range(STEPS + 1):
    perm = rng.permutation(N_PATCH)
    ctx_idx = mx.array(np.sort(perm[:N_CTX]))
    tgt_idx = mx.array(np.sort(perm[N_CTX:]))
    xb = X_tr[mx.array(rng.integers(0, len(x_tr), BATCH))]
    full = target(xb, mx.arange(N_PATCH))
    tgt_emb = mx.stop_gradient(mx.fast.layer_norm(full[:, tgt_idx], None, None, 1e-6))
    loss, grads = grad_fn(model, xb, ctx_idx, tgt_idx, tgt_emb)
    opt.update(model, grads)
    m = momentum(step)
    ema_update(m)
    mx.eval(model.parameters(), target.parameters(), opt.state, loss)
    run = 0.9 * run + 0.1 * loss.item() if step else loss.item()
    if step % 50 == 0:
        z = pooled(model.encoder, X_te[:128])
        spread = mx.mean(mx.std(z, axis=0)).item()
        print(f"step {step:4d} lr {lr_sched(mx.array(step)).item():.2e} ema_m {m:.4f} "
              f"loss {loss.item():.4f} avg {run:.4f} feat_std {spread:.3f}")

f_tr = np.array(pooled(target, X_tr))
f_te = np.array(pooled(target, X_te))
acc = ridge_probe(f_tr, y_tr, f_te, y_te)
acc0 = ridge_probe(np.array(pooled(fresh, X_tr)), y_tr, np.array(pooled(fresh, X_te)), y_te)
raw = ridge_probe(x_tr.reshape(len(x_tr), -1), y_tr, x_te.reshape(len(x_te), -1), y_te)
print(f"probe acc target-encoder {acc:.3f} | untrained encoder {acc0:.3f} | raw samples {raw:.3f} | chance 0.250")
print(f"done in {time.time() - t0:.1f}s")
