"""LoRA adaptation of a small residual MLP classifier.

Config says lora_layers = -1, meaning "adapt every block" (as in mlx_lm's CLI).
The backbone is frozen; only the LoRA A/B matrices should train.
"""
import json
import math

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

CONFIG = {"lora_layers": -1, "rank": 4, "alpha": 16.0, "lr": 0.05, "steps": 400}


class LoRALinear(nn.Module):
    @staticmethod
    def from_linear(linear, r, alpha):
        out_dims, in_dims = linear.weight.shape
        lora = LoRALinear(in_dims, out_dims, r, alpha)
        lora.linear = linear
        return lora

    def __init__(self, in_dims, out_dims, r=4, alpha=16.0):
        super().__init__()
        self.linear = nn.Linear(in_dims, out_dims)
        self.scale = alpha / r
        bound = 1 / math.sqrt(in_dims)
        self.lora_a = mx.random.uniform(-bound, bound, (in_dims, r))
        self.lora_b = mx.zeros((r, out_dims))

    def __call__(self, x):
        return self.linear(x) + self.scale * ((x @ self.lora_a) @ self.lora_b)


class Block(nn.Module):
    def __init__(self, dims):
        super().__init__()
        self.norm = nn.LayerNorm(dims)
        self.fc1 = nn.Linear(dims, 2 * dims)
        self.fc2 = nn.Linear(2 * dims, dims)

    def __call__(self, x):
        return x + self.fc2(nn.gelu(self.fc1(self.norm(x))))


class Backbone(nn.Module):
    def __init__(self, in_dims, dims, n_blocks, n_classes):
        super().__init__()
        self.proj = nn.Linear(in_dims, dims)
        self.layers = [Block(dims) for _ in range(n_blocks)]
        self.head = nn.Linear(dims, n_classes)

    def __call__(self, x):
        h = self.proj(x)
        for layer in self.layers:
            h = layer(h)
        return self.head(h)


def linear_to_lora_layers(model, num_lora_layers, rank, alpha):
    num_layers = len(model.layers)

    if num_lora_layers < 0:
        num_lora_layers = num_layers

    if num_lora_layers > num_layers:
        raise ValueError(f"Requested {num_lora_layers} LoRA layers but the model has {num_layers}.")
    keys = {"fc1", "fc2"}
    for l in model.layers[num_layers - num_lora_layers :]:
        lora = [(k, LoRALinear.from_linear(m, rank, alpha)) for k, m in l.named_modules() if k in keys]
        l.update_modules(tree_unflatten(lora))


def make_data(n, in_dims, n_classes, key):
    k1, k2 = mx.random.split(key)
    x = mx.random.normal((n, in_dims), key=k1)
    w = mx.random.normal((in_dims, n_classes), key=k2)
    y = mx.argmax(mx.tanh(x @ w) + 0.3 * (x[:, :n_classes] ** 2), axis=1)
    return x, y


def main():
    mx.random.seed(7)
    x, y = make_data(2048, 16, 5, mx.random.key(1))

    model = Backbone(16, 48, n_blocks=4, n_classes=5)
    model.freeze()
    linear_to_lora_layers(model, CONFIG["lora_layers"], CONFIG["rank"], CONFIG["alpha"])
    mx.eval(model.parameters())
    n_train = sum(v.size for _, v in tree_flatten(model.trainable_parameters()))
    n_total = sum(v.size for _, v in tree_flatten(model.parameters()))
    print(json.dumps({"event": "setup", "trainable": n_train, "total": n_total}))

    def loss_fn(m, xb, yb):
        return nn.losses.cross_entropy(m(xb), yb, reduction="mean")

    step = nn.value_and_grad(model, loss_fn)
    opt = optim.SGD(learning_rate=CONFIG["lr"], momentum=0.9)
    bs = 128
    for it in range(1, CONFIG["steps"] + 1):
        idx = mx.random.randint(0, x.shape[0], (bs,))
        loss, grads = step(model, x[idx], y[idx])
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        if it == 1 or it % 50 == 0:
            acc = mx.mean(mx.argmax(model(x), axis=1) == y).item()
            print(json.dumps({"step": it, "loss": round(loss.item(), 4), "train_acc": round(acc, 4)}))


if __name__ == "__main__":
    main()
