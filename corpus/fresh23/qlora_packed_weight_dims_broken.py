"""Tiny yes/no reranker: base pretraining, 4-bit quantisation, then LoRA.

Stage 1 trains a small full-precision scorer on (query, doc) embedding
pairs.  Stage 2 quantises the base (nn.quantize, 4 bits), freezes it, wraps
the attention-style projections with a hand-written LoRA adapter (no
dependency on a library LoRA class) and fine-tunes the adapters on a shifted
relevance rule (new domain).
"""
import time

import numpy as np
import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
from mlx.utils import tree_flatten

rng = np.random.default_rng(5)
mx.random.seed(5)

DIM, HID = 64, 128


def make_pairs(n, w):
    """query/doc embeddings; label yes if their weighted agreement is positive."""
    q = rng.normal(size=(n, DIM)).astype(np.float32)
    d = rng.normal(size=(n, DIM)).astype(np.float32)
    yes = ((q * d) @ w > 0).astype(np.int32)
    return mx.array(q), mx.array(d), mx.array(yes)


class Reranker(nn.Module):
    def __init__(self):
        super().__init__()
        self.in_proj = nn.Linear(2 * DIM, HID)
        self.q_proj = nn.Linear(HID, HID)
        self.v_proj = nn.Linear(HID, HID)
        self.head = nn.Linear(HID, 2)  # logits for (no, yes)

    def __call__(self, q, d):
        h = nn.gelu(self.in_proj(mx.concatenate([q * d, mx.abs(q - d)], axis=-1)))
        h = h + nn.gelu(self.q_proj(h))
        h = h + nn.gelu(self.v_proj(h))
        return self.head(h)


class LoRALinear(nn.Module):
    def __init__(self, base, r=8, alpha=16.0):
        super().__init__()
        self.base = base
        self.scale = alpha / r
        out_dim, in_dim = int(base.weight.shape[0]), int(base.weight.shape[1])
        self.lora_A = mx.random.normal((r, in_dim)) * 0.01
        self.lora_B = mx.zeros((out_dim, r))

    def __call__(self, x):
        y = self.base(x)
        lora = (x @ self.lora_A.T) @ self.lora_B.T
        return y + lora * self.scale


def loss_fn(model, q, d, y):
    return nn.losses.cross_entropy(model(q, d), y, reduction="mean")


def accuracy(model, q, d, y):
    return (mx.argmax(model(q, d), axis=-1) == y).astype(mx.float32).mean().item()


def run(model, stage, q, d, y, qv, dv, yv, steps, lr):
    opt = optim.AdamW(learning_rate=lr, weight_decay=0.0)
    lg = nn.value_and_grad(model, loss_fn)
    t0 = time.time()
    for it in range(1, steps + 1):
        idx = mx.array(rng.integers(0, q.shape[0], size=64))
        loss, g = lg(model, q[idx], d[idx], y[idx])
        opt.update(model, g)
        mx.eval(model.parameters(), opt.state, loss)
        if it % 100 == 0:
            print(f"[{stage}] step {it:4d}  loss {loss.item():.4f}  val_acc {accuracy(model, qv, dv, yv):.3f}  ({time.time() - t0:.1f}s)", flush=True)


# stage 1: base pretraining on domain A
w_a = rng.normal(size=(DIM,)).astype(np.float32)
qa, da, ya = make_pairs(8000, w_a)
qav, dav, yav = make_pairs(1000, w_a)
model = Reranker()
mx.eval(model.parameters())
run(model, "base", qa, da, ya, qav, dav, yav, steps=600, lr=3e-3)

# stage 2: quantise + freeze the base, LoRA on in_proj / q_proj / v_proj, domain B
# (domain B flips the relevance sign of a third of the embedding dimensions)
nn.quantize(model, group_size=64, bits=4)
model.freeze()
for name in ("in_proj", "q_proj", "v_proj"):
    setattr(model, name, LoRALinear(getattr(model, name)))
n_train = sum(v.size for _, v in tree_flatten(model.trainable_parameters()))
print(f"quantised base; trainable LoRA params: {n_train}")
w_b = w_a.copy()
w_b[:20] *= -1.0
qb, db, yb = make_pairs(8000, w_b)
qbv, dbv, ybv = make_pairs(1000, w_b)
print(f"[lora] domain-B val_acc before adaptation {accuracy(model, qbv, dbv, ybv):.3f}")
run(model, "lora", qb, db, yb, qbv, dbv, ybv, steps=900, lr=1e-3)
