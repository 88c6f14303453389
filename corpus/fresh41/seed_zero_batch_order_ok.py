"""Reproducibility check for a small sequence classifier.

The same config (seed=0) is trained twice in one process; with a fixed seed the
two loss curves should be identical, so the second run is a cheap determinism
check before launching a sweep.  Batching follows the usual length-sorted
scheme: sort examples by length, cut fixed-size batches, shuffle batch order.
"""
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

VOCAB, N_CLS = 40, 3


def make_dataset(n, rng):
    data = []
    for _ in range(n):
        L = int(rng.integers(6, 40))
        y = int(rng.integers(0, N_CLS))
        # class-specific token distribution, mixed with background noise
        hot = rng.integers(y * 10, y * 10 + 10, size=L)
        bg = rng.integers(0, VOCAB, size=L)
        toks = np.where(rng.random(L) < 0.35, hot, bg)
        data.append((toks.astype(np.int32), y))
    return data


def iterate_batches(dataset, batch_size, seed=None, epochs=1):
    idx = sorted(range(len(dataset)), key=lambda i: len(dataset[i][0]))
    batch_idx = [idx[i:i + batch_size] for i in range(0, len(idx) - batch_size + 1, batch_size)]
    if seed is not None:
        np.random.seed(seed)
    for _ in range(epochs):
        for j in np.random.permutation(len(batch_idx)):
            rows = [dataset[k] for k in batch_idx[j]]
            width = max(len(t) for t, _ in rows)
            toks = np.zeros((len(rows), width), dtype=np.int32)
            mask = np.zeros((len(rows), width), dtype=np.float32)
            for r, (t, _) in enumerate(rows):
                toks[r, :len(t)] = t
                mask[r, :len(t)] = 1.0
            yield mx.array(toks), mx.array(mask), mx.array([y for _, y in rows])


class BagClassifier(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(VOCAB, 32)
        self.mlp = nn.Sequential(nn.Linear(32, 64), nn.ReLU(), nn.Linear(64, N_CLS))

    def __call__(self, toks, mask):
        h = (self.emb(toks) * mask[..., None]).sum(1) / mask.sum(1, keepdims=True)
        return self.mlp(h)


def loss_fn(model, toks, mask, y):
    return nn.losses.cross_entropy(model(toks, mask), y, reduction="mean")


def train(dataset, seed, tag):
    mx.random.seed(seed)                       # identical init for the same seed
    model = BagClassifier()
    mx.eval(model.parameters())
    opt = optim.SGD(learning_rate=0.2, momentum=0.9)
    step_fn = nn.value_and_grad(model, loss_fn)
    curve, window = [], []
    for it, (toks, mask, y) in enumerate(iterate_batches(dataset, 16, seed=seed, epochs=8), 1):
        loss, grads = step_fn(model, toks, mask, y)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        window.append(loss.item())
        if it % 150 == 0:
            curve.append(sum(window) / len(window))
            window = []
    print(f"[{tag}] seed={seed} loss/150 steps: " + " ".join(f"{c:.4f}" for c in curve))
    return np.array(curve)


data = make_dataset(4000, np.random.default_rng(2024))
a = train(data, seed=0, tag="run-1")
b = train(data, seed=0, tag="run-2")
print(f"determinism check (same seed): max |loss_1 - loss_2| = {np.abs(a - b).max():.6f}")
