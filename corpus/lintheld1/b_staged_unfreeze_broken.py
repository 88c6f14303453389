"""Two-stage fine-tuning: (1) linear probe with the encoder frozen,
(2) unfreeze the encoder and fine-tune everything at a lower LR."""
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten


class Net(nn.Module):
    def __init__(self, d_in=10, width=32, n_out=1):
        super().__init__()
        self.encoder = nn.Sequential(nn.Linear(d_in, width), nn.ReLU(),
                                     nn.Linear(width, width), nn.ReLU())
        self.head = nn.Linear(width, n_out)

    def __call__(self, x):
        return self.head(self.encoder(x)).squeeze(-1)


def task(n=2048, d=10, seed=11):
    mx.random.seed(seed)
    x = mx.random.normal((n, d))
    y = mx.tanh(x[:, 0] * x[:, 1]) + mx.abs(x[:, 2]) - 0.8 + 0.3 * mx.sin(3 * x[:, 3])
    return x, y


def n_trainable(m):
    return sum(v.size for _, v in tree_flatten(m.trainable_parameters()))


def run_stage(net, opt, x, y, epochs, batch=128):
    step = nn.value_and_grad(net, lambda m, a, b: nn.losses.mse_loss(m(a), b))
    for _ in range(epochs):
        perm = mx.random.permutation(x.shape[0])
        for i in range(0, x.shape[0], batch):
            idx = perm[i:i + batch]
            _, g = step(net, x[idx], y[idx])
            opt.update(net, g)
            mx.eval(net.parameters(), opt.state)
    return nn.losses.mse_loss(net(x), y).item()


def main():
    x, y = task()
    net = Net()
    enc_w0 = mx.array(net.encoder.layers[0].weight)

    net.encoder.freeze()
    print(f"stage 1 trainable params: {n_trainable(net)}")
    mse1 = run_stage(net, optim.Adam(learning_rate=1e-2), x, y, epochs=6)
    print(f"stage 1 (probe) mse {mse1:.4f}")

    net.unfreeze(keys=["encoder"])
    print(f"stage 2 trainable params: {n_trainable(net)}")
    mse2 = run_stage(net, optim.Adam(learning_rate=3e-3), x, y, epochs=10)
    drift = mx.abs(net.encoder.layers[0].weight - enc_w0).max().item()
    print(f"stage 2 (finetune) mse {mse2:.4f}  encoder max|dW| {drift:.3e}")


if __name__ == "__main__":
    main()
