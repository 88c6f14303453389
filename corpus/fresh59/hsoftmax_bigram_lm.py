"""Bigram language model with a hierarchical (binary-tree) softmax.

16-token vocabulary, a complete binary tree of depth 4 (15 internal nodes).
p(w | prev) = prod over the path of sigmoid(+/- <node_vec, h(prev)>).
Data: samples from a random sparse bigram Markov chain; we compare the model
perplexity with the chain's true conditional perplexity (the floor).
"""
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

V, DEPTH, D = 16, 4, 24
rng = np.random.default_rng(7)

# sparse bigram chain: each token has 3 likely successors
P = np.full((V, V), 0.02)
for a in range(V):
    P[a, rng.choice(V, 3, replace=False)] += rng.uniform(1.0, 3.0, 3)
P /= P.sum(1, keepdims=True)
stat = np.ones(V) / V
for _ in range(200):
    stat = stat @ P
true_ppl = math.exp(-(stat[:, None] * P * np.log(P)).sum())


def sample_chain(n):
    seq = np.empty(n, dtype=np.int64)
    seq[0] = rng.integers(V)
    cum = P.cumsum(1)
    u = rng.random(n)
    for t in range(1, n):
        seq[t] = min(np.searchsorted(cum[seq[t - 1]], u[t]), V - 1)
    return seq


train = sample_chain(60000)
valid = sample_chain(8000)

# tree paths: node index (heap order, root=0) and branch sign for each leaf
nodes = np.zeros((V, DEPTH), dtype=np.int32)
signs = np.zeros((V, DEPTH), dtype=np.float32)
for w in range(V):
    idx = 0
    for d in range(DEPTH):
        bit = (w >> (DEPTH - 1 - d)) & 1
        nodes[w, d] = idx
        signs[w, d] = 1.0 if bit == 0 else -1.0
        idx = 2 * idx + 1 + bit
PATH_NODES, PATH_SIGNS = mx.array(nodes), mx.array(signs)


class HSoftmaxLM(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(V, D)
        self.proj = nn.Linear(D, D)
        self.node_vecs = mx.random.normal((V - 1, D)) * 0.05
        self.node_bias = mx.zeros((V - 1,))

    def log_prob(self, prev, nxt):
        h = mx.tanh(self.proj(self.embed(prev)))              # (B, D)
        pn, ps = PATH_NODES[nxt], PATH_SIGNS[nxt]              # (B, DEPTH)
        scores = (self.node_vecs[pn] * h[:, None, :]).sum(-1) + self.node_bias[pn]
        return nn.log_sigmoid(ps * scores).sum(-1)             # (B,)


mx.random.seed(3)
model = HSoftmaxLM()
opt = optim.Adagrad(learning_rate=0.02)


def loss_fn(m, prev, nxt):
    return -m.log_prob(prev, nxt).mean()


step_fn = nn.value_and_grad(model, loss_fn)
vprev, vnext = mx.array(valid[:-1]), mx.array(valid[1:])

print(f"hierarchical-softmax bigram LM | V={V} depth={DEPTH} | true-chain ppl floor {true_ppl:.3f}")
print(f"{'iter':>5} {'train_nll':>10} {'valid_ppl':>10} {'gap_to_floor':>13}")
B, t0, run = 256, time.time(), []
print(f"{0:>5} {'-':>10} {math.exp(loss_fn(model, vprev, vnext).item()):>10.3f} {'-':>13}")
for it in range(1, 4001):
    pos = rng.integers(0, len(train) - 1, B)
    prev, nxt = mx.array(train[pos]), mx.array(train[pos + 1])
    loss, grads = step_fn(model, prev, nxt)
    if it == 1:
        zero = [k for k, g in tree_flatten(grads) if float(mx.abs(g).max()) == 0.0]
        print(f"  first-step zero-grad leaves: {zero if zero else 'none'}")
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state, loss)
    run.append(loss.item())
    if it % 400 == 0:
        vppl = math.exp(loss_fn(model, vprev, vnext).item())
        print(f"{it:>5} {np.mean(run):>10.4f} {vppl:>10.3f} {vppl - true_ppl:>13.3f}")
        run = []

# sanity: the tree distribution sums to one for every context
allw = mx.arange(V)
tot = mx.stack([mx.exp(model.log_prob(mx.full((V,), a), allw)).sum() for a in range(V)])
print(f"sum_w p(w|prev) in [{tot.min().item():.5f}, {tot.max().item():.5f}] | {time.time() - t0:.1f}s")
