"""Predict a synthetic 'price' (in thousands) from 6 raw tabular features.
The model is kept in half precision to save memory."""
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten


def make_table(n, key):
    k1, k2 = mx.random.split(key)
    sqft = mx.random.uniform(40, 250, (n, 1), key=k1)          # m^2
    other = mx.random.uniform(0, 10, (n, 5), key=k2)           # rooms, age, ...
    feats = mx.concatenate([sqft, other], axis=1)
    price = 2.5 * sqft[:, 0] + 8.0 * other[:, 0] - 3.0 * other[:, 1] + 40.0
    return feats, price


class PriceNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(6, 32)
        self.fc2 = nn.Linear(32, 1)

    def __call__(self, x):
        return self.fc2(nn.relu(self.fc1(x))).squeeze(-1)


def main():
    feats, price = make_table(1024, mx.random.key(2))
    net = PriceNet()
    net.set_dtype(mx.float16)
    dtype = net.fc1.weight.dtype
    opt = optim.Adam(learning_rate=3e-2)

    def objective(x, y):
        return nn.losses.mse_loss(net(x), y)

    step = nn.value_and_grad(net, objective)
    for epoch in range(40):
        perm = mx.random.permutation(1024, key=mx.random.key(epoch))
        for i in range(0, 1024, 64):
            idx = perm[i:i + 64]
            loss, grads = step(feats[idx].astype(dtype), price[idx].astype(dtype))
            opt.update(net, grads)
            mx.eval(net.parameters(), opt.state, loss)
            if epoch == 0 and i == 0:
                g_max = max(mx.max(mx.abs(g)).item() for _, g in tree_flatten(grads))
                print(f"first batch: mse {loss.item():.1f} max|grad| {g_max:.1f}")
        if epoch % 5 == 0 or epoch == 39:
            full = objective(feats.astype(dtype), price.astype(dtype))
            print(f"epoch {epoch:2d} batch mse {loss.item():.2f} full mse {full.item():.2f} "
                  f"w-finite {mx.all(mx.isfinite(net.fc1.weight)).item()}")


if __name__ == "__main__":
    main()
