"""Haberdashery loyalty cards: which sewing pattern will a customer buy next?

LightGCN (parameter-free neighbourhood propagation over the customer/pattern
purchase graph, layer-mean readout) trained with BPR on sampled unbought
patterns. Two propagation depths are tried in turn; each run builds a fresh
model and optimizer and its step counter starts again at 1.
Output is tab-separated rows with a header.
"""
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

rng = np.random.default_rng(11)

N_CUST, N_PAT, D_TRUE = 400, 200, 4

# ---------------------------------------------------------------- data
cu = rng.normal(size=(N_CUST, D_TRUE))
pa = rng.normal(size=(N_PAT, D_TRUE))
fame = rng.normal(scale=0.8, size=N_PAT)
util = 2.0 * cu @ pa.T / np.sqrt(D_TRUE) + 0.5 * fame + 0.5 * rng.gumbel(size=(N_CUST, N_PAT))
bought = np.zeros((N_CUST, N_PAT), dtype=bool)
for u in range(N_CUST):
    k = int(rng.integers(8, 20))
    bought[u, np.argsort(-util[u])[:k]] = True

# leave one purchase out per customer for testing
test_item = np.zeros(N_CUST, dtype=np.int64)
train_mat = bought.copy()
for u in range(N_CUST):
    items = np.flatnonzero(bought[u])
    test_item[u] = rng.choice(items)
    train_mat[u, test_item[u]] = False

# symmetric-normalised bipartite adjacency D^-1/2 A D^-1/2 (dense; graph is small)
n_nodes = N_CUST + N_PAT
A = np.zeros((n_nodes, n_nodes), dtype=np.float32)
A[:N_CUST, N_CUST:] = train_mat
A[N_CUST:, :N_CUST] = train_mat.T
deg = A.sum(1)
dinv = np.where(deg > 0, deg ** -0.5, 0.0).astype(np.float32)
A_hat = mx.array(dinv[:, None] * A * dinv[None, :])

cu_items = [np.flatnonzero(train_mat[u]) for u in range(N_CUST)]
pairs = np.array([(u, i) for u in range(N_CUST) for i in cu_items[u]])


def sample_negatives(users):
    neg = rng.integers(0, N_PAT, len(users))
    bad = train_mat[users, neg]
    while bad.any():
        neg[bad] = rng.integers(0, N_PAT, int(bad.sum()))
        bad = train_mat[users, neg]
    return neg


# ---------------------------------------------------------------- model
class LightGCN(nn.Module):
    def __init__(self, n_nodes, dim, layers):
        super().__init__()
        self.emb = nn.Embedding(n_nodes, dim)
        self.emb.weight = mx.random.normal((n_nodes, dim)) * 0.1
        self.layers = layers

    def propagate(self):
        e = self.emb.weight
        acc = e
        for _ in range(self.layers):
            e = A_hat @ e
            acc = acc + e
        return acc / (self.layers + 1)


def bpr_loss(model, u, p, n, reg):
    final = model.propagate()
    eu, ep, en = final[u], final[N_CUST + p], final[N_CUST + n]
    x = (eu * ep).sum(-1) - (eu * en).sum(-1)
    ego = model.emb.weight
    l2 = (ego[u] ** 2).sum() + (ego[N_CUST + p] ** 2).sum() + (ego[N_CUST + n] ** 2).sum()
    return -nn.log_sigmoid(x).mean() + reg * l2 / len(u)


def evaluate(model, k=10):
    final = np.array(model.propagate())
    scores = final[:N_CUST] @ final[N_CUST:].T
    scores[train_mat] = -np.inf
    target = scores[np.arange(N_CUST), test_item][:, None]
    rank = (scores > target).sum(1)
    hr = float(np.mean(rank < k))
    ndcg = float(np.mean(np.where(rank < k, 1.0 / np.log2(rank + 2), 0.0)))
    return hr, ndcg


pop = train_mat.sum(0).astype(np.float64)
pop_scores = np.tile(pop, (N_CUST, 1))
pop_scores[train_mat] = -np.inf
pop_rank = (pop_scores > pop_scores[np.arange(N_CUST), test_item][:, None]).sum(1)
POP_HR = float(np.mean(pop_rank < 10))

cols = ["run", "layers", "step", "epoch", "bpr", "lr", "hr10", "ndcg10", "pop_hr10", "sec"]
print("\t".join(cols))

EPOCHS, BATCH, REG = 20, 512, 1e-3
summary = []
for run, layers in enumerate((1, 2), start=1):
    mx.random.seed(100 + run)
    model = LightGCN(n_nodes, 32, layers)
    mx.eval(model.parameters())
    steps_per_epoch = int(np.ceil(len(pairs) / BATCH))
    sched = optim.cosine_decay(5e-3, EPOCHS * steps_per_epoch, 1e-5)
    opt = optim.Adam(learning_rate=sched)
    vg = nn.value_and_grad(model, bpr_loss)
    hr, nd = evaluate(model)
    print("\t".join(map(str, [run, layers, 0, 0, "nan", f"{5e-3:.2e}", f"{hr:.3f}", f"{nd:.3f}", f"{POP_HR:.3f}", "0.0"])))
    step, t0 = 0, time.time()
    for epoch in range(1, EPOCHS + 1):
        order = rng.permutation(len(pairs))
        run_loss = 0.0
        for b in range(steps_per_epoch):
            sel = pairs[order[b * BATCH:(b + 1) * BATCH]]
            u, p = sel[:, 0], sel[:, 1]
            n = sample_negatives(u)
            loss, grads = vg(model, mx.array(u), mx.array(p), mx.array(n), REG)
            if step == 0:
                gmax = float(mx.abs(tree_flatten(grads)[0][1]).max())
                print(f"# run {run}: first-step grad |max| on the embedding table = {gmax:.2e}")
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
            run_loss += loss.item()
            step += 1
        if epoch % 5 == 0 or epoch == 1:
            hr, nd = evaluate(model)
            row = [run, layers, step, epoch, f"{run_loss / steps_per_epoch:.4f}",
                   f"{float(opt.learning_rate):.2e}", f"{hr:.3f}", f"{nd:.3f}", f"{POP_HR:.3f}",
                   f"{time.time() - t0:.1f}"]
            print("\t".join(map(str, row)))
    summary.append((layers, hr, nd))

print("# summary\tlayers\thr10\tndcg10\tpop_hr10")
for layers, hr, nd in summary:
    print(f"# summary\t{layers}\t{hr:.3f}\t{nd:.3f}\t{POP_HR:.3f}")
