"""Autoregressive 2-D density of waggle-dance landing spots (made-up data).

p(x, y) = p(x) * p(y | x): the marginal p(x) is a free 6-component Gaussian
mixture (raw parameter arrays), p(y | x) is a 6-component mixture whose
weights / means / scales come from a small MLP of x.
Phase 1 fits the marginal only (the conditional net is frozen on purpose);
phase 2 unfreezes it and trains both. The spots sit on a thin crescent in a
small box, so the NLL goes below zero as the model fits.
"""
import logging
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s waggle: %(message)s",
                    datefmt="%H:%M:%S")
log = logging.getLogger("waggle")
LOG2PI = math.log(2 * math.pi)


def make_spots(n, rng):
    theta = rng.uniform(0.15 * math.pi, 0.95 * math.pi, size=n)
    r = 1.0 + 0.04 * rng.standard_normal(n)
    xy = np.stack([r * np.cos(theta), r * np.sin(theta) - 0.5], axis=1)
    return (0.35 * xy).astype(np.float32)


def mixture_logpdf(v, logits, mu, log_sigma):
    # v: (B,), logits/mu/log_sigma: (B, K) or (K,)
    z = (v[:, None] - mu) * mx.exp(-log_sigma)
    comp = -0.5 * z * z - log_sigma - 0.5 * LOG2PI
    return mx.logsumexp(comp + logits - mx.logsumexp(logits, axis=-1, keepdims=True), axis=1)


class Marginal(nn.Module):
    def __init__(self, k=6):
        super().__init__()
        self.logits = mx.zeros((k,))
        self.mu = mx.linspace(-0.4, 0.4, k)
        self.log_sigma = mx.full((k,), math.log(0.2))

    def __call__(self, x):
        return mixture_logpdf(x, self.logits, self.mu, mx.clip(self.log_sigma, -7.0, 2.0))


class Conditional(nn.Module):
    def __init__(self, k=6, hidden=48):
        super().__init__()
        self.k = k
        self.net = nn.Sequential(nn.Linear(1, hidden), nn.Tanh(), nn.Linear(hidden, hidden), nn.Tanh(),
                                 nn.Linear(hidden, 3 * k))

    def __call__(self, x, y):
        h = self.net(x[:, None])
        logits, mu, log_sigma = h[:, :self.k], h[:, self.k:2 * self.k], h[:, 2 * self.k:]
        return mixture_logpdf(y, logits, mu, mx.clip(log_sigma - 1.5, -7.0, 2.0))


class SpotDensity(nn.Module):
    def __init__(self):
        super().__init__()
        self.px = Marginal()
        self.py_x = Conditional()

    def log_prob(self, xy):
        return self.px(xy[:, 0]) + self.py_x(xy[:, 0], xy[:, 1])


def nll(model, xy):
    return -mx.mean(model.log_prob(xy))


def run_phase(name, model, opt, train, val, rng, steps, every, t0):
    step_fn = nn.value_and_grad(model, nll)
    window = []
    for step in range(1, steps + 1):
        idx = rng.integers(0, len(train), size=256)
        loss, grads = step_fn(model, mx.array(train[idx]))
        if step == 1:
            flat = tree_flatten(grads)
            zero = [k for k, g in flat if mx.all(g == 0).item()]
            log.info("[%s] step 1 grad check: %d trainable leaves, zero-gradient leaves: %s",
                     name, len(flat), zero or "none")
        grads, gnorm = optim.clip_grad_norm(grads, max_norm=10.0)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        window.append(loss.item())
        if step % every == 0:
            v = nll(model, val).item()
            vx = -mx.mean(model.px(val[:, 0])).item()
            log.info("[%s] step %4d  train_nll %+.4f  val_nll %+.4f nats (marginal part %+.4f)  "
                     "val_bits_per_dim %+.4f  %.1fs", name, step, float(np.mean(window)), v, vx,
                     v / (2 * math.log(2)), time.time() - t0)
            window = []


def main():
    rng = np.random.default_rng(11)
    mx.random.seed(11)
    train = make_spots(20000, rng)
    val = mx.array(make_spots(4000, rng))
    model = SpotDensity()
    mx.eval(model.parameters())
    log.info("data: %d train / %d val spots, %d parameter leaves", len(train), val.shape[0],
             len(tree_flatten(model.parameters())))
    log.info("untrained val nll %+.4f nats", nll(model, val).item())
    t0 = time.time()

    # phase 1: the marginal alone, conditional frozen on purpose
    model.py_x.freeze()
    before = [np.array(a) for _, a in tree_flatten(model.py_x.parameters())]
    run_phase("marginal", model, optim.Adam(learning_rate=1e-2), train, val, rng, 300, 100, t0)
    still = all(np.array_equal(b, np.array(a)) for b, (_, a) in zip(before, tree_flatten(model.py_x.parameters())))
    log.info("conditional net unchanged during phase 1: %s", still)

    # phase 2: everything
    model.py_x.unfreeze()
    run_phase("joint", model, optim.Adam(learning_rate=2e-3), train, val, rng, 1500, 250, t0)
    log.info("done: final val nll %+.4f nats (negative = density above 1 on this small box)",
             nll(model, val).item())


if __name__ == "__main__":
    main()
