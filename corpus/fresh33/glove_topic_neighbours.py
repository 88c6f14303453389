# GloVe-style word vectors fitted to a synthetic co-occurrence matrix
# (8 latent topics x 25 words); weighted least squares on log counts, Adagrad.
import time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

rng = np.random.default_rng(5)
K, PER = 8, 25
VOC = K * PER
topic = np.repeat(np.arange(K), PER)
# synthetic corpus: sentences of 12 words drawn mostly from one topic
C = np.zeros((VOC, VOC))
for _ in range(6000):
    t = rng.integers(K)
    words = np.where(rng.random(12) < 0.35, rng.integers(PER, size=12) + t * PER, rng.integers(VOC, size=12))
    for i in range(12):
        for j in range(max(0, i - 3), min(12, i + 4)):
            if i != j:
                C[words[i], words[j]] += 1.0 / abs(i - j)
ii, jj = np.nonzero(C)
xij = C[ii, jj]
print(f"vocab={VOC} nonzero pairs={len(xij)} max count={xij.max():.1f}")
I, J = mx.array(ii.astype(np.int32)), mx.array(jj.astype(np.int32))
LOGX = mx.array(np.log(xij).astype(np.float32))
FX = mx.array(np.minimum((xij / 50.0) ** 0.75, 1.0).astype(np.float32))


class Glove(nn.Module):
    def __init__(self, dim=16):
        super().__init__()
        self.w = nn.Embedding(VOC, dim)
        self.c = nn.Embedding(VOC, dim)
        self.bw = mx.zeros((VOC,))
        self.bc = mx.zeros((VOC,))
        self.w.weight = self.w.weight * 0.1
        self.c.weight = self.c.weight * 0.1

    def __call__(self, i, j):
        return mx.sum(self.w(i) * self.c(j), axis=-1) + self.bw[i] + self.bc[j]


def loss_fn(m, i, j, logx, fx):
    d = m(i, j) - logx
    return mx.sum(fx * d * d) / i.shape[0]


def topic_precision(m, k=5):
    E = np.array(m.w.weight + m.c.weight)
    E /= np.linalg.norm(E, axis=1, keepdims=True) + 1e-9
    S = E @ E.T
    np.fill_diagonal(S, -np.inf)
    nn_idx = np.argsort(-S, axis=1)[:, :k]
    return float(np.mean(topic[nn_idx] == topic[:, None])), nn_idx


mx.random.seed(0)
model = Glove()
mx.eval(model.parameters())
opt = optim.Adagrad(learning_rate=0.05)
vg = nn.value_and_grad(model, loss_fn)
_, g = vg(model, I[:512], J[:512], LOGX[:512], FX[:512])
nz = {k: float(mx.abs(v).sum()) > 0 for k, v in tree_flatten(g)}
print("gradient reaches:", ", ".join(f"{k}:{'yes' if v else 'NO'}" for k, v in nz.items()))
p0, _ = topic_precision(model)
print(f"chance same-topic P@5 = {1/K:.3f}; at init = {p0:.3f}")

n = len(xij)
order_rng = np.random.default_rng(1)
t0 = time.time()
for epoch in range(1, 41):
    perm = mx.array(order_rng.permutation(n).astype(np.int32))
    acc = 0.0; nb = 0
    for b in range(0, n, 1024):
        idx = perm[b:b + 1024]
        loss, g = vg(model, I[idx], J[idx], LOGX[idx], FX[idx])
        opt.update(model, g)
        mx.eval(model.parameters(), opt.state, loss)
        acc += loss.item(); nb += 1
    if epoch % 5 == 0 or epoch == 1:
        p, nn_idx = topic_precision(model)
        w = 3 * PER + 7
        print(f"epoch {epoch:2d}  J={acc/nb:.4f}  same-topic P@5={p:.3f}  "
              f"nearest(w{w}, topic {topic[w]}): " + " ".join(f"w{q}(t{topic[q]})" for q in nn_idx[w])
              + f"  [{time.time()-t0:.1f}s]")
