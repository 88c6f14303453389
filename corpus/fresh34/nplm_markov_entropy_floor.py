# Bengio-style neural probabilistic LM (concatenated context embeddings -> tanh
# MLP -> softmax) fitted to text sampled from a known order-2 Markov source.
# The analytic entropy rate of the source is the floor for bits/symbol.
import math, time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

rng = np.random.default_rng(7)
mx.random.seed(7)
V, CTX = 12, 2
# sparse-ish random transition tensor P[a, b, :] (Dirichlet with small alpha)
P = rng.dirichlet(np.full(V, 0.25), size=(V, V))


def sample(n):
    s = [int(rng.integers(V)), int(rng.integers(V))]
    for _ in range(n - 2):
        s.append(int(rng.choice(V, p=P[s[-2], s[-1]])))
    return np.array(s, dtype=np.int32)


# stationary distribution over (a, b) pairs -> entropy rate in bits
T = np.zeros((V * V, V * V))
for a in range(V):
    for b in range(V):
        for c in range(V):
            T[a * V + b, b * V + c] = P[a, b, c]
w, vecs = np.linalg.eig(T.T)
pi = np.real(vecs[:, np.argmin(np.abs(w - 1))]); pi = pi / pi.sum()
H = -sum(pi[a * V + b] * (P[a, b] * np.log2(P[a, b] + 1e-300)).sum() for a in range(V) for b in range(V))

train, valid = sample(60000), sample(8000)


def windows(seq):
    X = np.stack([seq[i:len(seq) - CTX + i] for i in range(CTX)], 1)
    return mx.array(X), mx.array(seq[CTX:])


Xtr, Ytr = windows(train)
Xva, Yva = windows(valid)


class NPLM(nn.Module):
    def __init__(self, d=16, h=64):
        super().__init__()
        self.emb = nn.Embedding(V, d)
        self.hid = nn.Linear(CTX * d, h)
        self.out = nn.Linear(h, V)
        self.direct = nn.Linear(CTX * d, V, bias=False)      # Bengio's direct connections

    def __call__(self, x):
        e = self.emb(x).reshape(x.shape[0], -1)
        return self.out(mx.tanh(self.hid(e))) + self.direct(e)


def bits(model, X, Y):
    return nn.losses.cross_entropy(model(X), Y, reduction="mean") / math.log(2)


model = NPLM()
mx.eval(model.parameters())
opt = optim.SGD(learning_rate=0.1, momentum=0.9, nesterov=True)
vg = nn.value_and_grad(model, bits)

_, g0 = vg(model, Xtr[:512], Ytr[:512])
print("grad-check:", ", ".join(f"{k}={mx.abs(v).max().item():.1e}" for k, v in tree_flatten(g0)))
print(f"source entropy rate = {H:.4f} bits/symbol  |  uniform = {math.log2(V):.4f}")


def thermometer(gap, width=30, full=math.log2(V)):
    k = max(0, min(width, int(round(width * gap / full))))
    return "[" + "#" * k + "." * (width - k) + "]"


t0, step, BS = time.time(), 0, 256
for epoch in range(1, 13):
    perm = mx.array(rng.permutation(Xtr.shape[0]))
    for i in range(0, Xtr.shape[0] - BS + 1, BS):
        idx = perm[i:i + BS]
        loss, g = vg(model, Xtr[idx], Ytr[idx])
        opt.update(model, g)
        mx.eval(model.parameters(), opt.state, loss)
        step += 1
    vb = bits(model, Xva, Yva).item()
    gap = vb - H
    print(f"ep{epoch} {thermometer(gap)} val={vb:.4f} b/sym gap_to_floor={gap:+.4f} last_batch={loss.item():.4f} steps={step} {time.time()-t0:.1f}s", flush=True)
