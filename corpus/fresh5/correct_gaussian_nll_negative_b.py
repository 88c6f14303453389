"""Heteroscedastic regression: the network predicts a mean and a log-variance and is trained
with the Gaussian negative log-likelihood. Once the predicted variance gets small the NLL is
negative -- that is expected for a continuous density, lower is still better."""
import math

import numpy as np

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim


class MeanVar(nn.Module):
    def __init__(self, hidden=64):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(1, hidden), nn.Tanh(), nn.Linear(hidden, hidden), nn.Tanh())
        self.mu = nn.Linear(hidden, 1)
        self.logvar = nn.Linear(hidden, 1)

    def __call__(self, x):
        h = self.body(x)
        return self.mu(h).squeeze(-1), self.logvar(h).squeeze(-1)


def gaussian_nll(model, x, y):
    mu, logvar = model(x)
    return (0.5 * (logvar + (y - mu) ** 2 / mx.exp(logvar) + math.log(2 * math.pi))).mean()


def main():
    rng = np.random.default_rng(0)
    mx.random.seed(0)
    n = 2048
    x = rng.uniform(-3, 3, size=(n, 1)).astype(np.float32)
    noise_sd = 0.03 + 0.05 * np.abs(x[:, 0])          # small, input-dependent noise
    y = (np.sin(2 * x[:, 0]) + noise_sd * rng.normal(size=n)).astype(np.float32)
    x, y = mx.array(x), mx.array(y)

    model = MeanVar()
    sched = optim.cosine_decay(3e-3, 1500, end=3e-4)
    opt = optim.AdamW(learning_rate=sched, weight_decay=1e-4)
    vg = nn.value_and_grad(model, gaussian_nll)

    for step in range(1, 1501):
        idx = mx.array(rng.integers(0, n, 128))
        nll, grads = vg(model, x[idx], y[idx])
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, nll)
        if step % 100 == 0 or step in (1, 20, 50):
            mu, logvar = model(x)
            rmse = mx.sqrt(((mu - y) ** 2).mean()).item()
            sd = mx.exp(0.5 * logvar).mean().item()
            print(f"step {step:4d}  nll={nll.item():+.4f}  rmse={rmse:.4f}  mean_pred_sd={sd:.4f}")


if __name__ == "__main__":
    main()
