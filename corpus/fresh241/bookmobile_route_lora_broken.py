"""Bookmobile route model: LoRA fine-tune of a small released Llama-style LM.

The release checkpoint (stop-sequence language model over library branch ids)
was trained upstream with tied input/output embeddings and ships as a
safetensors file plus a config. We load it into our Llama module, attach LoRA
adapters to the attention projections and fine-tune on the new winter routes.
"""
import math
import os
import tempfile
import time
from dataclasses import dataclass

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten, tree_unflatten

VOCAB = 48
SEQ = 16


@dataclass
class ModelArgs:
    dim: int = 32
    n_layers: int = 2
    n_heads: int = 4
    hidden_dim: int = 64
    vocab_size: int = VOCAB
    norm_eps: float = 1e-5
    rope_theta: float = 10000.0
    tie_word_embeddings: bool = True


class Attention(nn.Module):
    def __init__(self, args):
        super().__init__()
        self.n_heads = args.n_heads
        self.head_dim = args.dim // args.n_heads
        self.scale = self.head_dim ** -0.5
        self.wq = nn.Linear(args.dim, args.dim, bias=False)
        self.wk = nn.Linear(args.dim, args.dim, bias=False)
        self.wv = nn.Linear(args.dim, args.dim, bias=False)
        self.wo = nn.Linear(args.dim, args.dim, bias=False)
        self.rope = nn.RoPE(self.head_dim, traditional=False, base=args.rope_theta)

    def __call__(self, x, mask):
        B, L, D = x.shape
        q = self.wq(x).reshape(B, L, self.n_heads, -1).transpose(0, 2, 1, 3)
        k = self.wk(x).reshape(B, L, self.n_heads, -1).transpose(0, 2, 1, 3)
        v = self.wv(x).reshape(B, L, self.n_heads, -1).transpose(0, 2, 1, 3)
        q, k = self.rope(q), self.rope(k)
        o = mx.fast.scaled_dot_product_attention(q, k, v, scale=self.scale, mask=mask)
        return self.wo(o.transpose(0, 2, 1, 3).reshape(B, L, D))


class FeedForward(nn.Module):
    def __init__(self, args):
        super().__init__()
        self.w1 = nn.Linear(args.dim, args.hidden_dim, bias=False)
        self.w2 = nn.Linear(args.hidden_dim, args.dim, bias=False)
        self.w3 = nn.Linear(args.dim, args.hidden_dim, bias=False)

    def __call__(self, x):
        return self.w2(nn.silu(self.w1(x)) * self.w3(x))


class TransformerBlock(nn.Module):
    def __init__(self, args):
        super().__init__()
        self.attention = Attention(args)
        self.feed_forward = FeedForward(args)
        self.attention_norm = nn.RMSNorm(args.dim, eps=args.norm_eps)
        self.ffn_norm = nn.RMSNorm(args.dim, eps=args.norm_eps)

    def forward(self, x, mask):
        h = x + self.attention(self.attention_norm(x), mask)
        return h + self.feed_forward(self.ffn_norm(h))


class Model(nn.Module):
    def __init__(self, args: ModelArgs):
        super().__init__()
        self.args = args
        self.tok_embeddings = nn.Embedding(args.vocab_size, args.dim)
        self.layers = [TransformerBlock(args=args) for _ in range(args.n_layers)]
        self.norm = nn.RMSNorm(args.dim, eps=args.norm_eps)
        self.output = nn.Linear(args.dim, args.vocab_size, bias=False)

    def __call__(self, inputs):
        h = self.tok_embeddings(inputs)
        mask = nn.MultiHeadAttention.create_additive_causal_mask(inputs.shape[1]).astype(h.dtype)
        for layer in self.layers:
            h = layer.forward(h, mask)

        return self.output(self.norm(h))


# ---------------------------------------------------------------- release side
class ReleaseLM(nn.Module):
    """What the upstream release was trained with (tied head)."""

    def __init__(self, args):
        super().__init__()
        self.tok_embeddings = nn.Embedding(args.vocab_size, args.dim)
        self.layers = [TransformerBlock(args=args) for _ in range(args.n_layers)]
        self.norm = nn.RMSNorm(args.dim, eps=args.norm_eps)

    def __call__(self, inputs):
        h = self.tok_embeddings(inputs)
        mask = nn.MultiHeadAttention.create_additive_causal_mask(inputs.shape[1]).astype(h.dtype)
        for layer in self.layers:
            h = layer.forward(h, mask)
        return self.tok_embeddings.as_linear(self.norm(h))


