"""Tiny speech-tokenizer style experiment: an EMA (k-means) vector quantizer
feeding a small regression head.  The codebook follows the moshi/SoundStream
layout: `embedding_sum` and `cluster_usage` are stored, the normalised
codebook is cached and recomputed whenever the module is updated."""
import time
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

rng = np.random.default_rng(3)
DIM, K, N_BLOBS = 8, 32, 16
centres = rng.normal(0, 3.0, size=(N_BLOBS, DIM)).astype(np.float32)
blob_y = rng.normal(0, 2.0, size=(N_BLOBS,)).astype(np.float32)


def batch(n=256):
    b = rng.integers(0, N_BLOBS, size=n)
    x = centres[b] + 0.3 * rng.normal(size=(n, DIM)).astype(np.float32)
    return mx.array(x), mx.array(blob_y[b][:, None])


class EuclideanCodebook(nn.Module):
    def __init__(self, dim, codebook_size, decay=0.9, eps=1e-5):
        super().__init__()
        self.decay = decay
        self.eps = eps
        self.embedding_sum = mx.random.normal((codebook_size, dim)) * 0.5
        self.cluster_usage = mx.ones((codebook_size,))
        self.freeze()  # updated by EMA, not by the optimizer
        self._embedding = self._compute_embedding()

    def _compute_embedding(self):
        usage = mx.maximum(self.cluster_usage, self.eps)[:, None]
        return self.embedding_sum / usage

    def update(self, parameters, strict=True):
        # keep the cached codebook in sync with the EMA statistics
        super().update(parameters, strict=strict)
        self._embedding = self._compute_embedding()
        return self

    def __call__(self, x):
        e = self._embedding
        d = (x * x).sum(-1, keepdims=True) - 2 * x @ e.T + (e * e).sum(-1)
        codes = mx.argmin(d, axis=-1)
        return codes, e[codes]


class Tokenizer(nn.Module):
    def __init__(self):
        super().__init__()
        self.vq = EuclideanCodebook(DIM, K)
        self.head = nn.Sequential(nn.Linear(DIM, 64), nn.ReLU(), nn.Linear(64, 1))

    def __call__(self, x):
        codes, q = self.vq(x)
        return codes, q, self.head(q)


mx.random.seed(0)
model = Tokenizer()
opt = optim.Adam(learning_rate=3e-3)


def head_loss(m, q, y):
    return nn.losses.mse_loss(m.head(q), y)


loss_and_grad = nn.value_and_grad(model, head_loss)

t0 = time.time()
for it in range(1, 601):
    x, y = batch()
    codes, q, _ = model(x)
    q = mx.stop_gradient(q)
    mse, grads = loss_and_grad(model, q, y)
    opt.update(model, grads)

    # EMA k-means step for the codebook
    vq = model.vq
    onehot = (codes[:, None] == mx.arange(K)[None, :]).astype(mx.float32)
    new_usage = vq.decay * vq.cluster_usage + (1 - vq.decay) * onehot.sum(0)
    new_sum = vq.decay * vq.embedding_sum + (1 - vq.decay) * (onehot.T @ x)
    model.vq.update({"cluster_usage": new_usage, "embedding_sum": new_sum})

    distortion = ((x - q) ** 2).sum(-1).mean()
    mx.eval(model.parameters(), opt.state, mse, distortion)
    if it == 1 or it % 50 == 0:
        used = len(np.unique(np.array(codes)))
        print(f"it {it:4d} | distortion {distortion.item():8.4f} | head_mse {mse.item():.4f} | codes_used {used:2d}/{K}")

print(f"done in {time.time() - t0:.1f}s")
