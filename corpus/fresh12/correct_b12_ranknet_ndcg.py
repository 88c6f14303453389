# Learning to rank with a pairwise RankNet loss on synthetic queries; reports NDCG@5 on held-out
# queries in key: value blocks every 100 updates. Lion optimiser.
import math
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

mx.random.seed(21)
F, DOCS = 12, 20
w_rel = mx.random.normal((F,))


def make_queries(q):
    x = mx.random.normal((q, DOCS, F))
    score = x @ w_rel + 0.5 * mx.random.normal((q, DOCS))
    # graded relevance 0..3 by within-query quantiles
    ranks = mx.argsort(mx.argsort(score, axis=1), axis=1)
    rel = (ranks * 4 // DOCS).astype(mx.float32)
    return x, rel


Xtr, Rtr = make_queries(400)
Xte, Rte = make_queries(100)
mx.eval(Xtr, Rtr, Xte, Rte)


class Scorer(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(F, 32), nn.GELU(), nn.Linear(32, 1))

    def __call__(self, x):
        return self.net(x).squeeze(-1)


def ranknet_loss(model, x, rel):
    s = model(x)                                   # (Q, DOCS)
    diff = s[:, :, None] - s[:, None, :]           # s_i - s_j
    better = (rel[:, :, None] > rel[:, None, :]).astype(mx.float32)
    pair_loss = mx.logaddexp(0.0, -diff) * better  # log(1 + exp(-(s_i - s_j))) for i > j
    return pair_loss.sum() / better.sum()


def ndcg_at_k(model, x, rel, k=5):
    s = model(x)
    order = mx.argsort(-s, axis=1)[:, :k]
    gains = mx.take_along_axis(rel, order, axis=1)
    disc = 1.0 / mx.log2(mx.arange(2, k + 2).astype(mx.float32))
    dcg = ((2 ** gains - 1) * disc).sum(axis=1)
    ideal = -mx.sort(-rel, axis=1)[:, :k]
    idcg = ((2 ** ideal - 1) * disc).sum(axis=1)
    return mx.mean(dcg / mx.maximum(idcg, 1e-9)).item()


model = Scorer()
mx.eval(model.parameters())
opt = optim.Lion(learning_rate=3e-4, weight_decay=1e-3)
step = nn.value_and_grad(model, ranknet_loss)

for upd in range(0, 801):
    if upd % 100 == 0:
        print(f"--- update {upd}")
        print(f"  ndcg@5:    {ndcg_at_k(model, Xte, Rte):.4f}")
        print(f"  pair_loss: {ranknet_loss(model, Xte, Rte).item():.4f}")
    if upd == 800:
        break
    q = mx.random.randint(0, Xtr.shape[0], (16,))
    loss, grads = step(model, Xtr[q], Rtr[q])
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state)
