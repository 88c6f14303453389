"""Hand-rolled LoRA fine-tune of a small pretrained-style sequence model (mamba-like layout)."""
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten


class Block(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.in_proj = nn.Linear(dim, dim)
        self.out_proj = nn.Linear(dim, dim)

    def __call__(self, x):
        return x + self.out_proj(nn.silu(self.in_proj(x)))


class Backbone(nn.Module):
    def __init__(self, vocab, dim, n):
        super().__init__()
        self.embeddings = nn.Embedding(vocab, dim)
        self.layers = [Block(dim) for _ in range(n)]

    def __call__(self, x):
        h = self.embeddings(x)
        for layer in self.layers:
            h = layer(h)
        return h


class Model(nn.Module):
    def __init__(self, vocab=64, dim=64, n=4):
        super().__init__()
        self.backbone = Backbone(vocab, dim, n)
        self.lm_head = nn.Linear(dim, vocab)

    def __call__(self, x):
        return self.lm_head(self.backbone(x))


class LoRALinear(nn.Module):
    def __init__(self, base, rank=8, scale=2.0):
        super().__init__()
        self.base = base
        self.scale = scale
        self.lora_a = mx.random.normal((base.weight.shape[1], rank)) * 0.01
        self.lora_b = mx.zeros((rank, base.weight.shape[0]))

    def __call__(self, x):
        return self.base(x) + self.scale * (x @ self.lora_a) @ self.lora_b


def apply_lora(model, num_layers):
    for layer in getattr(model, "layers", [])[-num_layers:]:
        layer.in_proj = LoRALinear(layer.in_proj)
        layer.out_proj = LoRALinear(layer.out_proj)


mx.random.seed(0)
model = Model()
model.freeze()
apply_lora(model, num_layers=4)
n_train = sum(v.size for _, v in tree_flatten(model.trainable_parameters()))
n_all = sum(v.size for _, v in tree_flatten(model.parameters()))
print(f"Trainable parameters: {100 * n_train / n_all:.3f}% "
      f"({n_train / 1e6:.3f}M/{n_all / 1e6:.3f}M)")

tokens = mx.random.randint(0, 64, (512, 33))
tokens = mx.concatenate([tokens[:, :1], (tokens[:, :1] + mx.arange(1, 33)) % 64], axis=1)
opt = optim.Adam(learning_rate=1e-3)
loss_fn = nn.value_and_grad(
    model, lambda m, x, y: nn.losses.cross_entropy(m(x), y, reduction="mean"))
print("Starting training..., iters: 160")
tic = time.perf_counter()
for it in range(1, 161):
    batch = tokens[mx.random.randint(0, 512, (16,))]
    loss, grads = loss_fn(model, batch[:, :-1], batch[:, 1:])
    opt.update(model, grads)
    mx.eval(loss, model.trainable_parameters(), opt.state)
    if it % 20 == 0:
        rate = 20 / (time.perf_counter() - tic)
        print(f"Iter {it}: Train loss {loss.item():.3f}, It/sec {rate:.3f}")
        tic = time.perf_counter()
