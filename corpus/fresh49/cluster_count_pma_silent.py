"""How many blobs? Classify 2-D point clouds by the number of
Gaussian clusters they were drawn from (1..4), 32 points each. Per-point MLP encoder, one
self-attention block, then pooling by multihead attention with a learned seed
query (PMA). SGD with Nesterov momentum and a step-decay schedule.
Silent while training: one summary block at the end."""
import sys
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

PTS, KMAX, DIM = 32, 4, 32
rng = np.random.default_rng(21)


def make_clouds(n):
    X = np.zeros((n, PTS, 2), np.float32)
    y = rng.integers(0, KMAX, size=n)
    for i in range(n):
        k = y[i] + 1
        # well separated centres: rejection-sample until pairwise distance > 2.2
        while True:
            c = rng.uniform(-4, 4, size=(k, 2))
            d = np.linalg.norm(c[:, None] - c[None], axis=-1) + 10 * np.eye(k)
            if d.min() > 2.2:
                break
        lab = rng.integers(0, k, size=PTS)
        lab[:k] = np.arange(k)                  # every cluster non-empty
        X[i] = c[lab] + 0.45 * rng.standard_normal((PTS, 2))
    return mx.array(X), mx.array(y.astype(np.int32))


class SetCounter(nn.Module):
    def __init__(self):
        super().__init__()
        self.enc = nn.Sequential(nn.Linear(2, DIM), nn.ReLU(), nn.Linear(DIM, DIM))
        self.sab = nn.MultiHeadAttention(DIM, 4)
        self.ln1 = nn.LayerNorm(DIM)
        self.seed = mx.random.normal((1, 1, DIM)) * 0.1
        self.pma = nn.MultiHeadAttention(DIM, 4)
        self.ln2 = nn.LayerNorm(DIM)
        self.head = nn.Linear(DIM, KMAX)

    def __call__(self, x):
        h = self.enc(x)
        h = self.ln1(h + self.sab(h, h, h))
        q = mx.broadcast_to(self.seed, (x.shape[0], 1, DIM))
        pooled = self.ln2(q + self.pma(q, h, h))[:, 0]
        return self.head(nn.relu(pooled))


def loss_fn(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")


def confusion(model, X, y):
    pred = np.array(mx.argmax(model(X), axis=1))
    t = np.array(y)
    m = np.zeros((KMAX, KMAX), int)
    for a, b in zip(t, pred):
        m[a, b] += 1
    return m


def main():
    mx.random.seed(2)
    X_tr, y_tr = make_clouds(1600)
    X_va, y_va = make_clouds(400)
    model = SetCounter()
    mx.eval(model.parameters())
    sched = optim.step_decay(0.05, 0.3, 175)       # x0.3 every 175 steps (7 epochs)
    opt = optim.SGD(learning_rate=sched, momentum=0.9, nesterov=True)
    step = nn.value_and_grad(model, loss_fn)

    _, g0 = step(model, X_tr[:64], y_tr[:64])
    leaves = tree_flatten(g0)
    zero_leaves = [k for k, v in leaves if mx.abs(v).max().item() == 0.0]

    first_loss, last_epoch_loss, t0 = None, None, time.time()
    bs, epochs = 64, 18
    for epoch in range(epochs):
        perm = mx.array(rng.permutation(X_tr.shape[0]))
        tot, nb = 0.0, 0
        for s in range(0, X_tr.shape[0] - bs + 1, bs):
            idx = perm[s:s + bs]
            loss, grads = step(model, X_tr[idx], y_tr[idx])
            grads, _ = optim.clip_grad_norm(grads, 5.0)
            opt.update(model, grads)
            mx.eval(loss, model.parameters(), opt.state)
            if first_loss is None:
                first_loss = loss.item()
            tot += loss.item()
            nb += 1
        last_epoch_loss = tot / nb

    m = confusion(model, X_va, y_va)
    acc = np.trace(m) / m.sum()
    out = sys.stdout
    out.write(f"trained {epochs} epochs x {nb} steps in {time.time() - t0:.1f}s\n")
    out.write(f"gradient check at step 0: {len(leaves)} leaves, all-zero: {zero_leaves or 'none'}\n")
    out.write(f"train cross-entropy: first batch {first_loss:.4f} -> last epoch mean {last_epoch_loss:.4f}"
              f" (chance = {np.log(KMAX):.4f})\n")
    out.write(f"validation accuracy: {acc:.3f} (chance 0.25)\n")
    out.write("confusion (rows = true #clusters, cols = predicted):\n")
    out.write("        " + " ".join(f"p{k + 1:>3d}" for k in range(KMAX)) + "  recall\n")
    for k in range(KMAX):
        out.write(f"  k={k + 1}  " + " ".join(f"{v:4d}" for v in m[k]) + f"  {m[k, k] / max(m[k].sum(), 1):.3f}\n")


if __name__ == "__main__":
    main()
