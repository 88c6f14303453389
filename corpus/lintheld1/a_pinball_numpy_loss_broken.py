"""Predict the 90th percentile of next-step demand from lag features (quantile regression)."""
import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

QUANTILE = 0.9
LAGS = 8


def make_series(n=3000, seed=0):
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    base = 10 + 3 * np.sin(2 * np.pi * t / 24) + 1.5 * np.sin(2 * np.pi * t / 168)
    noise = rng.gamma(2.0, 0.8, size=n)
    return (base + noise).astype(np.float32)


def windows(series, lags):
    X = np.stack([series[i:len(series) - lags + i] for i in range(lags)], axis=1)
    y = series[lags:]
    mu, sd = X.mean(), X.std()
    return (X - mu) / sd, (y - mu) / sd


class QuantileMLP(nn.Module):
    def __init__(self, d_in, hidden=32):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(d_in, hidden), nn.SiLU(), nn.Linear(hidden, 1))

    def __call__(self, x):
        return self.net(x)[:, 0]


def pinball(pred, target, q=QUANTILE):
    # numpy is handy for the asymmetric loss
    err = np.array(target) - np.array(pred)
    return mx.array(np.mean(np.maximum(q * err, (q - 1) * err)))


def objective(model, xb, yb):
    return pinball(model(xb), yb)


def coverage(model, X, y):
    return float(mx.mean(y <= model(X)).item())


def main():
    mx.random.seed(0)
    Xn, yn = windows(make_series(), LAGS)
    X, y = mx.array(Xn), mx.array(yn)
    model = QuantileMLP(LAGS)
    mx.eval(model.parameters())
    opt = optim.Adam(learning_rate=1e-2)
    step_fn = nn.value_and_grad(model, objective)

    rng = np.random.default_rng(1)
    for epoch in range(8):
        order = rng.permutation(X.shape[0])
        losses = []
        for i in range(0, len(order), 128):
            idx = mx.array(order[i:i + 128])
            loss, grads = step_fn(model, X[idx], y[idx])
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state)
            losses.append(loss.item())
        print(f"epoch {epoch}  pinball {np.mean(losses):.4f}  coverage {coverage(model, X, y):.3f} (target {QUANTILE})")


if __name__ == "__main__":
    main()
