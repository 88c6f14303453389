import time
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.nn.layers.activations import tanh
from mlx.utils import tree_flatten
import numpy as np


def make_trays(n, seed):
    # 28x28 "tray photos": ten pastry patterns, shifted a little, plus sensor noise
    rng = np.random.default_rng(0)
    base = rng.normal(size=(10, 32, 32)).astype(np.float32)
    k = np.ones(5, dtype=np.float32) / 5
    for _ in range(2):
        base = np.apply_along_axis(lambda r: np.convolve(r, k, mode="same"), 2, base)
        base = np.apply_along_axis(lambda r: np.convolve(r, k, mode="same"), 1, base)
    base = base / base.std(axis=(1, 2), keepdims=True)
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 10, size=n)
    dx = rng.integers(0, 5, size=n)
    dy = rng.integers(0, 5, size=n)
    X = np.stack([base[c, a:a + 28, b:b + 28] for c, a, b in zip(y, dx, dy)])
    X = X + 2.5 * rng.normal(size=X.shape).astype(np.float32)
    return X.reshape(n, 784).astype(np.float32), y.astype(np.uint32)


def batch_iterate(batch_size, X, y):
    perm = mx.array(np.random.permutation(y.size))
    for s in range(0, y.size, batch_size):
        ids = perm[s: s + batch_size]
        yield X[ids].reshape(-1, 28, 28, 1), y[ids]


class LeNet(nn.Module):
    '''LeNet inspired module'''

    def __init__(self, in_dims=1, num_classes=10):
        super().__init__()
        self.conv0 = nn.Conv2d(in_channels=in_dims, out_channels=6, kernel_size=5, stride=1, padding=2)
        self.conv1 = nn.Conv2d(in_channels=6, out_channels=16, kernel_size=5, padding=0, stride=1)
        self.conv2 = nn.Conv2d(in_channels=16, out_channels=256, kernel_size=5, stride=1, padding=0)
        self.dense0 = nn.Linear(input_dims=256, output_dims=120)
        self.dense1 = nn.Linear(input_dims=120, output_dims=num_classes)

    def num_params(self):
        nparams = sum(x.size for k, x in tree_flatten(self.parameters()))
        return nparams

    def avg_pool_2d(self, x, stride: int = 2):
        B, W, H, C = x.shape
        x = x.reshape(B, W // stride, stride, H // stride, stride, C).mean((2, 4))
        return x

    def __call__(self, x):
        x = tanh(self.conv0(x))
        x = tanh(self.avg_pool_2d(x))
        x = tanh(self.conv1(x))
        x = tanh(self.avg_pool_2d(x))
        x = tanh(self.conv2(x))
        x = x.reshape(x.shape[0], -1)
        x = tanh(self.dense0(x))
        x = self.dense1(x)
        return x


def loss_fn(model, X, y):
    return mx.mean(nn.losses.cross_entropy(model(X), y))


def eval_fn(model, X, y):
    return mx.mean(mx.argmax(model(X), axis=1) == y)


def main():
    np.random.seed(3)
    mx.random.seed(3)
    model = LeNet()
    print('Number of params: {:0.04f} M'.format(model.num_params() / 1e6))
    tr_x, tr_y = make_trays(768, seed=1)
    te_x, te_y = make_trays(256, seed=2)
    train_images, train_labels, test_images, test_labels = map(mx.array, (tr_x, tr_y, te_x, te_y))
    optimizer = optim.SGD(learning_rate=0.1)
    loss_and_grad = nn.value_and_grad(model=model, fn=loss_fn)
    losses = []
    for e in range(3):
        tic = time.perf_counter()
        for X, y in batch_iterate(batch_size=64, X=train_images, y=train_labels):
            loss, gradients = loss_and_grad(model, X, y)
            optimizer.update(model, gradients)
            mx.eval(model.parameters(), optimizer.state)
            losses.append(loss.item())
        toc = time.perf_counter()
        accuracy = eval_fn(model, test_images.reshape(-1, 28, 28, 1), test_labels)
        throughput = 768 / (toc - tic)
        print(
            f"Epoch {e}: Train loss {np.mean(losses[-12:]):.4f}, Test accuracy {accuracy.item():.6f},"
            f" Time {toc - tic:.3f} (s), ",
            f"Throughput: {throughput:.2f} images/second"
        )


if __name__ == '__main__':
    main()
