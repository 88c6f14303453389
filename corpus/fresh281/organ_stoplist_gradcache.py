"""Pipe-organ stop-list lookup.

An organist describes a registration in their own words (half of the words are
the builder's terms, half are player slang); the model must find the builder's
stop-list entry among 1024 candidates. Bi-encoder, InfoNCE over a large batch
(256) computed with gradient caching: embeddings are first computed without a
graph, the loss gradient w.r.t. the embeddings is taken, then each chunk of 64
is re-encoded and back-propagated with its cached representation gradient.
The learning rate warms up from exactly 0.
"""
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten, tree_map

SEED = 11
N_TERMS = 160          # builder terms 0..159, slang 160..319
VOCAB = 2 * N_TERMS
PAD = VOCAB
MAXLEN = 10
DIM = 48
BIG_BATCH = 256
CHUNK = 64
STEPS = 200
TAU = 0.05


def make_pairs(rng, n):
    docs, queries = [], []
    for _ in range(n):
        k = int(rng.integers(4, 8))
        terms = rng.choice(N_TERMS, size=k, replace=False)
        docs.append(list(terms))
        used = rng.choice(terms, size=int(rng.integers(3, k + 1)), replace=False)
        slang = rng.random(len(used)) < 0.5
        q = [int(t) + N_TERMS if s else int(t) for t, s in zip(used, slang)]
        rng.shuffle(q)
        queries.append(q)
    return queries, docs


def pad(seqs):
    out = np.full((len(seqs), MAXLEN), PAD, dtype=np.int32)
    for i, s in enumerate(seqs):
        out[i, : len(s)] = s[:MAXLEN]
    return out


class Tower(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(VOCAB + 1, DIM)
        self.l1 = nn.Linear(DIM, 2 * DIM)
        self.l2 = nn.Linear(2 * DIM, DIM)

    def __call__(self, ids):
        mask = (ids != PAD).astype(mx.float32)[..., None]
        pooled = (self.embed(ids) * mask).sum(1) / mx.maximum(mask.sum(1), 1.0)
        z = pooled + self.l2(nn.gelu(self.l1(pooled)))
        return z / mx.maximum(mx.linalg.norm(z, axis=-1, keepdims=True), 1e-6)


class BiEncoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.q = Tower()
        self.d = Tower()


def contrastive(qe, de):
    logits = (qe @ de.T) / TAU
    labels = mx.arange(qe.shape[0])
    return 0.5 * (nn.losses.cross_entropy(logits, labels, reduction="mean")
                  + nn.losses.cross_entropy(logits.T, labels, reduction="mean"))


emb_loss_grad = mx.value_and_grad(contrastive, argnums=(0, 1))


def chunk_surrogate(model, q_ids, d_ids, gq, gd):
    # d(sum(e * g))/dtheta equals the chunk's share of dL/dtheta
    return (model.q(q_ids) * gq).sum() + (model.d(d_ids) * gd).sum()


def cached_step(model, q_ids, d_ids):
    n = q_ids.shape[0]
    qe = mx.concatenate([model.q(q_ids[i:i + CHUNK]) for i in range(0, n, CHUNK)])
    de = mx.concatenate([model.d(d_ids[i:i + CHUNK]) for i in range(0, n, CHUNK)])
    qe, de = mx.stop_gradient(qe), mx.stop_gradient(de)
    loss, (gq, gd) = emb_loss_grad(qe, de)
    mx.eval(loss, gq, gd)
    grad_fn = nn.value_and_grad(model, chunk_surrogate)
    total = None
    for i in range(0, n, CHUNK):
        _, g = grad_fn(model, q_ids[i:i + CHUNK], d_ids[i:i + CHUNK],
                       gq[i:i + CHUNK], gd[i:i + CHUNK])
        total = g if total is None else tree_map(mx.add, total, g)
        mx.eval(total)
    return loss, total


def direct_step(model, q_ids, d_ids):
    def full(m):
        return contrastive(m.q(q_ids), m.d(d_ids))
    return nn.value_and_grad(model, full)(model)


def evaluate(model, queries, docs):
    qe = model.q(mx.array(pad(queries)))
    de = model.d(mx.array(pad(docs)))
    ranks = mx.argsort(-(qe @ de.T), axis=1)[:, :5]
    target = mx.arange(len(queries))[:, None]
    r1 = (ranks[:, :1] == target).any(axis=1).astype(mx.float32).mean().item()
    r5 = (ranks == target).any(axis=1).astype(mx.float32).mean().item()
    return r1, r5


def lexical_baseline(queries, docs):
    # exact-term overlap, ties go to the lower index
    hits1 = hits5 = 0
    dsets = [set(d) for d in docs]
    for i, q in enumerate(queries):
        qs = set(q)
        scores = np.array([len(qs & d) for d in dsets], dtype=np.float64)
        order = np.argsort(-scores, kind="stable")
        hits1 += order[0] == i
        hits5 += i in order[:5]
    return hits1 / len(queries), hits5 / len(queries)


def main():
    rng = np.random.default_rng(SEED)
    mx.random.seed(SEED)
    train_q, train_d = make_pairs(rng, 6144)
    test_q, test_d = make_pairs(rng, 1024)
    tq, td = pad(train_q), pad(train_d)

    model = BiEncoder()
    mx.eval(model.parameters())
    warm = 30
    schedule = optim.join_schedules(
        [optim.linear_schedule(0.0, 2e-3, warm), optim.cosine_decay(2e-3, STEPS - warm, 1e-4)],
        [warm])
    opt = optim.AdamW(learning_rate=schedule, weight_decay=0.01)

    b1, b5 = lexical_baseline(test_q, test_d)
    r1, r5 = evaluate(model, test_q, test_d)
    print(f"lexical overlap baseline: R@1 {b1:.3f}  R@5 {b5:.3f}")
    print(f"untrained bi-encoder:     R@1 {r1:.3f}  R@5 {r5:.3f}")

    # one-off check that the cached gradient matches the plain large-batch one
    idx = rng.choice(len(train_q), size=BIG_BATCH, replace=False)
    qb, db = mx.array(tq[idx]), mx.array(td[idx])
    l_c, g_c = cached_step(model, qb, db)
    l_d, g_d = direct_step(model, qb, db)
    diff = max(mx.abs(a - b).max().item()
               for (_, a), (_, b) in zip(tree_flatten(g_c), tree_flatten(g_d)))
    print(f"gradient-cache check: loss {l_c.item():.5f} vs {l_d.item():.5f}, max |dg| {diff:.2e}")

    t0 = time.time()
    order = rng.permutation(len(train_q))
    pos = 0
    for step in range(1, STEPS + 1):
        if pos + BIG_BATCH > len(order):
            order, pos = rng.permutation(len(train_q)), 0
        idx = order[pos:pos + BIG_BATCH]
        pos += BIG_BATCH
        loss, grads = cached_step(model, mx.array(tq[idx]), mx.array(td[idx]))
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state)
        lr = opt.learning_rate.item()  # the rate this update used
        if step in (1, 2, 5) or step % 20 == 0:
            print(f"step {step:3d}  lr {lr:.2e}  loss {loss.item():.4f}")
        if step % 100 == 0:
            r1, r5 = evaluate(model, test_q, test_d)
            print(f"  eval @ {step}: R@1 {r1:.3f}  R@5 {r5:.3f}  (lexical {b1:.3f}/{b5:.3f})")
    print(f"done in {time.time() - t0:.1f}s")


if __name__ == "__main__":
    main()
