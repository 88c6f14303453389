"""LoRA on a tiny text classifier: freeze the base, wrap the attention projections with
LoRA adapters chosen by name, train the adapters with Lion."""
import math

import numpy as np

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

VOCAB, DIM, SEQ, N_CLS = 50, 32, 12, 3
TARGET_MODULES = ["query", "value"]


class LoRALinear(nn.Module):
    def __init__(self, base: nn.Linear, r=8, alpha=16.0):
        super().__init__()
        self.base = base
        out_d, in_d = base.weight.shape
        self.lora_a = mx.random.normal((in_d, r)) * (1 / math.sqrt(in_d))
        self.lora_b = mx.zeros((r, out_d))
        self.scale = alpha / r

    def __call__(self, x):
        return self.base(x) + self.scale * ((x @ self.lora_a) @ self.lora_b)


class Attention(nn.Module):
    def __init__(self):
        super().__init__()
        self.query = nn.Linear(DIM, DIM)
        self.key = nn.Linear(DIM, DIM)
        self.value = nn.Linear(DIM, DIM)
        self.out = nn.Linear(DIM, DIM)

    def __call__(self, x):
        q, k, v = self.query(x), self.key(x), self.value(x)
        w = mx.softmax(q @ k.transpose(0, 2, 1) / math.sqrt(DIM), axis=-1)
        return self.out(w @ v)


class Classifier(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(VOCAB, DIM)
        self.attn = Attention()
        self.norm = nn.LayerNorm(DIM)
        self.head = nn.Linear(DIM, N_CLS)

    def __call__(self, x):
        h = self.emb(x)
        h = h + self.attn(self.norm(h))
        return self.head(h.mean(axis=1))


def apply_lora(model, targets):
    model.freeze()
    replaced = []
    for name, mod in model.named_modules():
        for child_name, child in list(mod.children().items()):
            if isinstance(child, nn.Linear) and child_name in targets:
                setattr(mod, child_name, LoRALinear(child))
                replaced.append(f"{name}.{child_name}" if name else child_name)
    return replaced


def make_data(n, rng):
    x = rng.integers(0, VOCAB, (n, SEQ))
    # class = which third of the vocabulary the first token falls in
    y = (x[:, 0] * N_CLS) // VOCAB
    return mx.array(x.astype(np.int32)), mx.array(y.astype(np.int32))


def main():
    rng = np.random.default_rng(0)
    mx.random.seed(0)
    x, y = make_data(1536, rng)
    model = Classifier()
    apply_lora(model, TARGET_MODULES)
    n_tr = sum(v.size for _, v in tree_flatten(model.trainable_parameters()))
    print(f"trainable parameters: {n_tr}")

    opt = optim.Lion(learning_rate=3e-3)

    def loss_fn(m, xb, yb):
        return nn.losses.cross_entropy(m(xb), yb, reduction="mean")

    vg = nn.value_and_grad(model, loss_fn)
    for epoch in range(8):
        perm = rng.permutation(x.shape[0])
        tot = 0.0
        for i in range(0, x.shape[0], 64):
            idx = mx.array(perm[i:i + 64])
            loss, grads = vg(model, x[idx], y[idx])
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state)
            tot += loss.item() * 64
        acc = (model(x).argmax(-1) == y).mean().item()
        print(f"epoch {epoch}: loss {tot / x.shape[0]:.4f}  acc {acc:.3f}")


if __name__ == "__main__":
    main()
