"""Classify raw detector spectra (ADC counts, stored as float16 to halve RAM).

Each spectrum is RMS-normalised by the first layer so gain differences between
detectors do not matter; the peak *position* decides the class.
"""
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

N_BINS, N_CLASSES = 64, 5


def load_spectra(n, seed=0):
    mx.random.seed(seed)
    labels = mx.random.randint(0, N_CLASSES, (n,))
    bins = mx.arange(N_BINS).astype(mx.float32)[None, :]
    centre = 8.0 + 11.0 * labels.astype(mx.float32)[:, None]
    peak = mx.exp(-((bins - centre) ** 2) / 18.0)
    gain = mx.random.uniform(300.0, 3000.0, (n, 1))        # detector gain
    counts = gain * (0.6 * peak + 0.2) * (1 + 0.15 * mx.random.normal((n, N_BINS)))
    return counts.astype(mx.float16), labels


class InputRMSNorm(nn.Module):
    def __init__(self, dims, eps=1e-5):
        super().__init__()
        self.weight = mx.ones((dims,))
        self.eps = eps

    def __call__(self, x):
        x = x.astype(mx.float32)
        ms = mx.mean(x * x, axis=-1, keepdims=True)
        return self.weight * (x * mx.rsqrt(ms + self.eps))


class SpectrumNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.norm = InputRMSNorm(N_BINS)
        self.mlp = nn.Sequential(nn.Linear(N_BINS, 64), nn.ReLU(), nn.Linear(64, N_CLASSES))

    def __call__(self, counts):
        return self.mlp(self.norm(counts))


def main():
    x, y = load_spectra(1024)
    clf = SpectrumNet()
    opt = optim.Adam(learning_rate=2e-3)

    def xent(params, xb, yb):
        clf.update(params)
        return nn.losses.cross_entropy(clf(xb), yb, reduction="mean")

    vg = mx.value_and_grad(xent)
    t0 = time.time()
    for epoch in range(10):
        perm = mx.random.permutation(x.shape[0])
        for i in range(0, x.shape[0], 64):
            sel = perm[i:i + 64]
            loss, grads = vg(clf.trainable_parameters(), x[sel], y[sel])
            opt.update(clf, grads)
            mx.eval(clf.parameters(), opt.state)
        acc = (mx.argmax(clf(x), -1) == y).mean().item()
        print(f"epoch {epoch} loss {loss.item():.4f} acc {acc:.3f}")
    print(f"{sum(v.size for _, v in tree_flatten(clf.parameters()))} params, {time.time() - t0:.1f}s")


if __name__ == "__main__":
    main()
