"""LoRA fine-tuning of a small attention encoder on a toy sequence task."""
import math

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten, tree_unflatten

LORA_TARGETS = ["query", "value"]  # attention projections of SelfAttention
RANK, ALPHA = 4, 8.0


class SelfAttention(nn.Module):
    def __init__(self, dim, heads):
        super().__init__()
        self.heads = heads
        self.query = nn.Linear(dim, dim, bias=False)
        self.key = nn.Linear(dim, dim, bias=False)
        self.value = nn.Linear(dim, dim, bias=False)
        self.out = nn.Linear(dim, dim, bias=False)

    def __call__(self, x):
        B, L, D = x.shape
        split = lambda t: t.reshape(B, L, self.heads, -1).transpose(0, 2, 1, 3)
        q, k, v = split(self.query(x)), split(self.key(x)), split(self.value(x))
        o = mx.fast.scaled_dot_product_attention(q, k, v, scale=1.0 / math.sqrt(D // self.heads))
        return self.out(o.transpose(0, 2, 1, 3).reshape(B, L, D))


class Encoder(nn.Module):
    def __init__(self, vocab=32, dim=32, heads=4, n_layers=2, n_classes=2):
        super().__init__()
        self.embed = nn.Embedding(vocab, dim)
        self.layers = [SelfAttention(dim, heads) for _ in range(n_layers)]
        self.norm = nn.LayerNorm(dim)
        self.cls = nn.Linear(dim, n_classes)

    def __call__(self, tokens):
        h = self.embed(tokens)
        for layer in self.layers:
            h = h + layer(h)
        return self.cls(self.norm(h).mean(axis=1))


class LoRALinear(nn.Module):
    def __init__(self, base: nn.Linear, r, alpha):
        super().__init__()
        out_dim, in_dim = base.weight.shape
        self.base = base
        self.scale = alpha / r
        self.lora_a = mx.random.normal((in_dim, r)) / math.sqrt(in_dim)
        self.lora_b = mx.zeros((r, out_dim))

    def __call__(self, x):
        return self.base(x) + self.scale * ((x @ self.lora_a) @ self.lora_b)


def apply_lora(model, targets, r, alpha):
    model.freeze()
    swaps = []
    for name, module in model.named_modules():
        if name.split(".")[-1] in targets and isinstance(module, nn.Linear):
            swaps.append((name, LoRALinear(module, r, alpha)))
    if swaps:
        model.update_modules(tree_unflatten(swaps))
    n_train = sum(v.size for _, v in tree_flatten(model.trainable_parameters()))
    print(f"LoRA: wrapped {len(swaps)} layers, {n_train} trainable parameters")


def task_batch(n=64, L=12, vocab=32):
    # label: does the "alarm" token 7 occur anywhere in the sequence?
    toks = mx.random.randint(8, vocab, (n, L))
    labels = mx.random.randint(0, 2, (n,))
    where = mx.random.randint(0, L, (n,))
    hit = (mx.arange(L)[None, :] == where[:, None]) & (labels[:, None] == 1)
    return mx.where(hit, 7, toks), labels


def main():
    mx.random.seed(4)
    base = Encoder()
    mx.eval(base.parameters())
    apply_lora(base, LORA_TARGETS, RANK, ALPHA)
    opt = optim.Adam(learning_rate=1e-2)
    lg = nn.value_and_grad(base, lambda m, t, y: nn.losses.cross_entropy(m(t), y, reduction="mean"))
    xv, yv = task_batch(512)
    for step in range(250):
        toks, labels = task_batch()
        loss, grads = lg(base, toks, labels)
        opt.update(base, grads)
        mx.eval(base.parameters(), opt.state)
        if step % 50 == 0 or step == 249:
            acc = (mx.argmax(base(xv), -1) == yv).mean().item()
            print(f"step {step:3d} loss {loss.item():.4f} val acc {acc:.3f}")


if __name__ == "__main__":
    main()
