"""Bell foundry pattern-book lookup.

A tuner strikes a bell and measures 16 partial readings; the foundry pattern
book stores 20 casting/profile numbers per bell.  We learn two towers that put
a strike recording next to its pattern-book entry, then compress the book
index with a learned product quantiser (4 sub-spaces x 16 codewords, i.e. 4
bytes per bell instead of 128).

Stages
  1  float towers, symmetric InfoNCE
  2  codebooks seeded by k-means, soft codeword assignment with a temperature
     annealed from 1.0 down to 0.02 (loss is expected to climb while the
     assignment hardens)
  3  hard codes with a straight-through path
"""
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

rng = np.random.default_rng(7)
mx.random.seed(7)

LATENT, DQ, DD, EMB = 6, 16, 20, 32
M, K = 4, 16           # sub-spaces, codewords per sub-space
SUB = EMB // M
N_TRAIN, N_TEST = 2400, 400

A = rng.normal(size=(LATENT, DD)) / np.sqrt(LATENT)
B = rng.normal(size=(LATENT, DQ)) * 1.3 / np.sqrt(LATENT)
C = rng.normal(size=(LATENT, DQ)) * 0.7 / np.sqrt(LATENT)


def make_bells(n):
    z = rng.normal(size=(n, LATENT))
    book = np.tanh(z @ A) + 0.05 * rng.normal(size=(n, DD))
    return z, book


def strike(z):
    x = np.sin(z @ B) + 0.5 * np.tanh(z @ C)
    return x + 0.08 * rng.normal(size=x.shape)


z_tr, book_tr = make_bells(N_TRAIN)
z_te, book_te = make_bells(N_TEST)
book_tr_mx = mx.array(book_tr.astype(np.float32))
book_te_mx = mx.array(book_te.astype(np.float32))
strike_te_mx = mx.array(strike(z_te).astype(np.float32))


class Tower(nn.Module):
    def __init__(self, d_in):
        super().__init__()
        self.l1 = nn.Linear(d_in, 128)
        self.l2 = nn.Linear(128, 128)
        self.out = nn.Linear(128, EMB)

    def __call__(self, x):
        h = nn.gelu(self.l1(x))
        h = h + nn.gelu(self.l2(h))
        e = self.out(h)
        return e / mx.sqrt(mx.sum(e * e, axis=-1, keepdims=True) + 1e-8)


class Retriever(nn.Module):
    def __init__(self):
        super().__init__()
        self.strike_tower = Tower(DQ)
        self.book_tower = Tower(DD)
        self.codebooks = mx.zeros((M, K, SUB))
        self.log_inv_tau = mx.array(np.log(10.0), dtype=mx.float32)

    def quantise(self, e, temp, hard):
        sub = e.reshape(e.shape[0], M, 1, SUB)
        d2 = mx.sum((sub - self.codebooks[None]) ** 2, axis=-1)    # (n, M, K)
        soft = mx.softmax(-d2 / temp, axis=-1)
        q_soft = mx.einsum("nmk,mks->nms", soft, self.codebooks)
        if hard:
            idx = mx.argmin(d2, axis=-1)
            onehot = (mx.arange(K)[None, None, :] == idx[..., None]).astype(e.dtype)
            q_hard = mx.einsum("nmk,mks->nms", onehot, self.codebooks)
            q = q_soft + mx.stop_gradient(q_hard - q_soft)
        else:
            q = q_soft
        q = q.reshape(e.shape[0], EMB)
        commit = mx.mean(mx.sum((mx.stop_gradient(e) - q) ** 2, axis=-1))
        pull = mx.mean(mx.sum((e - mx.stop_gradient(q)) ** 2, axis=-1))
        return q, commit, pull


def info_nce(a, b, scale):
    logits = scale * (a @ b.T)
    labels = mx.arange(a.shape[0])
    return 0.5 * (nn.losses.cross_entropy(logits, labels, reduction="mean")
                  + nn.losses.cross_entropy(logits.T, labels, reduction="mean"))


def loss_fn(model, xq, xd, stage, temp):
    eq = model.strike_tower(xq)
    ed = model.book_tower(xd)
    scale = mx.exp(model.log_inv_tau)
    if stage == 1:
        return info_nce(eq, ed, scale), mx.array(0.0)
    qd, commit, pull = model.quantise(ed, temp, hard=(stage == 3))
    return info_nce(eq, qd, scale) + 0.5 * commit + 0.25 * pull, commit


def kmeans(x, k, iters, seed):
    r = np.random.default_rng(seed)
    c = x[r.choice(len(x), k, replace=False)].copy()
    for _ in range(iters):
        a = np.argmin(((x[:, None, :] - c[None]) ** 2).sum(-1), axis=1)
        for j in range(k):
            pts = x[a == j]
            c[j] = pts.mean(0) if len(pts) else x[r.integers(len(x))]
    return c


