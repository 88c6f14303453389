"""Metric learning for sensor fingerprints: embed 16-D readings so that readings
from the same device sit close together under the L1 (Manhattan) distance.

Triplet loss written after mlx.nn.losses.triplet_loss (copied into the project so
the margin / eps conventions stay fixed across MLX upgrades).
"""
import time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

rng = np.random.default_rng(7)
N_DEV, PER_DEV, DIM = 12, 60, 16
centres = rng.normal(0, 1.0, (N_DEV, DIM))
X = np.concatenate([c + rng.normal(0, 1.4, (PER_DEV, DIM)) for c in centres]).astype(np.float32)
Y = np.repeat(np.arange(N_DEV), PER_DEV)
perm = rng.permutation(len(X))
X, Y = X[perm], Y[perm]
n_tr = int(0.8 * len(X))
Xtr, Ytr, Xva, Yva = X[:n_tr], Y[:n_tr], X[n_tr:], Y[n_tr:]
by_dev = {d: np.where(Ytr == d)[0] for d in range(N_DEV)}


def triplet_loss(anchors, positives, negatives, axis=-1, p=2, margin=1.0, eps=1e-6):
    loss = mx.maximum(
        mx.sqrt(mx.power(anchors - positives, p).sum(axis) + eps)
        - mx.sqrt(mx.power(anchors - negatives, p).sum(axis) + eps)
        + margin,
        0,
    )
    return loss.mean()


class Embedder(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(DIM, 64)
        self.fc2 = nn.Linear(64, 64)
        self.out = nn.Linear(64, 8)

    def __call__(self, x):
        x = nn.gelu(self.fc1(x))
        x = nn.gelu(self.fc2(x))
        return self.out(x)


def sample_triplets(n):
    a_dev = rng.integers(0, N_DEV, n)
    n_dev = (a_dev + rng.integers(1, N_DEV, n)) % N_DEV
    a = np.array([rng.choice(by_dev[d]) for d in a_dev])
    p = np.array([rng.choice(by_dev[d]) for d in a_dev])
    ng = np.array([rng.choice(by_dev[d]) for d in n_dev])
    return mx.array(Xtr[a]), mx.array(Xtr[p]), mx.array(Xtr[ng])


def knn1_acc(model):
    etr = np.array(model(mx.array(Xtr)))
    eva = np.array(model(mx.array(Xva)))
    d = np.abs(eva[:, None, :] - etr[None, :, :]).sum(-1)
    return float((Ytr[d.argmin(1)] == Yva).mean())


mx.random.seed(3)
model = Embedder()
opt = optim.AdamW(learning_rate=2e-3, weight_decay=1e-4)


def loss_fn(model, a, p, n):
    return triplet_loss(model(a), model(p), model(n), p=1, margin=1.0)


step_fn = nn.value_and_grad(model, loss_fn)
print(f"devices={N_DEV} train={len(Xtr)} val={len(Xva)}  raw-input 1-NN acc "
      f"{float((Ytr[np.abs(Xva[:, None] - Xtr[None]).sum(-1).argmin(1)] == Yva).mean()):.3f}")
t0 = time.time()
for ep in range(1, 26):
    losses = []
    for it in range(40):
        a, p, n = sample_triplets(64)
        loss, g = step_fn(model, a, p, n)
        opt.update(model, g)
        mx.eval(model.parameters(), opt.state, loss)
        losses.append(loss.item())
    print(f"ep {ep:02d}/25  triplet(L1) {np.mean(losses):.4f}  val 1-NN acc {knn1_acc(model):.3f}"
          f"  [{time.time() - t0:5.1f}s]")
