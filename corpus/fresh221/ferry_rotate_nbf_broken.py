# Island ferry network: predict multi-leg "connection" links with a small
# NBFNet-style relational GNN (RotatE messages, sum aggregation).
import math
import random
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

random.seed(5)
mx.random.seed(5)

N_ISLANDS = 36
# relation 0: morning ferry i -> i+1, relation 1: express i -> i+3,
# relation 2: "connection" = morning then express (i -> i+4)
SHIFTS = {0: 1, 1: 3, 2: 4}
N_REL = 3

triples = [(i, r, (i + s) % N_ISLANDS) for r, s in SHIFTS.items() for i in range(N_ISLANDS)]
conn = [t for t in triples if t[1] == 2]
random.shuffle(conn)
test_conn = conn[:9]
train_triples = [t for t in triples if t not in test_conn]

# message graph: training triples plus inverse relations (r + N_REL)
src = [h for h, r, t in train_triples] + [t for h, r, t in train_triples]
dst = [t for h, r, t in train_triples] + [h for h, r, t in train_triples]
etype = [r for h, r, t in train_triples] + [r + N_REL for h, r, t in train_triples]
SRC, DST, ETYPE = mx.array(src), mx.array(dst), mx.array(etype)


class RelConv(nn.Module):
    def __init__(self, dim, num_rel):
        super().__init__()
        self.rel = nn.Embedding(2 * num_rel, dim)
        self.lin = nn.Linear(2 * dim, dim)
        self.norm = nn.LayerNorm(dim)

    def message(self, src_features, relation_j):
        # RotatE: treat halves of the features as real / imaginary parts
        x_j_re, x_j_im = src_features.chunk(2, dim=-1)
        r_j_re, r_j_im = relation_j.chunk(2, dim=-1)
        message_re = x_j_re * r_j_re - x_j_im * r_j_im
        message_im = x_j_re * r_j_im + x_j_im * r_j_re
        return mx.concatenate([message_re, message_im], axis=-1)

    def __call__(self, h, boundary):
        # h: (N, B, d)
        rel = self.rel(ETYPE)[:, None, :]
        msg = self.message(h[SRC], rel)
        agg = mx.zeros_like(h).at[DST].add(msg) + boundary
        out = nn.relu(self.norm(self.lin(mx.concatenate([agg, h], axis=-1))))
        return out + h


class NBF(nn.Module):
    def __init__(self, dim=32, layers=3):
        super().__init__()
        self.query = nn.Embedding(N_REL, dim)
        self.convs = [RelConv(dim, N_REL) for _ in range(layers)]
        self.head = nn.Sequential(nn.Linear(2 * dim, dim), nn.ReLU(), nn.Linear(dim, 1))

    def __call__(self, heads, rels):
        B = heads.shape[0]
        q = self.query(rels)  # (B, d)
        onehot = (mx.arange(N_ISLANDS)[:, None] == heads[None, :]).astype(mx.float32)
        boundary = onehot[..., None] * q[None]  # (N, B, d)
        h = boundary
        for conv in self.convs:
            h = conv(h, boundary)
        feat = mx.concatenate([h, mx.broadcast_to(q[None], h.shape)], axis=-1)
        return self.head(feat).squeeze(-1).T  # (B, N) tail logits


# queries (head, rel) -> multi-hot targets
known = {}
for h, r, t in train_triples:
    known.setdefault((h, r), set()).add(t)
queries = sorted(known)


def targets_for(qs):
    y = [[1.0 if n in known[q] else 0.0 for n in range(N_ISLANDS)] for q in qs]
    return mx.array(y)


model = NBF()
opt = optim.Adam(learning_rate=3e-3)


def loss_fn(m, heads, rels, y):
    logits = m(heads, rels)
    return nn.losses.binary_cross_entropy(logits, y, reduction="mean")


step = nn.value_and_grad(model, loss_fn)


def evaluate():
    heads = mx.array([h for h, r, t in test_conn])
    rels = mx.array([r for h, r, t in test_conn])
    scores = model(heads, rels)
    ranks = []
    for i, (h, r, t) in enumerate(test_conn):
        s = scores[i]
        # filtered ranking: ignore other known tails of this query
        mask = mx.array([1.0 if n in known.get((h, r), set()) and n != t else 0.0 for n in range(N_ISLANDS)])
        s = mx.where(mask > 0, -1e9, s)
        ranks.append(int((s > s[t]).sum().item()) + 1)
    mrr = sum(1.0 / k for k in ranks) / len(ranks)
    hits3 = sum(k <= 3 for k in ranks) / len(ranks)
    return mrr, hits3


t0 = time.time()
BATCH = 24
for epoch in range(1, 13):
    random.shuffle(queries)
    tot, nb = 0.0, 0
    for b in range(0, len(queries), BATCH):
        qs = queries[b:b + BATCH]
        heads = mx.array([q[0] for q in qs])
        rels = mx.array([q[1] for q in qs])
        loss, grads = step(model, heads, rels, targets_for(qs))
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        tot += loss.item()
        nb += 1
    mrr, hits3 = evaluate()
    print(f"ep {epoch:02d} | bce {tot / nb:.4f} | held-out connection mrr {mrr:.3f} | hits@3 {100 * hits3:5.1f}%")
print(f"done in {time.time() - t0:.1f}s")