def route_batch(rng, n, step, start_pool):
    """Each row is a bookmobile route: branch ids following a constant stride."""
    starts = rng.choice(start_pool, size=n)
    seq = (starts[:, None] + step * np.arange(SEQ + 1)[None, :]) % VOCAB
    return mx.array(seq[:, :-1]), mx.array(seq[:, 1:])


def lm_loss(model, x, y):
    logits = model(x)
    return nn.losses.cross_entropy(logits, y, reduction="mean")


def accuracy(model, x, y):
    pred = mx.argmax(model(x), axis=-1)
    return mx.mean((pred[:, 2:] == y[:, 2:]).astype(mx.float32)).item()


def build_release(path, args):
    mx.random.seed(7)
    rng = np.random.default_rng(7)
    lm = ReleaseLM(args)
    opt = optim.AdamW(learning_rate=3e-3, weight_decay=0.0)
    step_fn = nn.value_and_grad(lm, lm_loss)
    for it in range(150):
        x, y = route_batch(rng, 32, 5, np.arange(VOCAB))
        loss, g = step_fn(lm, x, y)
        opt.update(lm, g)
        mx.eval(lm.parameters(), opt.state)
    mx.save_safetensors(path, dict(tree_flatten(lm.parameters())))
    print(f"[release] stride-5 routes trained, final loss {loss.item():.4f}")


# ---------------------------------------------------------------- loader
def verify_weights(model, weights):
    ok = True
    params = tree_flatten(model.parameters())
    for name, w in params:
        if name not in weights:
            ok = False
            print(f"WARNING: Key {name} not found in weights")
        elif w.shape != weights[name].shape:
            ok = False
            print(f"WARNING: Shape mismatch for key {name}")
    return ok


def load_model(path, args):
    weights = mx.load(path)
    model = Model(args)
    verify_weights(model, weights)
    model.update(tree_unflatten(list(weights.items())))
    mx.eval(model.parameters())
    return model


class LoRALinear(nn.Module):
    def __init__(self, base: nn.Linear, rank=8, alpha=16.0):
        super().__init__()
        out_dim, in_dim = base.weight.shape
        self.linear = base
        self.scale = alpha / rank
        bound = 1.0 / math.sqrt(in_dim)
        self.lora_a = mx.random.uniform(-bound, bound, (in_dim, rank))
        self.lora_b = mx.zeros((rank, out_dim))

    def __call__(self, x):
        return self.linear(x) + self.scale * ((x @ self.lora_a) @ self.lora_b)


def attach_lora(model, rank=8):
    model.freeze()
    for layer in model.layers:
        layer.attention.wq = LoRALinear(layer.attention.wq, rank)
        layer.attention.wv = LoRALinear(layer.attention.wv, rank)
    for layer in model.layers:
        layer.attention.wq.unfreeze(keys=["lora_a", "lora_b"], recurse=False)
        layer.attention.wv.unfreeze(keys=["lora_a", "lora_b"], recurse=False)


def main():
    t0 = time.time()
    args = ModelArgs()
    tmp = tempfile.mkdtemp()
    ckpt = os.path.join(tmp, "model.safetensors")
    build_release(ckpt, args)

    model = load_model(ckpt, args)
    n_total = sum(v.size for _, v in tree_flatten(model.parameters()))
    print(f"loaded release model: {n_total} parameters")

    rng = np.random.default_rng(11)
    vx, vy = route_batch(np.random.default_rng(99), 128, 5, np.arange(VOCAB))
    print(f"release eval on stride-5 routes: loss {lm_loss(model, vx, vy).item():.4f} "
          f"acc {accuracy(model, vx, vy):.3f}")

    mx.random.seed(3)
    attach_lora(model, rank=8)
    n_train = sum(v.size for _, v in tree_flatten(model.trainable_parameters()))
    print(f"LoRA trainable parameters: {n_train}")

    # winter schedule: routes start only at even branches and skip 7 at a time
    winter_pool = np.arange(0, VOCAB, 2)
    wx, wy = route_batch(np.random.default_rng(123), 128, 7, winter_pool)
    opt = optim.Adam(learning_rate=4e-3)
    step_fn = nn.value_and_grad(model, lm_loss)
    for it in range(1, 151):
        x, y = route_batch(rng, 32, 7, winter_pool)
        loss, g = step_fn(model, x, y)
        opt.update(model, g)
        mx.eval(model.trainable_parameters(), opt.state)
        if it % 25 == 0:
            vl = lm_loss(model, wx, wy).item()
            print(f"iter {it:4d}  train loss {loss.item():.4f}  val loss {vl:.4f}  "
                  f"val acc {accuracy(model, wx, wy):.3f}")

    print(f"final winter-route val acc {accuracy(model, wx, wy):.3f}")
    print(f"done in {time.time() - t0:.1f}s")


if __name__ == "__main__":
    main()
