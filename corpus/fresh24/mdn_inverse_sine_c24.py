"""Mixture density network for a multi-valued inverse problem.

Forward map: x = y + 0.3*sin(2*pi*y) + noise.  We learn p(y | x), which has up
to three branches for some x, so a plain MSE regressor would average them.
The MDN predicts a 5-component Gaussian mixture; the loss is the negative
log-likelihood in nats (it goes below zero once the mixture is sharp).
"""
import math
import sys
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

K = 5
mx.random.seed(3)


def sample(n):
    y = mx.random.uniform(0.0, 1.0, (n, 1))
    x = y + 0.3 * mx.sin(2 * math.pi * y) + 0.05 * mx.random.normal((n, 1))
    return x, y


class MDN(nn.Module):
    def __init__(self, hidden=64):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(1, hidden), nn.Tanh(), nn.Linear(hidden, hidden), nn.Tanh())
        self.logit_pi = nn.Linear(hidden, K)
        self.mu = nn.Linear(hidden, K)
        self.log_sigma = nn.Linear(hidden, K)

    def __call__(self, x):
        h = self.body(x)
        return self.logit_pi(h), self.mu(h), mx.clip(self.log_sigma(h), -7.0, 3.0)


def nll(model, x, y):
    logit_pi, mu, log_sigma = model(x)
    log_pi = logit_pi - mx.logsumexp(logit_pi, axis=-1, keepdims=True)
    z = (y - mu) / mx.exp(log_sigma)
    log_comp = -0.5 * z * z - log_sigma - 0.5 * math.log(2 * math.pi)
    return -mx.logsumexp(log_pi + log_comp, axis=-1).mean()


def bar(i, n, width=24):
    k = int(width * i / n)
    return "[" + "#" * k + "." * (width - k) + "]"


def main():
    xtr, ytr = sample(4000)
    xva, yva = sample(1000)
    model = MDN()
    lr = optim.exponential_decay(5e-3, 0.9995)
    opt = optim.Adam(learning_rate=lr)
    vg = nn.value_and_grad(model, nll)
    sd = mx.std(ytr).item()
    base = 0.5 * math.log(2 * math.pi * math.e * sd * sd)
    print(f"reference: unconditional Gaussian fit to y has nll {base:+.3f} nats")
    bs, epochs = 100, 120
    nb = xtr.shape[0] // bs
    t0 = time.time()
    for ep in range(1, epochs + 1):
        perm = mx.random.permutation(xtr.shape[0])
        run = 0.0
        for b in range(nb):
            idx = perm[b * bs:(b + 1) * bs]
            loss, g = vg(model, xtr[idx], ytr[idx])
            opt.update(model, g)
            mx.eval(model.parameters(), opt.state, loss)
            run += loss.item()
            if b % 5 == 4 or b == nb - 1:
                sys.stdout.write(f"\repoch {ep:2d}/{epochs} {bar(b + 1, nb)} {b + 1:3d}/{nb} nll={run / (b + 1):+.3f}")
                sys.stdout.flush()
        val = nll(model, xva, yva).item()
        if ep % 10 == 0 or ep <= 3:
            sys.stdout.write(f"  | val nll {val:+.3f} nats | lr {opt.learning_rate.item():.2e} | {time.time() - t0:4.1f}s\n")
        else:
            sys.stdout.write("\n")
        sys.stdout.flush()
    print(f"done: val nll {val:+.3f} nats (marginal-Gaussian baseline {base:+.3f}), {time.time() - t0:.1f}s")

if __name__ == "__main__":
    main()
