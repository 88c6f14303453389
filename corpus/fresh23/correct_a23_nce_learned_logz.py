"""Noise-contrastive estimation of an unnormalised 2-D density.

The model is an energy MLP E(x) plus a *learned* log-normaliser c, so
log p(x) = -E(x) - c.  NCE trains it as a logistic classifier between data
points and nu=4 samples per data point from a broad Gaussian noise q.
The NCE objective has a high floor (data and noise overlap), so it only
moves a little; what matters is the printed held-out NLL, computed with the
*grid-integrated* normaliser, and how close the learned c gets to the true
log-partition of the energy (|c - logZ_grid|).
"""
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

NU = 4
NOISE_STD = 2.5


def sample_data(n, rng):
    # three-blob mixture on a ring
    k = rng.integers(0, 3, size=n)
    ang = 2 * np.pi * k / 3
    centres = np.stack([2.0 * np.cos(ang), 2.0 * np.sin(ang)], axis=1)
    return (centres + 0.45 * rng.normal(size=(n, 2))).astype(np.float32)


def log_q(x):
    return -mx.sum(x * x, axis=-1) / (2 * NOISE_STD**2) - math.log(2 * math.pi * NOISE_STD**2)


class EnergyModel(nn.Module):
    def __init__(self, hidden=64):
        super().__init__()
        self.l1 = nn.Linear(2, hidden)
        self.l2 = nn.Linear(hidden, hidden)
        self.l3 = nn.Linear(hidden, 1, bias=False)  # the constant lives in log_z only
        self.log_z = mx.array([0.0])  # learned normaliser c

    def energy(self, x):
        h = nn.silu(self.l1(x))
        h = nn.silu(self.l2(h))
        return self.l3(h)[..., 0]

    def log_p(self, x):
        return -self.energy(x) - self.log_z[0]


def nce_loss(model, x_data, x_noise):
    g_data = model.log_p(x_data) - (math.log(NU) + log_q(x_data))
    g_noise = model.log_p(x_noise) - (math.log(NU) + log_q(x_noise))
    return -(mx.mean(nn.log_sigmoid(g_data)) + NU * mx.mean(nn.log_sigmoid(-g_noise)))


def grid_log_z(model, lim=6.0, n=161):
    xs = np.linspace(-lim, lim, n, dtype=np.float32)
    gx, gy = np.meshgrid(xs, xs)
    pts = mx.array(np.stack([gx.ravel(), gy.ravel()], axis=1))
    e = -model.energy(pts)
    cell = (xs[1] - xs[0]) ** 2
    return (mx.logsumexp(e) + math.log(cell)).item()


def main():
    rng = np.random.default_rng(11)
    mx.random.seed(11)
    train = sample_data(20000, rng)
    held = mx.array(sample_data(4000, rng))

    model = EnergyModel()
    mx.eval(model.parameters())
    sched = optim.exponential_decay(3e-3, 0.9995)
    opt = optim.Adam(learning_rate=sched)
    vg = nn.value_and_grad(model, nce_loss)

    bs = 128
    t0 = time.time()
    for step in range(1, 2401):
        idx = rng.integers(0, len(train), size=bs)
        xd = mx.array(train[idx])
        xn = mx.random.normal((bs * NU, 2)) * NOISE_STD
        loss, grads = vg(model, xd, xn)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        if step % 150 == 0 or step == 1:
            lz = grid_log_z(model)
            nll = (mx.mean(model.energy(held)).item() + lz)
            el = time.time() - t0
            print(
                f"[{int(el // 60):02d}:{el % 60:04.1f}] step {step:>4} "
                f"nce={loss.item():.4f}  heldout_nll={nll:.3f} nats  "
                f"c={model.log_z.item():+.3f}  |c-logZ|={abs(model.log_z.item() - lz):.3f}",
                flush=True,
            )


if __name__ == "__main__":
    main()
