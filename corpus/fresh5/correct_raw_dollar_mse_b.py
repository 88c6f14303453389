"""House-price regression reported in raw dollars. Features are standardised, the target is
not: the network predicts in units of $100k and the loss is the MSE in dollars^2, so the
numbers are in the 1e9-1e11 range the whole time. They are finite and falling."""
import numpy as np

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim

SCALE = 100_000.0


def make_data(n, rng):
    sqft = rng.uniform(500, 4000, n)
    rooms = rng.integers(1, 7, n)
    age = rng.uniform(0, 80, n)
    dist = rng.uniform(1, 40, n)
    price = (120 * sqft + 15_000 * rooms - 1_500 * age - 4_000 * dist + 60_000
             + 0.004 * (sqft - 2000) ** 2 + rng.normal(0, 25_000, n))
    feats = np.stack([sqft, rooms, age, dist], axis=1)
    return feats, price


class PriceNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(4, 64), nn.SiLU(), nn.Linear(64, 64), nn.SiLU(), nn.Linear(64, 1))

    def __call__(self, x):
        return self.net(x).squeeze(-1) * SCALE      # dollars


def mse_dollars(model, x, y):
    return ((model(x) - y) ** 2).mean()


def main():
    rng = np.random.default_rng(0)
    mx.random.seed(0)
    f, p = make_data(6000, rng)
    mean, std = f[:5000].mean(0), f[:5000].std(0)
    f = (f - mean) / std
    xtr, ytr = mx.array(f[:5000].astype(np.float32)), mx.array(p[:5000].astype(np.float32))
    xva, yva = mx.array(f[5000:].astype(np.float32)), mx.array(p[5000:].astype(np.float32))

    model = PriceNet()
    opt = optim.Adam(learning_rate=1e-4)
    vg = nn.value_and_grad(model, mse_dollars)
    print(f"{'epoch':>5} | {'train mse ($^2)':>16} | {'val mse ($^2)':>14} | {'val rmse':>10}")
    for epoch in range(1, 25):
        perm = mx.array(rng.permutation(5000))
        tot = 0.0
        for b in range(0, 5000, 250):
            idx = perm[b:b + 250]
            loss, grads = vg(model, xtr[idx], ytr[idx])
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
            tot += loss.item()
        val = mse_dollars(model, xva, yva).item()
        if epoch % 3 == 0 or epoch == 1:
            print(f"{epoch:5d} | {tot / 20:16.4e} | {val:14.4e} | ${val ** 0.5:>9,.0f}")


if __name__ == "__main__":
    main()
