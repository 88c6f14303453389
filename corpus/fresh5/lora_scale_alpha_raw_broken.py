# LoRA fine-tune of a small (frozen) pretrained regressor on a shifted target.
# Hand-rolled LoRA layer in the style of mlx-vlm's trainer/lora.py.
import math

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten


class LoRaLayer(nn.Module):
    def __init__(self, linear: nn.Linear, rank: int = 8, alpha: float = 16.0, dropout: float = 0.0):
        super().__init__()
        self.original_layer = linear
        self.dropout = nn.Dropout(p=dropout)
        out_dims, in_dims = linear.weight.shape
        bound = 1.0 / math.sqrt(in_dims)
        self.A = mx.random.uniform(low=-bound, high=bound, shape=(in_dims, rank))
        self.B = mx.zeros((rank, out_dims))
        self.scale = alpha

    def __call__(self, x):
        y = self.original_layer(x)
        z = (self.dropout(x) @ self.A) @ self.B
        return y + self.scale * z


class Regressor(nn.Module):
    def __init__(self, d_in=16, hidden=64):
        super().__init__()
        self.fc1 = nn.Linear(d_in, hidden)
        self.fc2 = nn.Linear(hidden, hidden)
        self.head = nn.Linear(hidden, 1)

    def __call__(self, x):
        h = nn.silu(self.fc1(x))
        h = nn.silu(self.fc2(h))
        return self.head(h).squeeze(-1)


def make_data(n, w, shift, key):
    k1, k2 = mx.random.split(key)
    x = mx.random.normal((n, w.shape[0]), key=k1)
    y = mx.tanh(x @ w) * 2.0 + shift * mx.sin(x[:, 0] * 2.0) + 0.05 * mx.random.normal((n,), key=k2)
    return x, y


def mse(model, x, y):
    return nn.losses.mse_loss(model(x), y)


def fit(model, opt, x, y, steps, bs, tag, log_every):
    vg = nn.value_and_grad(model, mse)
    n = x.shape[0]
    for step in range(1, steps + 1):
        idx = mx.random.randint(0, n, (bs,))
        loss, grads = vg(model, x[idx], y[idx])
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state)
        if step % log_every == 0:
            lr = opt.learning_rate.item() if isinstance(opt.learning_rate, mx.array) else opt.learning_rate
            print({"Stage": tag, "Step": step, "Loss": f"{loss.item():.4f}", "Learning Rate": f"{lr:.2e}"})


def main():
    mx.random.seed(0)
    w = mx.random.normal((16,)) / 4.0
    base = Regressor()
    xa, ya = make_data(4096, w, 0.0, mx.random.key(1))
    fit(base, optim.Adam(learning_rate=3e-3), xa, ya, steps=300, bs=128, tag="pretrain", log_every=100)

    # adapt to the shifted task with LoRA on every linear layer, base frozen
    base.freeze()
    rank, alpha = 32, 64.0
    base.fc1 = LoRaLayer(base.fc1, rank=rank, alpha=alpha)
    base.fc2 = LoRaLayer(base.fc2, rank=rank, alpha=alpha)
    base.head = LoRaLayer(base.head, rank=rank, alpha=alpha)
    n_train = sum(v.size for _, v in tree_flatten(base.trainable_parameters()))
    print(f"#trainable params: {n_train}")

    xb, yb = make_data(4096, w, 1.5, mx.random.key(2))
    xv, yv = make_data(512, w, 1.5, mx.random.key(3))
    print({"Stage": "lora", "Step": 0, "Val loss": f"{mse(base, xv, yv).item():.4f}"})
    fit(base, optim.Adam(learning_rate=1e-3), xb, yb, steps=400, bs=64, tag="lora", log_every=25)
    print({"Stage": "lora", "Step": 400, "Val loss": f"{mse(base, xv, yv).item():.4f}"})


if __name__ == "__main__":
    main()