def encode_codes(model, e):
    sub = e.reshape(e.shape[0], M, 1, SUB)
    d2 = mx.sum((sub - model.codebooks[None]) ** 2, axis=-1)
    return mx.argmin(d2, axis=-1)


def decode_codes(codebooks, codes):
    parts = [codebooks[m][codes[:, m]] for m in range(M)]
    return mx.concatenate(parts, axis=-1)


def recall(q, index, ks=(1, 10)):
    scores = q @ index.T
    order = mx.argsort(-scores, axis=1)
    truth = mx.arange(q.shape[0])[:, None]
    return [mx.mean(mx.any(order[:, :k] == truth, axis=1)).item() for k in ks]


model = Retriever()
mx.eval(model.parameters())

STEPS1, STEPS2, STEPS3 = 400, 500, 200
TOTAL = STEPS1 + STEPS2 + STEPS3
WARM = 40
lr_sched = optim.join_schedules(
    [optim.linear_schedule(0.0, 2e-3, WARM),
     optim.cosine_decay(2e-3, TOTAL - WARM, 1e-4)], [WARM])
opt = optim.Adam(learning_rate=lr_sched)
grad_fn = nn.value_and_grad(model, loss_fn)
BATCH = 128

print(f"bells: train {N_TRAIN}, test index {N_TEST}; chance recall@1 = {1/N_TEST:.4f}, "
      f"recall@10 = {10/N_TEST:.4f}")
print(f"index size: float32 {EMB*4} bytes/bell, PQ {M} codes = {M} bytes/bell")
t0 = time.time()
baseline_codebooks = None
for step in range(1, TOTAL + 1):
    if step <= STEPS1:
        stage, temp = 1, 1.0
    elif step <= STEPS1 + STEPS2:
        stage = 2
        frac = (step - STEPS1 - 1) / (STEPS2 - 1)
        temp = float(1.0 * (0.02 / 1.0) ** frac)
    else:
        stage, temp = 3, 0.02

    if step == STEPS1 + 1:
        ed_all = np.array(model.book_tower(book_tr_mx))
        cb = np.stack([kmeans(ed_all[:, m * SUB:(m + 1) * SUB], K, 25, m)
                       for m in range(M)]).astype(np.float32)
        baseline_codebooks = mx.array(cb)
        model.codebooks = mx.array(cb)
        mx.eval(model.parameters())
        ed_te = model.book_tower(book_te_mx)
        eq_te = model.strike_tower(strike_te_mx)
        codes = encode_codes(model, ed_te)
        r_float = recall(eq_te, ed_te)
        r_post = recall(eq_te, decode_codes(baseline_codebooks, codes))
        print(f"-- end of stage 1: float index r@1 {r_float[0]:.3f} r@10 {r_float[1]:.3f} | "
              f"post-hoc k-means PQ r@1 {r_post[0]:.3f} r@10 {r_post[1]:.3f}")
        print("-- stage 2: soft codeword assignment, temperature 1.0 -> 0.02")
    if step == STEPS1 + STEPS2 + 1:
        print("-- stage 3: hard codes, straight-through")

    idx = rng.choice(N_TRAIN, BATCH, replace=False)
    xq = mx.array(strike(z_tr[idx]).astype(np.float32))
    xd = book_tr_mx[mx.array(idx)]
    (loss, commit), grads = grad_fn(model, xq, xd, stage, temp)
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state, loss, commit)

    if step % 50 == 0 or step == 1:
        lr = float(lr_sched(mx.array(step - 1)))
        print(f"step {step:5d} | stage {stage} | T {temp:6.3f} | lr {lr:.2e} | "
              f"loss {loss.item():.4f} | commit {commit.item():.4f} | "
              f"1/tau {mx.exp(model.log_inv_tau).item():6.2f}")

ed_te = model.book_tower(book_te_mx)
eq_te = model.strike_tower(strike_te_mx)
codes = encode_codes(model, ed_te)
r_float = recall(eq_te, ed_te)
r_pq = recall(eq_te, decode_codes(model.codebooks, codes))
used = [len(np.unique(np.array(codes[:, m]))) for m in range(M)]
print(f"final float index     r@1 {r_float[0]:.3f} r@10 {r_float[1]:.3f}")
print(f"final learned PQ      r@1 {r_pq[0]:.3f} r@10 {r_pq[1]:.3f} ({M} bytes/bell)")
print(f"chance                r@1 {1/N_TEST:.3f} r@10 {10/N_TEST:.3f}")
print(f"codewords in use per sub-space: {used}")
print(f"done in {time.time() - t0:.1f}s")
