"""Multi-layer perceptron on 8x8 "digit" images (raw 0-255 pixels), after the MLX MLP example."""
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np

num_layers, hidden_dim, num_classes = 2, 128, 10
batch_size, num_epochs, learning_rate = 64, 10, 1e-3

rng = np.random.default_rng(0)
class_freq = np.array([.098, .1135, .103, .101, .098, .089, .096, .103, .097, .101])
class_freq /= class_freq.sum()
templates = rng.uniform(0, 1, (num_classes, 64))


def load_digits(n):
    y = rng.choice(num_classes, size=n, p=class_freq)
    x = np.clip(templates[y] + rng.normal(0, 0.35, (n, 64)), 0, 1) * 255
    return mx.array(x.astype(np.float32)), mx.array(y)


class MLP(nn.Module):
    def __init__(self, num_layers, input_dim, hidden_dim, output_dim):
        super().__init__()
        dims = [input_dim] + [hidden_dim] * num_layers + [output_dim]
        self.layers = [nn.Linear(i, o) for i, o in zip(dims[:-1], dims[1:])]

    def __call__(self, x):
        for layer in self.layers[:-1]:
            x = nn.relu(layer(x))
        return self.layers[-1](x)


def loss_fn(model, X, y):
    return nn.losses.cross_entropy(model(X), y, reduction="mean")


def eval_fn(model, X, y):
    return mx.mean(mx.argmax(model(X), axis=1) == y)


train_images, train_labels = load_digits(3200)
test_images, test_labels = load_digits(2000)
model = MLP(num_layers, 64, hidden_dim, num_classes)
optimizer = optim.SGD(learning_rate=learning_rate)
loss_and_grad_fn = nn.value_and_grad(model, loss_fn)

for e in range(num_epochs):
    perm = mx.array(rng.permutation(train_labels.size))
    for s in range(0, train_labels.size, batch_size):
        ids = perm[s:s + batch_size]
        loss, grads = loss_and_grad_fn(model, train_images[ids], train_labels[ids])
        optimizer.update(model, grads)
        mx.eval(model.parameters(), optimizer.state)
    accuracy = eval_fn(model, test_images, test_labels)
    print(f"Epoch {e}: Test accuracy {accuracy.item():.3f}")
