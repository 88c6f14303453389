"""LoRA fine-tune of a tiny pretrained-ish transformer block stack on a synthetic
next-token task.  Adapters are injected into the q/v projections found by
scanning the parameter names; the base model is frozen and only lora_a/lora_b
are trained."""
import logging
import re
import time

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
log = logging.getLogger("lora")

VOCAB, DIM, HEADS, LAYERS, SEQ = 32, 48, 4, 2, 16
TARGETS = ["q_proj", "v_proj"]
RANK, ALPHA = 4, 8.0


class Attention(nn.Module):
    def __init__(self, dim, heads):
        super().__init__()
        self.heads = heads
        self.q_proj = nn.Linear(dim, dim, bias=False)
        self.k_proj = nn.Linear(dim, dim, bias=False)
        self.v_proj = nn.Linear(dim, dim, bias=False)
        self.o_proj = nn.Linear(dim, dim, bias=False)

    def __call__(self, x, mask):
        B, L, D = x.shape
        h = self.heads
        q = self.q_proj(x).reshape(B, L, h, -1).transpose(0, 2, 1, 3)
        k = self.k_proj(x).reshape(B, L, h, -1).transpose(0, 2, 1, 3)
        v = self.v_proj(x).reshape(B, L, h, -1).transpose(0, 2, 1, 3)
        o = mx.fast.scaled_dot_product_attention(q, k, v, scale=(D // h) ** -0.5, mask=mask)
        return self.o_proj(o.transpose(0, 2, 1, 3).reshape(B, L, D))


class Block(nn.Module):
    def __init__(self, dim, heads):
        super().__init__()
        self.norm1 = nn.RMSNorm(dim)
        self.self_attn = Attention(dim, heads)
        self.norm2 = nn.RMSNorm(dim)
        self.mlp = nn.Sequential(nn.Linear(dim, 2 * dim), nn.GELU(), nn.Linear(2 * dim, dim))

    def __call__(self, x, mask):
        x = x + self.self_attn(self.norm1(x), mask)
        return x + self.mlp(self.norm2(x))


class TinyLM(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(VOCAB, DIM)
        self.layers = [Block(DIM, HEADS) for _ in range(LAYERS)]
        self.norm = nn.RMSNorm(DIM)
        self.head = nn.Linear(DIM, VOCAB, bias=False)

    def __call__(self, tokens):
        mask = nn.MultiHeadAttention.create_additive_causal_mask(tokens.shape[1])
        x = self.embed(tokens)
        for layer in self.layers:
            x = layer(x, mask)
        return self.head(self.norm(x))


class LoRALinear(nn.Module):
    """y = W x + scale * B A x, with W copied from the wrapped layer."""

    def __init__(self, linear, rank, alpha):
        super().__init__()
        out_f, in_f = linear.weight.shape
        self.weight = linear.weight
        self.scale = alpha / rank
        self.lora_a = mx.random.normal((rank, in_f)) * (1.0 / in_f ** 0.5)
        self.lora_b = mx.zeros((out_f, rank))

    def __call__(self, x):
        return x @ self.weight.T + ((x @ self.lora_a.T) @ self.lora_b.T) * self.scale


def resolve_lora_targets(model, targets):
    patterns = [re.compile(rf"(^|\.){t}\.weight$") for t in targets]
    keys = []
    for name, _ in tree_flatten(model.parameters()):
        if not name.endswith(".weight"):
            continue
        if any(p.search(name) for p in patterns):
            keys.append(name.rsplit(".weight", 1)[0])
    return sorted(set(keys))


def get_by_path(root, path):
    cur = root
    for part in path.split("."):
        cur = cur[int(part)] if part.isdigit() else getattr(cur, part)
    return cur


def apply_lora(model, targets):
    keys = resolve_lora_targets(model, targets)
    for key in keys:
        parent_path, attr = key.rsplit(".", 1)
        parent = get_by_path(model, parent_path)
        setattr(parent, attr, LoRALinear(getattr(parent, attr), RANK, ALPHA))
    log.info("injected LoRA adapters into %d modules", len(keys))
    model.freeze()
    for _, m in model.named_modules():
        if isinstance(m, LoRALinear):
            m.unfreeze(keys=["lora_a", "lora_b"])
    n_train = sum(v.size for _, v in tree_flatten(model.trainable_parameters()))
    n_all = sum(v.size for _, v in tree_flatten(model.parameters()))
    log.info("trainable params: %d / %d", n_train, n_all)
    return model


def make_batch(rng, bs):
    # deterministic "copy with offset" language: token t+1 = (token t * 5 + 3) % VOCAB
    start = rng.integers(0, VOCAB, size=(bs, 1))
    seq = [start]
    for _ in range(SEQ):
        seq.append((seq[-1] * 5 + 3) % VOCAB)
    arr = np.concatenate(seq, axis=1).astype(np.int32)
    return mx.array(arr[:, :-1]), mx.array(arr[:, 1:])


def loss_fn(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")


def main():
    mx.random.seed(0)
    rng = np.random.default_rng(0)
    model = TinyLM()
    mx.eval(model.parameters())
    model = apply_lora(model, TARGETS)

    opt = optim.Adam(learning_rate=5e-3)
    step_fn = nn.value_and_grad(model, loss_fn)
    xv, yv = make_batch(np.random.default_rng(123), 64)
    log.info("step    0  val_loss %.4f", loss_fn(model, xv, yv).item())
    t0 = time.time()
    for step in range(1, 301):
        x, y = make_batch(rng, 32)
        loss, grads = step_fn(model, x, y)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)
        if step % 50 == 0:
            val = loss_fn(model, xv, yv).item()
            log.info("step %4d  train_loss %.4f  val_loss %.4f  (%.1fs)", step, loss.item(), val, time.time() - t0)
    final = loss_fn(model, xv, yv).item()
    log.info("done: final val_loss %.4f", final)


if __name__ == "__main__":
    main()
