"""Train a small digit-like classifier, save it, then reload it 4-bit for serving."""
import os
import tempfile

import mlx.core as mx
import mlx.nn as mnn
import mlx.optimizers as optim


class TinyMLP(mnn.Module):
    def __init__(self, d_in=64, d_hidden=128, n_out=10):
        super().__init__()
        self.fc1 = mnn.Linear(d_in, d_hidden)
        self.fc2 = mnn.Linear(d_hidden, d_hidden)
        self.fc3 = mnn.Linear(d_hidden, n_out)

    def __call__(self, x):
        x = mnn.relu(self.fc1(x))
        x = mnn.relu(self.fc2(x))
        return self.fc3(x)


def toy_dataset(n=2048):
    mx.random.seed(5)
    centers = mx.random.normal((10, 64)) * 2.0
    y = mx.random.randint(0, 10, (n,))
    x = centers[y] + mx.random.normal((n, 64))
    return x, y


def pretrain(ckpt, x, y, epochs=5):
    net = TinyMLP()
    opt = optim.Adam(learning_rate=1e-3)
    step = mnn.value_and_grad(net, lambda m, a, b: mnn.losses.cross_entropy(m(a), b, reduction="mean"))
    for _ in range(epochs):
        for i in range(0, x.shape[0], 128):
            _, g = step(net, x[i:i + 128], y[i:i + 128])
            opt.update(net, g)
            mx.eval(net.parameters(), opt.state)
    net.save_weights(ckpt)
    return net


def load_for_serving(ckpt, bits=4):
    net = TinyMLP()
    mnn.quantize(net, group_size=64, bits=bits)
    net.load_weights(ckpt, strict=False)
    net.eval()
    mx.eval(net.parameters())
    return net


def accuracy(net, x, y):
    return (mx.argmax(net(x), axis=-1) == y).mean().item()


def main():
    x, y = toy_dataset()
    with tempfile.TemporaryDirectory() as d:
        ckpt = os.path.join(d, "tiny_mlp.safetensors")
        ref = pretrain(ckpt, x, y)
        print(f"float accuracy     {accuracy(ref, x, y):.3f}")
        served = load_for_serving(ckpt)
        print(f"quantized accuracy {accuracy(served, x, y):.3f}")


if __name__ == "__main__":
    main()
