"""Regress a target from raw pressure-sensor traces (values around 1013 hPa).

The model normalises each trace itself (instance norm) so no dataset stats are needed.
"""
import mlx.core as mx
import mlx.nn as mnn
import mlx.optimizers as optim

T = 32


def sensor_traces(n, key):
    k1, k2, k3 = mx.random.split(key, 3)
    base = 1013.25 + 5.0 * mx.random.normal((n, 1), key=k1)           # absolute pressure
    slope = 0.02 * mx.random.normal((n, 1), key=k2)                   # hPa per tick
    t = mx.arange(T, dtype=mx.float32)[None, :]
    x = base + slope * t + 0.01 * mx.random.normal((n, T), key=k3)
    y = slope * 50.0                                                   # target: the trend
    return x.astype(mx.float32), y


class InstanceNorm1d(mnn.Module):
    def __init__(self, eps=1e-5):
        super().__init__()
        self.eps = eps

    def __call__(self, x):
        mean = x.mean(axis=-1, keepdims=True)
        var = ((x - mean) ** 2).mean(axis=-1, keepdims=True)
        return (x - mean) * mx.rsqrt(var + self.eps)


class TrendNet(mnn.Module):
    def __init__(self):
        super().__init__()
        self.norm = InstanceNorm1d()
        self.body = mnn.Sequential(mnn.Linear(T, 32), mnn.ReLU(), mnn.Linear(32, 1))
        self.scale = mnn.Linear(1, 1)

    def __call__(self, x):
        spread = (x[:, -1:] - x[:, :1])
        return self.body(self.norm(x)) * self.scale(spread)


def main():
    mx.random.seed(0)
    xtr, ytr = sensor_traces(1024, mx.random.key(0))
    net = TrendNet()
    opt = optim.Adam(learning_rate=1e-3)
    objective = lambda m, x, y: mnn.losses.mse_loss(m(x), y)
    vg = mnn.value_and_grad(net, objective)
    for step in range(200):
        i = (step * 64) % 1024
        loss, grads = vg(net, xtr[i : i + 64], ytr[i : i + 64])
        opt.update(net, grads)
        mx.eval(net.parameters(), opt.state)
        if step % 40 == 0 or step == 199:
            print(f"step {step:3d} mse {loss.item():.5f}")


if __name__ == "__main__":
    main()
