# Sawmill kerf loss: predict board thickness deviation (mm) from blade/feed features
# with a heteroscedastic Gaussian head trained by negative log-likelihood.
# Uses a small hand-rolled Normal distribution class (mlx-distributions style).
import time
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim


class Normal:
    f"""
    Normal (or Gaussian) distribution parameterized by ``loc`` and ``scale``.
    """

    def __init__(self, loc, scale):
        self.loc = loc
        self.scale = scale

    def sample(self, sample_shape):
        return mx.random.normal(shape=sample_shape, dtype=self.mean.dtype, loc=self.loc, scale=self.scale)

    def log_prob(self, value: mx.array) -> mx.array:
        variance = self.scale ** 2
        return -0.5 * (mx.log(2 * mx.pi * variance) + ((value - self.mean) ** 2) / variance)

    def entropy(self):
        return 0.5 * (1 + mx.log(2 * mx.pi * self.scale ** 2))


def make_data(n, key):
    k1, k2 = mx.random.split(key)
    x = mx.random.uniform(-1, 1, (n, 4), key=k1)   # blade tension, feed speed, tooth wear, moisture
    mu = 0.8 * x[:, 0] - 0.5 * x[:, 1] ** 2 + 0.6 * x[:, 2] * x[:, 3]
    sd = 0.05 + 0.25 * (x[:, 2] + 1) / 2            # worn teeth -> noisier cut
    y = mu + sd * mx.random.normal((n,), key=k2)
    return x, y[:, None]


class KerfNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(4, 32), nn.Tanh(), nn.Linear(32, 32), nn.Tanh())
        self.mu = nn.Linear(32, 1)
        self.log_sd = nn.Linear(32, 1)

    def __call__(self, x):
        h = self.body(x)
        return self.mu(h), mx.exp(self.log_sd(h))


def nll(model, x, y):
    loc, scale = model(x)
    return -Normal(loc, scale).log_prob(y).mean()


mx.random.seed(3)
xtr, ytr = make_data(1024, mx.random.key(1))
xva, yva = make_data(256, mx.random.key(2))
model = KerfNet()
opt = optim.Adam(learning_rate=1e-3)
step_fn = nn.value_and_grad(model, nll)

t0 = time.time()
for step in range(2000):
    idx = mx.random.randint(0, 1024, (128,))
    loss, grads = step_fn(model, xtr[idx], ytr[idx])
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state, loss)
    if step % 200 == 0 or step == 1999:
        va = nll(model, xva, yva)
        loc, scale = model(xva)
        draws = Normal(loc, scale).sample((256, 1))
        cover = mx.mean((mx.abs(yva - loc) < 1.96 * scale).astype(mx.float32)) * 100
        print(f"step {step:4d} | train nll {loss.item():+.4f} | val nll {va.item():+.4f} "
              f"| 95% cover {cover.item():5.1f}% | draw sd {mx.std(draws).item():.3f}")
print(f"done in {time.time() - t0:.1f}s")
