"""LoRA fine-tuning of a small residual MLP whose projections subclass nn.Linear."""
import math

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten


class Projection(nn.Linear):
    """nn.Linear with a fixed output scale (as in the 'pretrained' checkpoint)."""

    def __init__(self, d_in, d_out, scale=1.0):
        super().__init__(d_in, d_out)
        self.out_scale = scale

    def __call__(self, x):
        return super().__call__(x) * self.out_scale


class Block(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.fc_in = Projection(dim, 2 * dim)
        self.fc_out = Projection(2 * dim, dim, scale=0.5)

    def __call__(self, x):
        return x + self.fc_out(nn.gelu(self.fc_in(x)))


class ResMLP(nn.Module):
    def __init__(self, d_in, dim, depth, n_out):
        super().__init__()
        self.embed = Projection(d_in, dim)
        self.blocks = [Block(dim) for _ in range(depth)]
        self.head = Projection(dim, n_out)

    def __call__(self, x):
        h = self.embed(x)
        for b in self.blocks:
            h = b(h)
        return self.head(h)


class LoRALinear(nn.Module):
    def __init__(self, base, rank=4, alpha=8.0):
        super().__init__()
        d_out, d_in = base.weight.shape
        self.base = base
        self.scale = alpha / rank
        self.lora_a = mx.random.uniform(-1 / math.sqrt(d_in), 1 / math.sqrt(d_in), (d_in, rank))
        self.lora_b = mx.zeros((rank, d_out))

    def __call__(self, x):
        return self.base(x) + self.scale * (x @ self.lora_a) @ self.lora_b


def apply_lora(model, rank, train_head=True):
    model.freeze()
    if train_head:
        model.head.unfreeze()
    swaps = [(name, LoRALinear(m, rank)) for name, m in model.named_modules() if isinstance(m, nn.Linear)]
    if swaps:
        model.update_modules(tree_unflatten(swaps))
    return len(swaps)


def n_trainable(model):
    return sum(v.size for _, v in tree_flatten(model.trainable_parameters()))


def finetune(model, x, y, epochs=5, bs=64):
    opt = optim.Adam(learning_rate=5e-3)
    vg = nn.value_and_grad(model, lambda m, a, b: nn.losses.mse_loss(m(a), b))
    for ep in range(epochs):
        for i in range(0, x.shape[0], bs):
            loss, grads = vg(model, x[i:i + bs], y[i:i + bs])
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state)
        print(f"epoch {ep} loss {nn.losses.mse_loss(model(x), y).item():.4f}")


if __name__ == "__main__":
    mx.random.seed(12)
    model = ResMLP(6, 16, 2, 2)
    x = mx.random.normal((512, 6))
    y = mx.stack([mx.sin(x[:, 0] + x[:, 1]), x[:, 2] * x[:, 3]], axis=1)
    before = nn.losses.mse_loss(model(x), y).item()
    wrapped = apply_lora(model, rank=4)
    print(f"wrapped {wrapped} layers, {n_trainable(model)} trainable params, start loss {before:.4f}")
    finetune(model, x, y)
