"""Train a classifier, export it, then reload the backbone for inference."""
import os
import tempfile

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten


class Backbone(nn.Module):
    def __init__(self, d_in=10, width=48, n_out=3):
        super().__init__()
        self.layers = [nn.Linear(d_in, width), nn.Linear(width, width), nn.Linear(width, n_out)]

    def __call__(self, x):
        for layer in self.layers[:-1]:
            x = nn.relu(layer(x))
        return self.layers[-1](x)


class TrainWrapper(nn.Module):
    """Adds label smoothing + input noise around the backbone during training."""

    def __init__(self, smoothing=0.05):
        super().__init__()
        self.backbone = Backbone()
        self.smoothing = smoothing

    def __call__(self, x):
        if self.training:
            x = x + 0.05 * mx.random.normal(x.shape)
        return self.backbone(x)

    def loss(self, x, y):
        return nn.losses.cross_entropy(self(x), y, label_smoothing=self.smoothing).mean()


def toy_data(n, seed):
    mx.random.seed(seed)
    x = mx.random.normal((n, 10))
    w = mx.array([[1.0, -1.0, 0.5]] * 3 + [[0.0, 0.0, 0.0]] * 7)
    y = mx.argmax(x @ w + 0.1 * mx.random.normal((n, 3)), axis=-1)
    return x, y


def load_pretrained(model, path):
    ckpt = mx.load(path)
    own = dict(tree_flatten(model.parameters()))
    weights = [(k, v) for k, v in ckpt.items() if k in own]
    model.load_weights(weights, strict=False)
    return model


def accuracy(model, x, y):
    return (mx.argmax(model(x), axis=-1) == y).astype(mx.float32).mean().item()


def main():
    xtr, ytr = toy_data(3000, 0)
    xte, yte = toy_data(500, 1)

    wrapper = TrainWrapper()
    opt = optim.SGD(learning_rate=0.1, momentum=0.9)
    grad_fn = nn.value_and_grad(wrapper, wrapper.loss)
    wrapper.train()
    for epoch in range(5):
        for s in range(0, 3000, 100):
            l, g = grad_fn(xtr[s : s + 100], ytr[s : s + 100])
            opt.update(wrapper, g)
            mx.eval(wrapper.parameters(), opt.state)
        print(f"epoch {epoch}: train loss {l.item():.3f}")
    wrapper.eval()
    print(f"trained wrapper test acc: {accuracy(wrapper, xte, yte):.3f}")

    path = os.path.join(tempfile.mkdtemp(), "classifier.safetensors")
    mx.save_safetensors(path, dict(tree_flatten(wrapper.parameters())))

    # --- deployment side: plain backbone, no training wrapper ---
    mx.random.seed(1234)
    served = load_pretrained(Backbone(), path)
    served.eval()
    print(f"reloaded backbone test acc: {accuracy(served, xte, yte):.3f}")


if __name__ == "__main__":
    main()
