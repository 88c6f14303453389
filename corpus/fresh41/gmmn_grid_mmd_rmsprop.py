"""Generative moment-matching network: an MLP generator pushed toward a 3x3 grid
of Gaussians purely by a multi-bandwidth RBF MMD^2 between generated and real
minibatches (unbiased estimator, so it can dip slightly below zero)."""
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

CENTERS = mx.array([[x, y] for x in (-2.0, 0.0, 2.0) for y in (-2.0, 0.0, 2.0)])
STD = 0.15
BANDWIDTHS = (0.05, 0.2, 0.8, 3.2)


def sample_real(n):
    k = mx.random.randint(0, CENTERS.shape[0], (n,))
    return CENTERS[k] + STD * mx.random.normal((n, 2))


class Generator(nn.Module):
    def __init__(self, zdim=6, hidden=64):
        super().__init__()
        self.zdim = zdim
        self.l1 = nn.Linear(zdim, hidden)
        self.l2 = nn.Linear(hidden, hidden)
        self.l3 = nn.Linear(hidden, 2)

    def __call__(self, z):
        h = nn.relu(self.l1(z))
        h = nn.relu(self.l2(h))
        return self.l3(h)


def sqdist(a, b):
    return (a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2.0 * a @ b.T


def mmd2_unbiased(x, y):
    n, m = x.shape[0], y.shape[0]
    dxx, dyy, dxy = sqdist(x, x), sqdist(y, y), sqdist(x, y)
    kxx = sum(mx.exp(-dxx / (2 * s)) for s in BANDWIDTHS)
    kyy = sum(mx.exp(-dyy / (2 * s)) for s in BANDWIDTHS)
    kxy = sum(mx.exp(-dxy / (2 * s)) for s in BANDWIDTHS)
    nb = len(BANDWIDTHS)
    txx = (kxx.sum() - nb * n) / (n * (n - 1))
    tyy = (kyy.sum() - nb * m) / (m * (m - 1))
    return txx + tyy - 2.0 * kxy.mean()


def grid_quality(gen, n=3000):
    x = gen(mx.random.normal((n, gen.zdim)))
    d = mx.sqrt(mx.maximum(sqdist(x, CENTERS), 0.0))
    nearest = mx.argmin(d, axis=1)
    close = mx.min(d, axis=1) < 3 * STD
    counts = [int(((nearest == k) & close).sum().item()) for k in range(CENTERS.shape[0])]
    covered = sum(c >= 0.02 * n for c in counts)
    return covered, float(close.mean().item())


def main():
    mx.random.seed(11)
    gen = Generator()
    opt = optim.RMSprop(learning_rate=1e-3, alpha=0.95)

    def loss_fn(g, z, real):
        return mmd2_unbiased(g(z), real)

    vg = nn.value_and_grad(gen, loss_fn)
    batch, steps = 256, 1500
    running = None
    for step in range(1, steps + 1):
        z = mx.random.normal((batch, gen.zdim))
        loss, grads = vg(gen, z, sample_real(batch))
        opt.update(gen, grads)
        mx.eval(gen.parameters(), opt.state, loss)
        lv = loss.item()
        running = lv if running is None else 0.95 * running + 0.05 * lv
        if step % 150 == 0 or step == 1:
            cov, frac = grid_quality(gen)
            print(f"step={step};mmd2={lv:+.5f};mmd2_ema={running:+.5f};modes={cov}/9;on_mode={frac:.3f}")
    cov, frac = grid_quality(gen, n=6000)
    print(f"final;modes={cov}/9;on_mode={frac:.3f}")


if __name__ == "__main__":
    main()
