# Simple MLP classifier trained with SGD (adapted from an MLX example).
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim


def make_data(n, dim, classes, key):
    k1, k2, k3 = mx.random.split(key, 3)
    protos = mx.random.normal((classes, dim), key=k1) * 0.35
    labels = mx.random.randint(0, classes, (n,), key=k2)
    images = protos[labels] + mx.random.normal((n, dim), key=k3)
    return images, labels.astype(mx.uint32)


def permutation(size, key=None):
    noise = mx.random.uniform(shape=(size,), key=key)
    return mx.argsort(noise)


class MLP(nn.Module):
    def __init__(self, num_layers, input_dim, hidden_dim, output_dim):
        super().__init__()
        sizes = [input_dim] + [hidden_dim] * num_layers + [output_dim]
        self.layers = [nn.Linear(i, o) for i, o in zip(sizes[:-1], sizes[1:])]

    def __call__(self, x):
        for l in self.layers[:-1]:
            x = mx.maximum(l(x), 0.0)
        return self.layers[-1](x)


def loss_fn(model, X, y):
    return mx.mean(nn.losses.cross_entropy(model(X), y))


def eval_fn(model, X, y):
    return mx.mean(mx.argmax(model(X), axis=1) == y)


def batch_iterate(batch_size, X, y, key):
    perm = permutation(y.size, key=key)
    for s in range(0, y.size, batch_size):
        ids = perm[s : s + batch_size]
        yield X[ids], y[ids]


def main():
    num_layers = 2
    hidden_dim = 64
    num_classes = 10
    batch_size = 8
    num_epochs = 5
    learning_rate = 5e-2

    key = mx.random.key(0)
    dkey, key = mx.random.split(key)
    images, labels = make_data(36000, 128, num_classes, dkey)
    train_images, train_labels = images[:32000], labels[:32000]
    test_images, test_labels = images[32000:], labels[32000:]
    mx.eval(train_images, train_labels, test_images, test_labels)

    model = MLP(num_layers, train_images.shape[-1], hidden_dim, num_classes)
    mx.eval(model.parameters())

    loss_and_grad_fn = nn.value_and_grad(model, loss_fn)
    optimizer = optim.SGD(learning_rate=learning_rate)

    _tic = time.perf_counter()
    for e in range(num_epochs):
        tic = time.perf_counter()
        key, key0 = mx.random.split(key)
        for X, y in batch_iterate(batch_size, train_images, train_labels, key=key0):
            loss, grads = loss_and_grad_fn(model, X, y)
            optimizer.update(model, grads)
            mx.eval(model.parameters(), optimizer.state)
        accuracy = eval_fn(model, test_images, test_labels)
        toc = time.perf_counter()
        print(f"Epoch {e}: Test accuracy {accuracy.item():.3f}, Time {toc - tic:.3f} (s)")
    _toc = time.perf_counter()
    print(f"{_toc - _tic:.5f} (s)")


if __name__ == "__main__":
    mx.set_default_device(mx.cpu)
    main()
