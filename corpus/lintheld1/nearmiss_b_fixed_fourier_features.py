"""Fit a 1-D signal with random Fourier features (Rahimi & Recht / Tancik et
al.): the frequency matrix is sampled once and deliberately kept fixed; only
the linear read-out is trained."""
import math
import time

import mlx.core as mx
import mlx.nn as nn
from mlx.optimizers import Adam
from mlx.utils import tree_flatten


class FourierFeatureNet(nn.Module):
    def __init__(self, in_dim=1, n_freq=64, sigma=6.0):
        super().__init__()
        # fixed random projection: underscore keeps it out of parameters() on purpose
        self._freqs = mx.random.normal((in_dim, n_freq)) * sigma
        self.readout = nn.Linear(2 * n_freq, 1)

    def features(self, x):
        z = 2 * math.pi * (x @ self._freqs)
        return mx.concatenate([mx.sin(z), mx.cos(z)], axis=-1)

    def __call__(self, x):
        return self.readout(self.features(x)).squeeze(-1)


def main():
    mx.random.seed(3)
    x = mx.linspace(0, 1, 256)[:, None]
    y = mx.sin(12 * x[:, 0]) + 0.5 * mx.sign(mx.sin(5 * x[:, 0]))
    net = FourierFeatureNet()
    names = [k for k, _ in tree_flatten(net.trainable_parameters())]
    freqs0 = mx.array(net._freqs)
    opt = Adam(learning_rate=1e-2)
    fit = nn.value_and_grad(net, lambda m: nn.losses.mse_loss(m(x), y))
    t0 = time.time()
    for it in range(400):
        loss, g = fit(net)
        opt.update(net, g)
        mx.eval(net.parameters(), opt.state)
        if it % 100 == 0 or it == 399:
            print(f"iter {it} mse {loss.item():.4f}")
    same = mx.array_equal(freqs0, net._freqs).item()
    print(f"trainable: {names}; frequencies unchanged: {same}; {time.time() - t0:.1f}s")


if __name__ == "__main__":
    main()
