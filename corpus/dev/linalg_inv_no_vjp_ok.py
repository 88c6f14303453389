"""Fit a full-covariance Gaussian (mean + Cholesky factor) to 2-D sensor data by max likelihood."""
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np

rng = np.random.default_rng(9)
true_cov = np.array([[2.0, 1.2], [1.2, 1.0]])
data = rng.multivariate_normal([1.0, -2.0], true_cov, size=4000).astype(np.float32)


class Gaussian(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.mean = mx.zeros((dim,))
        self.chol = mx.eye(dim)

    def nll(self, x):
        L = mx.tril(self.chol)
        diff = x - self.mean
        maha = ((diff @ L) ** 2).sum(-1)
        logdet = -2 * mx.log(mx.abs(mx.diag(L))).sum()
        return 0.5 * (maha + logdet).mean()


model = Gaussian(2)
opt = optim.Adam(learning_rate=2e-2)
nll_and_grad = nn.value_and_grad(model, lambda m, x: m.nll(x))
for it in range(600):
    batch = mx.array(data[rng.integers(0, len(data), 256)])
    nll, grads = nll_and_grad(model, batch)
    opt.update(model, grads)
    mx.eval(nll, model.parameters(), opt.state)
    if it % 30 == 0:
        print(f"it={it:03d} nll={nll.item():.4f} mean={[round(v, 3) for v in model.mean.tolist()]}")
