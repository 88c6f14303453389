"""TransE knowledge-graph embeddings on a synthetic graph.

Margin ranking loss with one corrupted triple per positive (head or tail
swapped at random), entity vectors renormalised to unit length after every
update (as in the TransE paper), plain SGD.  Every 10 epochs a filtered
link-prediction evaluation on held-out triples prints a small box table:
mean rank (lower is better), MRR and Hits@10 (higher is better).
"""
import sys
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

N_ENT, N_REL, DIM = 300, 6, 24


def build_graph(rng):
    # latent "true" embeddings generate a consistent graph: t = argmin |h + r - e|
    ent = rng.normal(size=(N_ENT, 8))
    rel = rng.normal(size=(N_REL, 8)) * 0.8
    triples = set()
    for h in range(N_ENT):
        for r in rng.choice(N_REL, size=3, replace=False):
            d = np.linalg.norm(ent[h] + rel[r] - ent, axis=1)
            d[h] = np.inf
            t = int(np.argmin(d))
            triples.add((h, int(r), t))
    triples = np.array(sorted(triples), dtype=np.int32)
    rng.shuffle(triples)
    n_test = 200
    return triples[n_test:], triples[:n_test], {tuple(t) for t in triples.tolist()}


class TransE(nn.Module):
    def __init__(self):
        super().__init__()
        self.ent = nn.Embedding(N_ENT, DIM)
        self.rel = nn.Embedding(N_REL, DIM)
        self.ent.weight = self.ent.weight / mx.linalg.norm(self.ent.weight, axis=1, keepdims=True)

    def dist(self, h, r, t):
        return mx.sum(mx.abs(self.ent(h) + self.rel(r) - self.ent(t)), axis=-1)  # L1


def loss_fn(model, pos, neg, margin=1.0):
    dp = model.dist(pos[:, 0], pos[:, 1], pos[:, 2])
    dn = model.dist(neg[:, 0], neg[:, 1], neg[:, 2])
    return mx.mean(mx.maximum(0.0, margin + dp - dn))


def corrupt(batch, rng):
    neg = batch.copy()
    flip = rng.random(len(batch)) < 0.5
    rand = rng.integers(0, N_ENT, size=len(batch))
    neg[flip, 0] = rand[flip]
    neg[~flip, 2] = rand[~flip]
    return neg


def filtered_ranks(model, test, known):
    E = model.ent.weight
    ranks = []
    for h, r, t in test.tolist():
        scores = mx.sum(mx.abs(E[h] + model.rel.weight[r] - E), axis=-1)
        s = np.array(scores)
        mask = np.array([(h, r, e) in known and e != t for e in range(N_ENT)])
        s[mask] = np.inf
        ranks.append(1 + int(np.sum(s < s[t])))
    ranks = np.array(ranks)
    return ranks.mean(), np.mean(1.0 / ranks), np.mean(ranks <= 10)


def main():
    rng = np.random.default_rng(3)
    mx.random.seed(3)
    train, test, known = build_graph(rng)
    model = TransE()
    mx.eval(model.parameters())
    opt = optim.SGD(learning_rate=0.1)
    vg = nn.value_and_grad(model, loss_fn)
    bs = 64
    t0 = time.time()
    w = sys.stdout.write
    w("+-------+-----------+---------+--------+---------+--------+\n")
    w("| epoch | hinge     |   MR    |  MRR   | Hits@10 |  sec   |\n")
    w("+-------+-----------+---------+--------+---------+--------+\n")
    for epoch in range(1, 161):
        perm = rng.permutation(len(train))
        tot, nb = 0.0, 0
        for s in range(0, len(train), bs):
            b = train[perm[s : s + bs]]
            loss, grads = vg(model, mx.array(b), mx.array(corrupt(b, rng)))
            opt.update(model, grads)
            # TransE constraint: entity vectors stay on the unit sphere
            model.ent.weight = model.ent.weight / mx.linalg.norm(model.ent.weight, axis=1, keepdims=True)
            mx.eval(model.parameters(), opt.state)
            tot += loss.item()
            nb += 1
        if epoch % 10 == 0 or epoch == 1:
            mr, mrr, h10 = filtered_ranks(model, test, known)
            w(f"| {epoch:5d} | {tot / nb:9.4f} | {mr:7.1f} | {mrr:6.3f} | {h10:7.3f} | {time.time() - t0:6.1f} |\n")
            sys.stdout.flush()
    w("+-------+-----------+---------+--------+---------+--------+\n")


if __name__ == "__main__":
    main()
