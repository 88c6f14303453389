"""Density of the (F1, F2) vowel space with a small RealNVP flow.

Formants are kept in kHz, so the density is large and the negative
log-likelihood is below zero for a good model.  Two stages: a main stage and
a short low-learning-rate polish with a new optimizer (step counter keeps
running).  A full-covariance Gaussian fitted in closed form is the reference.
"""

import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

VOWELS = {"i": (0.28, 2.25), "e": (0.42, 2.00), "a": (0.76, 1.30), "o": (0.47, 0.86), "u": (0.31, 0.78)}


def make(n, rng):
    names = list(VOWELS)
    v = rng.integers(0, len(names), size=n)
    base = np.array([VOWELS[names[k]] for k in v], dtype=np.float32)
    scale = rng.uniform(0.86, 1.2, size=(n, 1)).astype(np.float32)  # vocal-tract length
    x = base * scale
    x[:, 0] += rng.normal(0, 0.03, n)
    x[:, 1] += rng.normal(0, 0.08, n)
    return x.astype(np.float32)


class Coupling(nn.Module):
    def __init__(self, cond_dim):
        super().__init__()
        self.cond_dim = cond_dim
        self.l1 = nn.Linear(1, 48)
        self.l2 = nn.Linear(48, 48)
        self.l3 = nn.Linear(48, 2)

    def st(self, c):
        h = mx.tanh(self.l2(mx.tanh(self.l1(c))))
        o = self.l3(h)
        return 1.5 * mx.tanh(o[:, :1]), o[:, 1:]

    def forward(self, x):
        c = x[:, self.cond_dim:self.cond_dim + 1]
        m = x[:, 1 - self.cond_dim:2 - self.cond_dim]
        s, t = self.st(c)
        y = m * mx.exp(s) + t
        out = mx.concatenate([c, y], axis=1) if self.cond_dim == 0 else mx.concatenate([y, c], axis=1)
        return out, s[:, 0]

    def inverse(self, y):
        c = y[:, self.cond_dim:self.cond_dim + 1]
        m = y[:, 1 - self.cond_dim:2 - self.cond_dim]
        s, t = self.st(c)
        x = (m - t) * mx.exp(-s)
        return mx.concatenate([c, x], axis=1) if self.cond_dim == 0 else mx.concatenate([x, c], axis=1)


class Flow(nn.Module):
    def __init__(self, mean, std, n_layers=6):
        super().__init__()
        self.layers = [Coupling(k % 2) for k in range(n_layers)]
        self._mean = mx.array(mean)
        self._std = mx.array(std)

    def log_prob(self, x):
        z = (x - self._mean) / self._std
        logdet = -mx.log(self._std).sum() * mx.ones((x.shape[0],))
        for layer in self.layers:
            z, ld = layer.forward(z)
            logdet = logdet + ld
        base = -0.5 * (z * z).sum(axis=1) - math.log(2 * math.pi)
        return base + logdet

    def sample(self, n):
        z = mx.random.normal((n, 2))
        for layer in reversed(self.layers):
            z = layer.inverse(z)
        return z * self._std + self._mean


def nll(model, x):
    return -model.log_prob(x).mean()


def main():
    t0 = time.time()
    rng = np.random.default_rng(2024)
    xtr, xte = make(6000, rng), make(1500, rng)
    Xtr, Xte = mx.array(xtr), mx.array(xte)

    mu = xtr.mean(0)
    cov = np.cov(xtr.T)
    d = xte - mu
    gauss = 0.5 * (np.einsum("ni,ij,nj->n", d, np.linalg.inv(cov), d).mean()
                   + math.log(np.linalg.det(cov)) + 2 * math.log(2 * math.pi))

    mx.random.seed(11)
    model = Flow(mu, xtr.std(0))
    mx.eval(model.parameters())
    n_par = sum(v.size for _, v in tree_flatten(model.trainable_parameters()))
    print(f"formant-flow | data    | 6000 train / 1500 test (F1, F2) pairs in kHz, 5 vowels, 6 coupling layers, {n_par} params")
    print(f"formant-flow | ref     | full-cov gaussian test nll {gauss:+.4f} nats")
    print(f"formant-flow | init    | test nll {nll(model, Xte).item():+.4f} nats")

    lag = nn.value_and_grad(model, nll)
    step = 0
    stages = [("main", optim.Adam(learning_rate=2e-3), 1500, 300), ("polish", optim.Adam(learning_rate=2e-4), 600, 600)]
    for name, opt, n_steps, every in stages:
        run = 0.0
        for k in range(1, n_steps + 1):
            idx = mx.array(rng.integers(0, len(xtr), size=256))
            loss, grads = lag(model, Xtr[idx])
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
            step += 1
            run += loss.item()
            if k % every == 0:
                te = nll(model, Xte).item()
                print(f"formant-flow | {name:<7s} | step {step:04d} | train nll {run / every:+.4f} | "
                      f"test nll {te:+.4f} | {te / 2 / math.log(2):+.3f} bits/dim | {time.time() - t0:4.1f}s")
                run = 0.0

    s = np.array(model.sample(4000))
    print(f"formant-flow | samples | mean F1 {s[:, 0].mean():.3f} (data {xtr[:, 0].mean():.3f}) kHz, "
          f"mean F2 {s[:, 1].mean():.3f} (data {xtr[:, 1].mean():.3f}) kHz")
    for v, (f1, f2) in VOWELS.items():
        near = np.mean((np.abs(s[:, 0] - f1) < 0.06) & (np.abs(s[:, 1] - f2) < 0.15)) * 100
        ref = np.mean((np.abs(xtr[:, 0] - f1) < 0.06) & (np.abs(xtr[:, 1] - f2) < 0.15)) * 100
        print(f"formant-flow | vowel {v} | samples near centre {near:4.1f}%  data {ref:4.1f}%")
    print(f"formant-flow | done    | {time.time() - t0:.1f}s")


if __name__ == "__main__":
    main()
