"""LoRA fine-tune of a tiny hybrid 'gated delta' classifier.

Base weights are frozen (they stand in for a pretrained checkpoint); only the
LoRA adapters are trained.  target_modules="all-linear" is supposed to put an
adapter on every nn.Linear of the mixer and the FFN.
"""
import math
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

mx.random.seed(11)
rng = np.random.default_rng(11)

D, T, C = 32, 12, 4
DEFAULT_TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj",
                   "gate_proj", "up_proj", "down_proj"]


class LoRALinear(nn.Module):
    def __init__(self, base: nn.Linear, r=8, alpha=16.0):
        super().__init__()
        out_dim, in_dim = base.weight.shape
        self.base = base
        self.scale = alpha / r
        bound = 1.0 / math.sqrt(in_dim)
        self.lora_a = mx.random.uniform(-bound, bound, (in_dim, r))
        self.lora_b = mx.zeros((r, out_dim))

    def __call__(self, x):
        return self.base(x) + self.scale * ((x @ self.lora_a) @ self.lora_b)


class GatedDeltaMixer(nn.Module):
    def __init__(self, d):
        super().__init__()
        self.in_proj_qkv = nn.Linear(d, 3 * d)
        self.in_proj_z = nn.Linear(d, d)
        self.out_proj = nn.Linear(d, d)

    def __call__(self, x):
        q, k, v = mx.split(self.in_proj_qkv(x), 3, axis=-1)
        beta = mx.sigmoid(k)
        # causal running mean of the gated values (a toy linear recurrence)
        h = mx.cumsum(beta * v, axis=1) / mx.arange(1, x.shape[1] + 1)[None, :, None]
        y = h * mx.sigmoid(q) * nn.silu(self.in_proj_z(x))
        return self.out_proj(y)


class FFN(nn.Module):
    def __init__(self, d):
        super().__init__()
        self.gate_proj = nn.Linear(d, 2 * d, bias=False)
        self.up_proj = nn.Linear(d, 2 * d, bias=False)
        self.down_proj = nn.Linear(2 * d, d, bias=False)

    def __call__(self, x):
        return self.down_proj(nn.silu(self.gate_proj(x)) * self.up_proj(x))


class Block(nn.Module):
    def __init__(self, d):
        super().__init__()
        self.norm1 = nn.RMSNorm(d)
        self.mixer = GatedDeltaMixer(d)
        self.norm2 = nn.RMSNorm(d)
        self.ffn = FFN(d)

    def __call__(self, x):
        x = x + self.mixer(self.norm1(x))
        return x + self.ffn(self.norm2(x))


class Classifier(nn.Module):
    def __init__(self, d, n_cls, n_layers=2):
        super().__init__()
        self.layers = [Block(d) for _ in range(n_layers)]
        self.norm = nn.RMSNorm(d)
        self.head = nn.Linear(d, n_cls)

    def __call__(self, x):
        for blk in self.layers:
            x = blk(x)
        return self.head(self.norm(x)[:, -1])


def apply_lora(model, target_modules="all-linear", r=8):
    if target_modules == "all-linear" or target_modules == ["all-linear"]:
        target_modules = None
    if target_modules is None:
        target_modules = list(DEFAULT_TARGETS)
    model.freeze()
    n = 0
    for _, mod in model.named_modules():
        for key, child in list(mod.children().items()):
            if isinstance(child, nn.Linear) and key in target_modules:
                mod[key] = LoRALinear(child, r=r)
                n += 1
    return n


# synthetic task: the label depends on the whole sequence through a fixed teacher
def make_split(n):
    x = rng.standard_normal((n, T, D)).astype(np.float32)
    w = np.random.default_rng(0).standard_normal((D, C)).astype(np.float32)
    y = np.argmax(np.cumsum(x, axis=1)[:, -1] @ w, axis=-1).astype(np.int32)
    return mx.array(x), mx.array(y)


x_tr, y_tr = make_split(4096)
x_va, y_va = make_split(256)

model = Classifier(D, C)
mx.eval(model.parameters())
n_adapted = apply_lora(model, target_modules="all-linear", r=8)
n_train = sum(v.size for _, v in tree_flatten(model.trainable_parameters()))
print(f"[lora] adapted {n_adapted} linear layers, {n_train} trainable params")


def loss_fn(m, xb, yb):
    return nn.losses.cross_entropy(m(xb), yb, reduction="mean")


opt = optim.AdamW(learning_rate=3e-3, weight_decay=0.0)
step_fn = nn.value_and_grad(model, loss_fn)
bs, epochs = 128, 8
t0 = time.time()
for ep in range(1, epochs + 1):
    perm = np.random.default_rng(ep).permutation(x_tr.shape[0])
    tot, nb = 0.0, 0
    for i in range(0, len(perm), bs):
        idx = mx.array(perm[i:i + bs])
        loss, grads = step_fn(model, x_tr[idx], y_tr[idx])
        opt.update(model, grads)
        mx.eval(model.trainable_parameters(), opt.state, loss)
        tot += loss.item()
        nb += 1
    acc = (mx.argmax(model(x_va), axis=-1) == y_va).mean().item()
    print(f"epoch {ep:2d} | train_ce {tot / nb:.4f} | val_acc {acc:.3f} | {time.time() - t0:.1f}s")
