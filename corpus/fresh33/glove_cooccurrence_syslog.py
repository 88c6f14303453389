"""GloVe word vectors from a synthetic topic corpus, logged as RFC3164-style syslog lines.

Corpus: 60 'words' in 6 topics. Each sentence picks a topic and draws most
words from it (plus shared function words). Co-occurrence counts use a
symmetric window with 1/distance weighting, as in the GloVe paper. The model
is the GloVe weighted least-squares objective with separate word/context
vectors and biases, trained full-batch with Adagrad (lr 0.05, like the paper).
The cost never reaches zero (counts are noisy); quality = how often a word's
5 nearest neighbours (cosine on w + c) share its topic.
"""
import os
import socket
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

rng = np.random.default_rng(5)
mx.random.seed(5)

V, TOPICS, DIM = 60, 6, 16
FUNC = list(range(54, 60))  # 6 shared "function words"
topic_of = np.array([w // 9 for w in range(54)] + [-1] * 6)


def sentence():
    t = rng.integers(TOPICS)
    words = []
    for _ in range(rng.integers(6, 14)):
        r = rng.random()
        if r < 0.35:
            words.append(t * 9 + rng.integers(9))
        elif r < 0.65:
            words.append(rng.choice(FUNC))
        else:
            words.append(rng.integers(54))
    return words


X = np.zeros((V, V), dtype=np.float64)
for _ in range(1200):
    s = sentence()
    for i, a in enumerate(s):
        for d in range(1, 4):
            if i + d < len(s):
                X[a, s[i + d]] += 1.0 / d
                X[s[i + d], a] += 1.0 / d
ii, jj = np.nonzero(X)
logx = mx.array(np.log(X[ii, jj]).astype(np.float32))
fx = mx.array(np.minimum(1.0, (X[ii, jj] / 100.0) ** 0.75).astype(np.float32))
ii, jj = mx.array(ii), mx.array(jj)


class Glove(nn.Module):
    def __init__(self):
        super().__init__()
        self.W = mx.random.uniform(-0.5, 0.5, (V, DIM)) / DIM
        self.C = mx.random.uniform(-0.5, 0.5, (V, DIM)) / DIM
        self.bw = mx.zeros((V,))
        self.bc = mx.zeros((V,))


def cost(m):
    pred = (m.W[ii] * m.C[jj]).sum(-1) + m.bw[ii] + m.bc[jj]
    return 0.5 * (fx * (pred - logx) ** 2).sum() / fx.sum()


def nn_purity(m, k=5):
    E = np.array(m.W + m.C)[:54]
    E = E / np.linalg.norm(E, axis=1, keepdims=True)
    S = E @ E.T
    np.fill_diagonal(S, -np.inf)
    nbrs = np.argsort(-S, axis=1)[:, :k]
    return float(np.mean(topic_of[nbrs] == topic_of[:54, None]))


def syslog(msg, pri=14):
    stamp = time.strftime("%b %d %H:%M:%S")
    print(f"<{pri}>{stamp} {socket.gethostname()} glove[{os.getpid()}]: {msg}", flush=True)


model = Glove()
mx.eval(model.parameters())
opt = optim.Adagrad(learning_rate=0.05)
vg = nn.value_and_grad(model, cost)
syslog(f"corpus ready: nnz={len(logx)} of {V * V} cells, dim={DIM}, chance purity={8 / 53:.3f}")
syslog(f"iter=000 cost={cost(model).item():.5f} nn_purity={nn_purity(model):.3f}")
for it in range(1, 1501):
    loss, g = vg(model)
    opt.update(model, g)
    mx.eval(model.parameters(), opt.state, loss)
    if it in (10, 50) or it % 250 == 0:
        wn = float(mx.sqrt((model.W ** 2).sum(-1)).mean())
        syslog(f"iter={it:03d} cost={loss.item():.5f} nn_purity={nn_purity(model):.3f} mean|w|={wn:.3f}")
syslog("training finished", pri=13)
