"""Random-features classifier: a wide random projection (frozen on purpose, it is the
feature map) followed by a trainable linear read-out. Only ~0.3% of the parameters train."""
import logging
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
log = logging.getLogger("rf")
mx.random.seed(5)
N, D, F = 3000, 8, 512
X = mx.random.normal((N, D))
y = ((mx.sum(X[:, :3] ** 2, axis=1) > 3.0)).astype(mx.int32)


class RandomFeatures(nn.Module):
    def __init__(self):
        super().__init__()
        self.proj = nn.Linear(D, F)
        self.proj2 = nn.Linear(F, F // 8)
        self.readout = nn.Linear(F // 8, 2)

    def __call__(self, x):
        return self.readout(mx.cos(self.proj2(mx.cos(self.proj(x)))))


model = RandomFeatures()
model.proj.freeze()
model.proj2.freeze()
mx.eval(model.parameters())
n_all = sum(v.size for _, v in tree_flatten(model.parameters()))
n_tr = sum(v.size for _, v in tree_flatten(model.trainable_parameters()))
log.info("params total=%d trainable=%d (%.1f%%)", n_all, n_tr, 100 * n_tr / n_all)

opt = optim.Adam(learning_rate=5e-3)
loss_and_grad = nn.value_and_grad(model, lambda m, a, b: nn.losses.cross_entropy(m(a), b, reduction="mean"))
for epoch in range(1, 16):
    perm = mx.random.permutation(N)
    s = 0.0
    for i in range(0, N, 100):
        idx = perm[i:i + 100]
        l, g = loss_and_grad(model, X[idx], y[idx])
        opt.update(model, g)
        mx.eval(model.parameters(), opt.state, l)
        s += l.item()
    acc = mx.mean(mx.argmax(model(X), axis=1) == y).item()
    log.info("epoch %d xent=%.4f acc=%.3f", epoch, s / (N // 100), acc)
